/* libcurl: a long-lived easy handle accepts a server whose CA was added to
 * the trust file after the handle was created, without recreating it; and
 * with libcurl's default TLS session cache, a CA removed from the file is
 * refused on the very next request instead of being resumed past. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static SSL_CTX *g_server;
static int g_listen;
static atomic_int g_stop, g_reused;

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        struct pollfd p = {g_listen, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(g_listen, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        SSL *s = SSL_new(g_server);
        SSL_set_fd(s, fd);
        if (SSL_accept(s) == 1) {
            atomic_store(&g_reused, SSL_session_reused(s));
            char buf[2048];
            SSL_read(s, buf, sizeof(buf));
            static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
                                       "Connection: close\r\n\r\nfresh\n";
            SSL_write(s, resp, sizeof(resp) - 1);
            SSL_shutdown(s);
        }
        SSL_free(s);
        close(fd);
    }
    return NULL;
}

static CURLcode attach_roots(CURL *curl, void *ssl_ctx, void *userdata)
{
    (void)curl;
    ftls_attach_config cfg = {.roots = userdata};
    return ftls_ctx_attach(ssl_ctx, &cfg, NULL) == FTLS_OK ? CURLE_OK
                                                            : CURLE_SSL_CERTPROBLEM;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += sz * n;
    return sz * n;
}

/* The server of the test: a leaf of `ca` on 127.0.0.1; returns its URL. */
static pthread_t start_server(X509 *leaf, EVP_PKEY *kl, char *url, size_t n)
{
    g_server = SSL_CTX_new(TLS_server_method());
    REQUIRE(SSL_CTX_use_certificate(g_server, leaf) == 1 &&
            SSL_CTX_use_PrivateKey(g_server, kl) == 1);
    g_listen = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    REQUIRE(bind(g_listen, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            listen(g_listen, 8) == 0 &&
            getsockname(g_listen, (struct sockaddr *)&a, &alen) == 0);
    snprintf(url, n, "https://127.0.0.1:%d/", ntohs(a.sin_port));
    atomic_store(&g_stop, 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, serve, NULL) == 0);
    return th;
}

static void stop_server(pthread_t th)
{
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    close(g_listen);
    SSL_CTX_free(g_server);
}

/* An easy handle whose SSL_CTXs are attached to `trust` (libcurl makes
 * one per connection); its default TLS session cache stays on. */
static CURL *fresh_handle(const char *url, ftls_source *trust, size_t *got)
{
    CURL *curl = curl_easy_init();
    REQUIRE(curl != NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, attach_roots);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, trust);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, got);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    return curl;
}

static void test_long_lived_handle_sees_new_ca(void)
{
    char *dir = tu_tmpdir();
    REQUIRE(dir != NULL);
    EVP_PKEY *k1 = tu_key(), *k2 = tu_key(), *kl = tu_key();
    struct tu_cert_opts o1 = {.cn = "Old CA", .ca = 1}, o2 = {.cn = "New CA", .ca = 1};
    X509 *ca1 = tu_cert(&o1, k1, NULL, NULL), *ca2 = tu_cert(&o2, k2, NULL, NULL);
    struct tu_cert_opts ol = {.cn = "127.0.0.1", .ip = "127.0.0.1",
                              .eku = "serverAuth", .not_before_offset = -3600};
    X509 *leaf = tu_cert(&ol, kl, ca2, k2); /* signed by the new CA */
    REQUIRE(ca1 && ca2 && leaf);
    char bundle[4200], url[64];
    pthread_t th = start_server(leaf, kl, url, sizeof(url));
    snprintf(bundle, sizeof(bundle), "%s/ca-bundle.pem", dir);
    REQUIRE(tu_write_certs(bundle, "w", &ca1, 1));
    ftls_source *trust = NULL;
    REQUIRE(ftls_source_new_trust(bundle, NULL, &trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);

    REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
    size_t got = 0;
    CURL *curl = fresh_handle(url, trust, &got);
    /* The server's CA is not trusted yet. */
    CURLcode rc = curl_easy_perform(curl);
    CHECK_EQ_INT(rc, CURLE_PEER_FAILED_VERIFICATION);
    /* Add it to the bundle; the same handle now succeeds. */
    X509 *both[2] = {ca1, ca2};
    REQUIRE(tu_write_certs(bundle, "w", both, 2));
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    CHECK_EQ_INT(rc, CURLE_OK);
    CHECK_EQ_INT(got, 6);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ_INT(code, 200);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    stop_server(th);
    ftls_source_free(trust);
    X509_free(ca1);
    X509_free(ca2);
    X509_free(leaf);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(kl);
    tu_rmrf(dir);
    free(dir);
}

static void test_session_cache_respects_removed_ca(void)
{
    char *dir = tu_tmpdir();
    REQUIRE(dir != NULL);
    EVP_PKEY *k1 = tu_key(), *k2 = tu_key(), *kl = tu_key();
    struct tu_cert_opts o1 = {.cn = "Kept CA", .ca = 1}, o2 = {.cn = "Removed CA", .ca = 1};
    X509 *ca1 = tu_cert(&o1, k1, NULL, NULL), *ca2 = tu_cert(&o2, k2, NULL, NULL);
    struct tu_cert_opts ol = {.cn = "127.0.0.1", .ip = "127.0.0.1",
                              .eku = "serverAuth", .not_before_offset = -3600};
    X509 *leaf = tu_cert(&ol, kl, ca2, k2);
    REQUIRE(ca1 && ca2 && leaf);
    char url[64], bundle[4200];
    pthread_t th = start_server(leaf, kl, url, sizeof(url));
    snprintf(bundle, sizeof(bundle), "%s/ca-bundle.pem", dir);
    X509 *both[2] = {ca1, ca2};
    REQUIRE(tu_write_certs(bundle, "w", both, 2));
    ftls_source *trust = NULL;
    REQUIRE(ftls_source_new_trust(bundle, NULL, &trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
    size_t got = 0;
    CURL *curl = fresh_handle(url, trust, &got);
    /* Default session cache: the second connection resumes. */
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_OK);
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_OK);
    CHECK_EQ_INT(atomic_load(&g_reused), 1);
    /* The server's CA leaves the bundle: the very next request fails. */
    REQUIRE(tu_write_certs(bundle, "w", &ca1, 1));
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    stop_server(th);
    ftls_source_free(trust);
    X509_free(ca1), X509_free(ca2), X509_free(leaf);
    EVP_PKEY_free(k1), EVP_PKEY_free(k2), EVP_PKEY_free(kl);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    RUN(test_long_lived_handle_sees_new_ca);
    RUN(test_session_cache_respects_removed_ca);
    return TEST_SUMMARY();
}
