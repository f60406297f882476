/*
 * A long-lived libcurl handle whose trusted CAs follow a CA bundle file:
 * CURLOPT_SSL_CTX_FUNCTION attaches freshtls to each SSL_CTX curl makes,
 * so every new connection verifies against the newest bundle, without
 * recreating the handle and without ever disabling verification.
 *
 *   cc curl_fresh_roots.c $(pkg-config --cflags --libs freshtls libcurl)
 *   ./a.out ca-bundle.pem https://127.0.0.1:8443/
 *
 * It fetches the URL every two seconds; edit the bundle (or let a
 * Kubernetes secret rotate it) and the next request uses the new roots.
 * libcurl's TLS session cache stays on: a session is resumed only while
 * the roots that verified it are still the newest, so a CA removed from
 * the bundle is refused on the next request, resumed or not.
 */
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>
#include <freshtls/freshtls.h>

/* Called by libcurl for every new SSL_CTX (i.e. every new connection). */
static CURLcode attach_fresh_roots(CURL *curl, void *ssl_ctx, void *userdata)
{
    (void)curl;
    ftls_attach_config cfg = {.roots = userdata};
    return ftls_ctx_attach(ssl_ctx, &cfg, NULL) == FTLS_OK
               ? CURLE_OK
               : CURLE_SSL_CERTPROBLEM;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CA_BUNDLE URL\n", argv[0]);
        return 2;
    }
    ftls_error *err = NULL;
    ftls_source *trust = NULL;
    ftls_watcher *watcher = NULL;
    if (ftls_error_new(&err) != FTLS_OK ||
        ftls_source_new_trust(argv[1], NULL, &trust, err) != FTLS_OK ||
        ftls_source_reload(trust, err) != FTLS_OK ||
        ftls_watcher_new(NULL, &watcher, err) != FTLS_OK ||
        ftls_watcher_add(watcher, trust, err) != FTLS_OK ||
        ftls_watcher_start(watcher, err) != FTLS_OK) {
        fprintf(stderr, "freshtls: %s\n", ftls_error_message(err));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, argv[2]);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, attach_fresh_roots);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, trust);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L); /* demo: a TLS handshake
                                                          * (full or resumed)
                                                          * each time */
    for (;;) {
        CURLcode rc = curl_easy_perform(curl);
        printf("%s\n", rc == CURLE_OK ? "ok" : curl_easy_strerror(rc));
        fflush(stdout);
        sleep(2);
    }
}
