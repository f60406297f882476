/* The factory: newest context on every get1, rebuilt on publish, old ones
 * freed when the last holder goes, sessions resume across rotations. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static char *g_dir, g_id[4200], g_ca_file[4200];
static EVP_PKEY *kCA;
static X509 *CA;

static void write_identity(const char *cn)
{
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = cn,
                             .dns = "svc.example",
                             .eku = "serverAuth",
                             .not_before_offset = -3600};
    X509 *leaf = tu_cert(&o, k, CA, kCA);
    REQUIRE(leaf != NULL);
    size_t nc, nk;
    char *crt = tu_pem_certs(&leaf, 1, &nc), *key = tu_pem_key(k, &nk);
    REQUIRE(tu_k8s_write_pair(g_id, crt, nc, key, nk));
    free(crt);
    free(key);
    X509_free(leaf);
    EVP_PKEY_free(k);
}

static char *served_cn(SSL *c)
{
    static char cn[64];
    X509 *peer = SSL_get0_peer_certificate(c);
    cn[0] = '\0';
    if (peer)
        tu_cn(peer, cn, sizeof(cn));
    return cn;
}

struct env {
    ftls_source *id, *trust;
    ftls_ctx_factory *server, *client;
};

static void env_up(struct env *e, const ftls_ctx_template *st)
{
    REQUIRE(ftls_source_new_identity_dir(g_id, NULL, &e->id, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(e->id, NULL) == FTLS_OK);
    REQUIRE(ftls_source_new_trust(g_ca_file, NULL, &e->trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(e->trust, NULL) == FTLS_OK);
    ftls_ctx_template s = {.is_server = 1};
    ftls_ctx_template c = {.is_server = 0};
    REQUIRE(ftls_ctx_factory_new(st ? st : &s, &e->server, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_identity(e->server, e->id, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(e->server, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_new(&c, &e->client, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_roots(e->client, e->trust, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(e->client, NULL) == FTLS_OK);
}

static void env_down(struct env *e)
{
    ftls_ctx_factory_free(e->server);
    ftls_ctx_factory_free(e->client);
    ftls_source_free(e->id);
    ftls_source_free(e->trust);
}

/* One handshake with the newest contexts; returns the served CN. */
static int handshake(struct env *e, SSL_SESSION *resume, SSL_SESSION **out,
                     int *reused, char *cn, size_t cnlen)
{
    SSL_CTX *sc = ftls_ctx_factory_get1_ctx(e->server);
    SSL_CTX *cc = ftls_ctx_factory_get1_ctx(e->client);
    REQUIRE(sc && cc);
    SSL *s = SSL_new(sc), *c = tu_client_ssl(cc, "svc.example");
    SSL_CTX_free(sc); /* the SSLs keep their contexts alive */
    SSL_CTX_free(cc);
    if (resume)
        SSL_set_session(c, resume);
    int rc = tu_handshake(c, s);
    if (reused)
        *reused = SSL_session_reused(c);
    if (out)
        *out = SSL_get1_session(c);
    snprintf(cn, cnlen, "%s", served_cn(c));
    /* A clean close: OpenSSL marks sessions of connections freed without
     * close_notify as not resumable. */
    if (rc == 1)
        SSL_shutdown(c);
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void test_rotation_and_old_contexts_freed(void)
{
    write_identity("gen-1");
    struct env e = {0};
    env_up(&e, NULL);
    char cn[64];
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), 1);
    CHECK(strcmp(cn, "gen-1") == 0);
    ftls_ctx_stats st;
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(e.server, &st), FTLS_OK);
    CHECK_EQ_INT(st.built, 1);
    CHECK_EQ_INT(st.live, 1);

    /* A context held across a rotation stays usable; new SSLs get new. */
    SSL_CTX *held = ftls_ctx_factory_get1_ctx(e.server);
    SSL *pending = SSL_new(held);
    write_identity("gen-2");
    CHECK_EQ_INT(ftls_source_reload(e.id, NULL), FTLS_OK); /* rebuilds */
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(e.server, &st), FTLS_OK);
    CHECK_EQ_INT(st.built, 2);
    CHECK_EQ_INT(st.live, 2);
    SSL_CTX *newest = ftls_ctx_factory_get1_ctx(e.server);
    CHECK(newest != held);
    SSL_CTX_free(newest);
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), 1);
    CHECK(strcmp(cn, "gen-2") == 0);
    SSL_CTX_free(held);
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(e.server, &st), FTLS_OK);
    CHECK_EQ_INT(st.live, 2); /* the SSL still holds generation 1 */
    SSL_free(pending);
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(e.server, &st), FTLS_OK);
    CHECK_EQ_INT(st.live, 1); /* freed with its last SSL */
    env_down(&e);
}

static void test_sessions_resume_across_rotation(void)
{
    write_identity("gen-3");
    struct env e = {0};
    env_up(&e, NULL);
    char cn[64];
    SSL_SESSION *sess = NULL;
    int reused = -1;
    CHECK_EQ_INT(handshake(&e, NULL, &sess, &reused, cn, sizeof(cn)), 1);
    CHECK(sess != NULL && SSL_SESSION_is_resumable(sess));
    write_identity("gen-4");
    CHECK_EQ_INT(ftls_source_reload(e.id, NULL), FTLS_OK);
    SSL_SESSION *again = NULL;
    CHECK_EQ_INT(handshake(&e, sess, &again, &reused, cn, sizeof(cn)), 1);
    CHECK_EQ_INT(reused, 1); /* ticket from generation 1 accepted by 2 */
    SSL_SESSION_free(sess);
    SSL_SESSION_free(again);
    env_down(&e);
}

static int refuse_next;
static int setup_cb(SSL_CTX *ctx, void *arg)
{
    (void)ctx;
    (*(int *)arg)++;
    return !refuse_next;
}

static void test_template_alpn_and_setup(void)
{
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    int calls = 0;
    ftls_ctx_template st = {.is_server = 1,
                            .alpn = alpn,
                            .alpn_len = sizeof(alpn) - 1,
                            .min_version = TLS1_3_VERSION,
                            .setup = setup_cb,
                            .setup_arg = &calls};
    write_identity("gen-5");
    struct env e = {0};
    env_up(&e, &st);
    CHECK_EQ_INT(calls, 1);
    SSL_CTX *sc = ftls_ctx_factory_get1_ctx(e.server);
    SSL_CTX *cc = ftls_ctx_factory_get1_ctx(e.client);
    SSL *s = SSL_new(sc), *c = tu_client_ssl(cc, "svc.example");
    SSL_set_alpn_protos(c, (const unsigned char *)"\x08http/1.1", 9);
    CHECK_EQ_INT(tu_handshake(c, s), 1);
    const unsigned char *sel = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(c, &sel, &len);
    CHECK(len == 8 && memcmp(sel, "http/1.1", 8) == 0);
    CHECK_EQ_INT(SSL_version(c), TLS1_3_VERSION);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    /* A refused build keeps the previous context. */
    refuse_next = 1;
    write_identity("gen-6");
    CHECK_EQ_INT(ftls_source_reload(e.id, NULL), FTLS_OK); /* identity ok */
    ftls_ctx_stats stats;
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(e.server, &stats), FTLS_OK);
    CHECK_EQ_INT(stats.failures, 1);
    CHECK_EQ_INT(stats.built, 1);
    char cn[64];
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), 1);
    CHECK(strcmp(cn, "gen-5") == 0);
    refuse_next = 0;
    CHECK_EQ_INT(ftls_ctx_factory_build(e.server, NULL), FTLS_OK);
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), 1);
    CHECK(strcmp(cn, "gen-6") == 0);
    env_down(&e);
}

static void test_client_rejects_unknown_ca(void)
{
    write_identity("gen-7");
    struct env e = {0};
    env_up(&e, NULL);
    /* Trust a different CA: the client must fail verification. */
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = "Other CA", .ca = 1};
    X509 *other = tu_cert(&o, k, NULL, NULL);
    REQUIRE(tu_write_certs(g_ca_file, "w", &other, 1));
    CHECK_EQ_INT(ftls_source_reload(e.trust, NULL), FTLS_OK);
    char cn[64];
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), -1);
    REQUIRE(tu_write_certs(g_ca_file, "w", &CA, 1));
    CHECK_EQ_INT(ftls_source_reload(e.trust, NULL), FTLS_OK);
    CHECK_EQ_INT(handshake(&e, NULL, NULL, NULL, cn, sizeof(cn)), 1);
    X509_free(other);
    EVP_PKEY_free(k);
    env_down(&e);
}

static void test_misuse(void)
{
    ftls_ctx_factory *f = (ftls_ctx_factory *)0x1;
    CHECK_EQ_INT(ftls_ctx_factory_new(NULL, &f, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(f == NULL);
    CHECK_EQ_INT(ftls_ctx_factory_new(NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    ftls_ctx_template st = {.is_server = 1};
    REQUIRE(ftls_ctx_factory_new(&st, &f, NULL) == FTLS_OK);
    CHECK(ftls_ctx_factory_get1_ctx(f) == NULL); /* nothing built yet */
    CHECK_EQ_INT(ftls_ctx_factory_build(f, NULL), FTLS_E_STATE);
    CHECK_EQ_INT(ftls_ctx_factory_set_identity(f, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ctx_factory_set_roots(NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(
        ftls_ctx_factory_set_system_roots(f, (ftls_roots_origin)9, NULL),
        FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ctx_factory_get_stats(NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK(ftls_ctx_factory_get1_ctx(NULL) == NULL);
    CHECK_EQ_INT(ftls_ctx_factory_build(NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_ctx_factory_free(f);
    ftls_ctx_factory_free(NULL);
    CHECK_EQ_INT(ftls_ctx_attach(NULL, NULL, NULL), FTLS_E_INVALID_ARGUMENT);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    snprintf(g_id, sizeof(g_id), "%s/id", g_dir);
    snprintf(g_ca_file, sizeof(g_ca_file), "%s/ca.pem", g_dir);
    REQUIRE(mkdir(g_id, 0755) == 0);
    kCA = tu_key();
    struct tu_cert_opts o = {
        .cn = "Factory CA", .ca = 1, .lifetime = 86400L * 30};
    REQUIRE((CA = tu_cert(&o, kCA, NULL, NULL)) != NULL);
    REQUIRE(tu_write_certs(g_ca_file, "w", &CA, 1));
    RUN(test_rotation_and_old_contexts_freed);
    RUN(test_sessions_resume_across_rotation);
    RUN(test_template_alpn_and_setup);
    RUN(test_client_rejects_unknown_ca);
    RUN(test_misuse);
    CHECK_EQ_INT(ftls_ctx_live_count(), 0);
    X509_free(CA);
    EVP_PKEY_free(kCA);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
