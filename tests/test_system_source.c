/*
 * System roots as a trust source: a factory using the system roots and an
 * attached context using a system-roots source both follow
 * ftls_roots_refresh() on their next handshake, with no manual rebuild.
 * The "OS store" is a bundle named by SSL_CERT_FILE (which freshtls
 * honours, as OpenSSL does).
 */
#include <stdlib.h>
#include <sys/stat.h>

#include <openssl/ssl.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static char *g_dir;
static char g_bundle[600];
static EVP_PKEY *kA, *kB, *kL;
static X509 *A, *B, *g_leaf;

static SSL_CTX *server(void)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    REQUIRE(s && SSL_CTX_use_certificate(s, g_leaf) == 1 &&
            SSL_CTX_use_PrivateKey(s, kL) == 1);
    return s;
}

static int handshake(SSL_CTX *client, SSL_CTX *srv)
{
    SSL *c = tu_client_ssl(client, "sys.example"), *s = SSL_new(srv);
    int rc = tu_handshake(c, s);
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void os_store(X509 *root)
{
    REQUIRE(tu_write_certs(g_bundle, "w", &root, 1));
    REQUIRE(ftls_roots_refresh(NULL) == FTLS_OK);
}

static void test_factory_follows_refresh(void)
{
    os_store(A);
    ftls_ctx_template t = {.is_server = 0};
    ftls_ctx_factory *f = NULL;
    REQUIRE(ftls_ctx_factory_new(&t, &f, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_system_roots(f, FTLS_ROOTS_SYSTEM, NULL) ==
            FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(f, NULL) == FTLS_OK);
    SSL_CTX *srv = server();
    SSL_CTX *c = ftls_ctx_factory_get1_ctx(f);
    CHECK_EQ_INT(handshake(c, srv), 1);
    SSL_CTX_free(c);
    os_store(B); /* A leaves the OS store; no rebuild by hand */
    c = ftls_ctx_factory_get1_ctx(f);
    CHECK_EQ_INT(handshake(c, srv), -1);
    SSL_CTX_free(c);
    os_store(A);
    c = ftls_ctx_factory_get1_ctx(f);
    CHECK_EQ_INT(handshake(c, srv), 1);
    SSL_CTX_free(c);
    SSL_CTX_free(srv);
    ftls_ctx_factory_free(f);
}

static void test_attach_follows_refresh(void)
{
    os_store(A);
    ftls_source *sys = NULL;
    REQUIRE(ftls_source_new_system_roots(FTLS_ROOTS_SYSTEM, &sys, NULL) ==
            FTLS_OK);
    REQUIRE(ftls_source_reload(sys, NULL) == FTLS_OK);
    uint64_t gen = ftls_source_generation(sys);
    SSL_CTX *app = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(app, SSL_VERIFY_PEER, NULL);
    ftls_attach_config cfg = {.roots = sys};
    REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
    SSL_CTX *srv = server();
    CHECK_EQ_INT(handshake(app, srv), 1);
    os_store(B);
    CHECK(ftls_source_generation(sys) > gen); /* published by the refresh */
    CHECK_EQ_INT(handshake(app, srv), -1);
    /* An unchanged refresh publishes nothing. */
    gen = ftls_source_generation(sys);
    REQUIRE(ftls_roots_refresh(NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_source_generation(sys), gen);
    ftls_watcher *w = NULL;
    REQUIRE(ftls_watcher_new(NULL, &w, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_watcher_add(w, sys, NULL), FTLS_E_UNSUPPORTED);
    ftls_watcher_free(w);
    SSL_CTX_free(srv);
    SSL_CTX_free(app); /* the attachment goes before its source */
    ftls_source_free(sys);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    char empty[700];
    snprintf(g_bundle, sizeof(g_bundle), "%s/os-bundle.pem", g_dir);
    snprintf(empty, sizeof(empty), "%s/empty-dir", g_dir);
    REQUIRE(mkdir(empty, 0755) == 0);
    setenv("SSL_CERT_FILE", g_bundle, 1);
    setenv("SSL_CERT_DIR", empty, 1);
    kA = tu_key(), kB = tu_key(), kL = tu_key();
    struct tu_cert_opts ra = {
        .cn = "OS Root A", .ca = 1, .not_before_offset = -86400};
    struct tu_cert_opts rb = {
        .cn = "OS Root B", .ca = 1, .not_before_offset = -86400};
    REQUIRE((A = tu_cert(&ra, kA, NULL, NULL)) &&
            (B = tu_cert(&rb, kB, NULL, NULL)));
    g_leaf = tu_leaf("sys.example", "sys.example", NULL, "serverAuth", -3600,
                     86400, kL, A, kA);
    REQUIRE(g_leaf != NULL);
    RUN(test_factory_follows_refresh);
    RUN(test_attach_follows_refresh);
    X509_free(A), X509_free(B), X509_free(g_leaf);
    EVP_PKEY_free(kA), EVP_PKEY_free(kB), EVP_PKEY_free(kL);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
