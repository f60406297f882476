/*
 * Factory contexts bind sessions to the trust that verified them: a server
 * factory's tickets (keys shared across generations) do not resume a client
 * certificate once its CA left the client CAs, and a client factory does
 * not resume a session once the server's CA left the roots. An identity
 * rotation with unchanged trust still resumes.
 */
#include <openssl/ssl.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static char *g_dir;
static EVP_PKEY *kA, *kB, *kS, *kC;
static X509 *A, *B, *srv, *srv2, *cli;

static ftls_source *trust_file(const char *name, X509 *root, char *path,
                               size_t n)
{
    snprintf(path, n, "%s/%s", g_dir, name);
    REQUIRE(tu_write_certs(path, "w", &root, 1));
    ftls_source *t = NULL;
    REQUIRE(ftls_source_new_trust(path, NULL, &t, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(t, NULL) == FTLS_OK);
    return t;
}

static ftls_source *identity(X509 *leaf, EVP_PKEY *k, int purpose)
{
    size_t nc = 0, nk = 0;
    char *c = tu_pem_certs(&leaf, 1, &nc), *kp = tu_pem_key(k, &nk);
    ftls_identity_options o = {.purpose = purpose};
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_memory(&o, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, c, nc, kp, nk, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    free(c), free(kp);
    return s;
}

static void set_identity(ftls_source *s, X509 *leaf, EVP_PKEY *k)
{
    size_t nc = 0, nk = 0;
    char *c = tu_pem_certs(&leaf, 1, &nc), *kp = tu_pem_key(k, &nk);
    REQUIRE(ftls_source_set_memory(s, c, nc, kp, nk, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    free(c), free(kp);
}

/* One handshake between the factories' newest contexts, offering *sess. */
static int hs(ftls_ctx_factory *sf, ftls_ctx_factory *cf, SSL_SESSION **sess,
              int *reused)
{
    SSL_CTX *sc = ftls_ctx_factory_get1_ctx(sf),
            *cc = ftls_ctx_factory_get1_ctx(cf);
    REQUIRE(sc && cc);
    SSL *s = SSL_new(sc), *c = tu_client_ssl(cc, "fs.example");
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    if (*sess != NULL)
        REQUIRE(SSL_set_session(c, *sess));
    int rc = tu_handshake(c, s);
    *reused = rc == 1 && SSL_session_reused(c);
    if (rc == 1) {
        SSL_SESSION_free(*sess);
        *sess = SSL_get1_session(c);
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void run(int remove_on_server, int max_version)
{
    char cas_path[600], roots_path[600];
    ftls_source *cas = trust_file("cas.pem", A, cas_path, sizeof(cas_path));
    ftls_source *roots =
        trust_file("roots.pem", A, roots_path, sizeof(roots_path));
    ftls_source *sid = identity(srv, kS, FTLS_IDENTITY_SERVER);
    ftls_source *cid = identity(cli, kC, FTLS_IDENTITY_CLIENT);
    ftls_ctx_template st = {.is_server = 1, .max_version = max_version};
    ftls_ctx_template ct = {.is_server = 0, .max_version = max_version};
    ftls_ctx_factory *sf = NULL, *cf = NULL;
    REQUIRE(ftls_ctx_factory_new(&st, &sf, NULL) == FTLS_OK &&
            ftls_ctx_factory_set_identity(sf, sid, NULL) == FTLS_OK &&
            ftls_ctx_factory_set_client_cas(sf, cas, NULL) == FTLS_OK &&
            ftls_ctx_factory_build(sf, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_new(&ct, &cf, NULL) == FTLS_OK &&
            ftls_ctx_factory_set_identity(cf, cid, NULL) == FTLS_OK &&
            ftls_ctx_factory_set_roots(cf, roots, NULL) == FTLS_OK &&
            ftls_ctx_factory_build(cf, NULL) == FTLS_OK);
    SSL_SESSION *sess = NULL;
    int reused = 0;
    CHECK_EQ_INT(hs(sf, cf, &sess, &reused), 1);
    CHECK_EQ_INT(hs(sf, cf, &sess, &reused), 1);
    CHECK_EQ_INT(reused, 1);
    set_identity(sid, srv2, kS); /* rotation, trust unchanged: still resumes */
    CHECK_EQ_INT(hs(sf, cf, &sess, &reused), 1);
    CHECK_EQ_INT(reused, 1);
    const char *path = remove_on_server ? cas_path : roots_path;
    REQUIRE(tu_write_certs(path, "w", &B, 1)); /* A is no longer trusted */
    REQUIRE(ftls_source_reload(remove_on_server ? cas : roots, NULL) ==
            FTLS_OK);
    CHECK_EQ_INT(hs(sf, cf, &sess, &reused), remove_on_server ? -2 : -1);
    CHECK_EQ_INT(reused, 0);
    SSL_SESSION_free(sess);
    ftls_ctx_factory_free(sf);
    ftls_ctx_factory_free(cf);
    ftls_source *all[] = {cas, roots, sid, cid};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(all); i++)
        ftls_source_free(all[i]);
}

static void test_server_factory_tickets_follow_client_cas(void)
{
    run(1, TLS1_3_VERSION);
    run(1, TLS1_2_VERSION);
}

static void test_client_factory_sessions_follow_roots(void)
{
    run(0, TLS1_3_VERSION);
    run(0, TLS1_2_VERSION);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    kA = tu_key(), kB = tu_key(), kS = tu_key(), kC = tu_key();
    struct tu_cert_opts ra = {
        .cn = "FS Root A", .ca = 1, .not_before_offset = -86400};
    struct tu_cert_opts rb = {
        .cn = "FS Root B", .ca = 1, .not_before_offset = -86400};
    REQUIRE((A = tu_cert(&ra, kA, NULL, NULL)) &&
            (B = tu_cert(&rb, kB, NULL, NULL)));
    srv = tu_leaf("fs.example", "fs.example", NULL, "serverAuth", -3600, 86400,
                  kS, A, kA);
    srv2 = tu_leaf("fs.example", "fs.example", NULL, "serverAuth", -3000, 86400,
                   kS, A, kA);
    cli = tu_leaf("client", "client.example", NULL, "clientAuth", -3600, 86400,
                  kC, A, kA);
    REQUIRE(srv && srv2 && cli);
    RUN(test_server_factory_tickets_follow_client_cas);
    RUN(test_client_factory_sessions_follow_roots);
    X509 *xs[] = {A, B, srv, srv2, cli};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(xs); i++)
        X509_free(xs[i]);
    EVP_PKEY *ks[] = {kA, kB, kS, kC};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(ks); i++)
        EVP_PKEY_free(ks[i]);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
