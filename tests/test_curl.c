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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/opensslv.h>

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
            static const char resp[] =
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
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
    return ftls_ctx_attach(ssl_ctx, &cfg, NULL) == FTLS_OK
               ? CURLE_OK
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
    if (getenv("FTLS_TEST_VERBOSE")) /* libcurl tells what it resumes */
        curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    return curl;
}

/* Two CAs, a server whose leaf the second one signed, a bundle file
 * holding the first n CAs (1: ca1, 2: ca1+ca2), a trust source over it. */
struct fixture {
    char *dir;
    char bundle[4200], url[64];
    EVP_PKEY *k1, *k2, *kl;
    X509 *ca1, *ca2, *leaf;
    pthread_t th;
    ftls_source *trust;
};

static void set_bundle(struct fixture *f, int n)
{
    X509 *cas[2] = {f->ca1, f->ca2};
    REQUIRE(tu_write_certs(f->bundle, "w", cas, n));
    REQUIRE(ftls_source_reload(f->trust, NULL) == FTLS_OK);
}

static void fixture_up(struct fixture *f, int n)
{
    REQUIRE((f->dir = tu_tmpdir()) != NULL);
    f->k1 = tu_key(), f->k2 = tu_key(), f->kl = tu_key();
    struct tu_cert_opts o1 = {.cn = "First CA", .ca = 1};
    struct tu_cert_opts o2 = {.cn = "Server's CA", .ca = 1};
    f->ca1 = tu_cert(&o1, f->k1, NULL, NULL);
    f->ca2 = tu_cert(&o2, f->k2, NULL, NULL);
    struct tu_cert_opts ol = {.cn = "127.0.0.1",
                              .ip = "127.0.0.1",
                              .eku = "serverAuth",
                              .not_before_offset = -3600};
    f->leaf = tu_cert(&ol, f->kl, f->ca2, f->k2);
    REQUIRE(f->ca1 && f->ca2 && f->leaf);
    f->th = start_server(f->leaf, f->kl, f->url, sizeof(f->url));
    snprintf(f->bundle, sizeof(f->bundle), "%s/ca-bundle.pem", f->dir);
    REQUIRE(ftls_source_new_trust(f->bundle, NULL, &f->trust, NULL) == FTLS_OK);
    set_bundle(f, n); /* the first read happens here */
    REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

static void fixture_down(struct fixture *f)
{
    curl_global_cleanup();
    stop_server(f->th);
    ftls_source_free(f->trust);
    X509_free(f->ca1), X509_free(f->ca2), X509_free(f->leaf);
    EVP_PKEY_free(f->k1), EVP_PKEY_free(f->k2), EVP_PKEY_free(f->kl);
    tu_rmrf(f->dir);
    free(f->dir);
}

static void test_long_lived_handle_sees_new_ca(void)
{
    struct fixture f;
    fixture_up(&f, 1); /* the server's CA is not trusted yet */
    size_t got = 0;
    CURL *curl = fresh_handle(f.url, f.trust, &got);
    CURLcode rc = curl_easy_perform(curl);
    CHECK_EQ_INT(rc, CURLE_PEER_FAILED_VERIFICATION);
    /* Add it to the bundle; the same handle now succeeds. */
    set_bundle(&f, 2);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    CHECK_EQ_INT(rc, CURLE_OK);
    CHECK_EQ_INT(got, 6);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ_INT(code, 200);
    curl_easy_cleanup(curl);
    fixture_down(&f);
}

static void test_session_cache_respects_removed_ca(void)
{
    struct fixture f;
    fixture_up(&f, 2);
    size_t got = 0;
    CURL *curl = fresh_handle(f.url, f.trust, &got);
    /* Default session cache: the second connection resumes. */
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_OK);
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_OK);
    CHECK_EQ_INT(atomic_load(&g_reused), 1);
    /* The server's CA leaves the bundle: the very next request fails. */
    set_bundle(&f, 1);
    CHECK_EQ_INT(curl_easy_perform(curl), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(curl);
    fixture_down(&f);
}

/* The OpenSSL major libcurl itself uses; -1 for another TLS backend. An
 * SSL_CTX from one libssl handed to another crashes, so the test only runs
 * when libcurl and freshtls use the same OpenSSL major. */
static int curl_openssl_major(const char **name)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    *name = v && v->ssl_version ? v->ssl_version : "no TLS backend";
    return strncmp(*name, "OpenSSL/", 8) == 0 ? atoi(*name + 8) : -1;
}

int main(void)
{
    const char *backend;
    if (curl_openssl_major(&backend) != OPENSSL_VERSION_MAJOR) {
        printf("SKIP test_curl: libcurl uses %s, freshtls OpenSSL %d; an "
               "SSL_CTX cannot cross between them\n",
               backend, OPENSSL_VERSION_MAJOR);
        return 77;
    }
    RUN(test_long_lived_handle_sees_new_ca);
    RUN(test_session_cache_respects_removed_ca);
    return TEST_SUMMARY();
}
