/* Attach mode keeps OpenSSL's verification semantics: for a corpus of
 * chains the verdict, SSL_get_verify_result() and verified chain length
 * equal those of a plain SSL_CTX with the same store. Also: SNI identity
 * selection, failing closed, and the application's own info callback. */
#include <stdlib.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "roots/roots_internal.h"
#include "test.h"
#include "testutil.h"
#include "tu_corpus.h"

static char *g_dir, g_bundle[4200];
static struct tu_pki P;
static ftls_source *g_trust;
static ftls_roots *g_distrust_roots; /* A with a distrust-after date */

static int accept_expired(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_HAS_EXPIRED)
        return 1;
    return ok;
}

static SSL_CTX *server_ctx(const struct tu_case *c)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    STACK_OF(X509) *chain = sk_X509_new_null();
    for (int i = 0; i < c->nchain; i++)
        sk_X509_push(chain, c->chain[i]);
    REQUIRE(SSL_CTX_use_cert_and_key(s, c->leaf, P.kL, chain, 1) == 1);
    sk_X509_free(chain);
    return s;
}

static SSL_CTX *client_ctx(const struct tu_case *c)
{
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER,
                       c->override_expired ? accept_expired : NULL);
    if (c->dane_ee)
        REQUIRE(SSL_CTX_dane_enable(cc) > 0);
    return cc;
}

struct outcome {
    int handshake;
    long verify;
    int chain_len;
};

static struct outcome run(SSL_CTX *cc, const struct tu_case *c)
{
    SSL_CTX *sc = server_ctx(c);
    SSL *s = SSL_new(sc), *cl = SSL_new(cc);
    SSL_set_tlsext_host_name(cl, "good.example.com");
    if (c->host)
        tu_set_host(cl, c->host);
    if (c->ip)
        REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cl), c->ip));
    if (c->depth)
        SSL_set_verify_depth(cl, c->depth);
    if (c->purpose)
        REQUIRE(SSL_set_purpose(cl, c->purpose) == 1);
    if (c->flags)
        X509_VERIFY_PARAM_set_flags(SSL_get0_param(cl), c->flags);
    if (c->dane_ee) {
        unsigned char *spki = NULL, md[32];
        unsigned mdlen = 0;
        int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->leaf), &spki);
        REQUIRE(n > 0 &&
                EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL));
        REQUIRE(SSL_dane_enable(cl, "good.example.com") > 0);
        REQUIRE(SSL_dane_tlsa_add(cl, 3, 1, 1, md, mdlen) > 0);
        OPENSSL_free(spki);
    }
    struct outcome o;
    o.handshake = tu_handshake(cl, s);
    o.verify = SSL_get_verify_result(cl);
    STACK_OF(X509) *vc = SSL_get0_verified_chain(cl);
    o.chain_len = vc ? sk_X509_num(vc) : 0;
    SSL_free(cl);
    SSL_free(s);
    SSL_CTX_free(sc);
    return o;
}

static X509 *leaf(const char *cn, const char *dns, const char *ip,
                  const char *eku, long nb, long life, X509 *iss, EVP_PKEY *ik)
{
    X509 *x = tu_leaf(cn, dns, ip, eku, nb, life, P.kL, iss, ik);
    REQUIRE(x != NULL);
    return x;
}

static void test_equivalence(void)
{
    struct tu_corpus corpus;
    tu_corpus_init(&P, &corpus);
    int ok_count = 0, fail_count = 0;
    for (size_t i = 0; i < corpus.n; i++) {
        const struct tu_case *c = &corpus.cases[i];
        /* Plain: the same (freshtls) store set directly on the SSL_CTX. */
        SSL_CTX *plain = client_ctx(c);
        X509_STORE *store = NULL;
        ftls_roots *r = NULL;
        if (c->distrust) {
            r = g_distrust_roots;
            REQUIRE(ftls_roots_up_ref(r) == FTLS_OK);
        } else {
            REQUIRE(ftls_source_get1_roots(g_trust, &r, NULL) == FTLS_OK);
        }
        REQUIRE(ftls_roots_new_store(r, &store, NULL) == FTLS_OK);
        SSL_CTX_set1_cert_store(plain, store);
        X509_STORE_free(store);
        /* Attached: an application context with no roots of its own. */
        SSL_CTX *app = client_ctx(c);
        ftls_attach_config cfg = {0};
        if (c->distrust)
            cfg.fixed_roots = g_distrust_roots;
        else
            cfg.roots = g_trust;
        REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
        struct outcome p = run(plain, c), a = run(app, c);
        if (p.handshake != a.handshake || p.verify != a.verify ||
            p.chain_len != a.chain_len)
            fprintf(stderr, "'%s': plain %d/%s/%d attached %d/%s/%d\n", c->name,
                    p.handshake, X509_verify_cert_error_string(p.verify),
                    p.chain_len, a.handshake,
                    X509_verify_cert_error_string(a.verify), a.chain_len);
        CHECK_EQ_INT(p.handshake, a.handshake);
        CHECK_EQ_INT(p.verify, a.verify);
        CHECK_EQ_INT(p.chain_len, a.chain_len);
        if (c->distrust) /* the rule fired, whatever the app's callback */
            CHECK(a.handshake != 1 && a.verify == X509_V_ERR_CERT_REJECTED);
        if (p.handshake == 1)
            ok_count++;
        else
            fail_count++;
        /* And against an eagerly loaded OpenSSL store where it applies. */
        if (!c->distrust) {
            SSL_CTX *eager = client_ctx(c);
            REQUIRE(SSL_CTX_load_verify_file(eager, g_bundle) == 1);
            struct outcome e = run(eager, c);
            CHECK_EQ_INT(e.handshake, a.handshake);
            CHECK_EQ_INT(e.verify, a.verify);
            SSL_CTX_free(eager);
        }
        ftls_roots_free(r);
        SSL_CTX_free(plain);
        SSL_CTX_free(app);
    }
    printf("# corpus: %d handshakes refused, %d completed\n", fail_count,
           ok_count);
    /* The corpus exercises both verdicts (so equality is not vacuous). */
    CHECK(ok_count >= 6 && fail_count >= 10);
    tu_corpus_cleanup(&corpus);
}

static void test_distrust_rejects_through_attach(void)
{
    X509 *late = leaf("late", "good.example.com", NULL, "serverAuth", -86400,
                      86400 * 30, P.I, P.kI);
    struct tu_case c = {.name = "late",
                        .leaf = late,
                        .chain = {P.I},
                        .nchain = 1,
                        .distrust = 1};
    SSL_CTX *app = client_ctx(&c);
    ftls_attach_config cfg = {.fixed_roots = g_distrust_roots};
    REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
    struct outcome o = run(app, &c);
    CHECK_EQ_INT(o.handshake, -1);
    CHECK_EQ_INT(o.verify, X509_V_ERR_CERT_REJECTED);
    CHECK_EQ_INT(ftls_ctx_attach(app, &cfg, NULL), FTLS_E_STATE);
    SSL_CTX_free(app);
    X509_free(late);
}

/* ---- identities by SNI, failing closed, info callback chaining ---------- */

static ftls_source *mem_identity(const char *cn)
{
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = cn, .dns = cn, .not_before_offset = -3600};
    X509 *x = tu_cert(&o, k, P.I, P.kI);
    X509 *chain[2] = {x, P.I};
    size_t nc, nk;
    char *crt = tu_pem_certs(chain, 2, &nc), *key = tu_pem_key(k, &nk);
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_memory(NULL, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, crt, nc, key, nk, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    free(crt);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
    return s;
}

static int g_info_calls;
static void app_info_cb(const SSL *s, int where, int ret)
{
    (void)s, (void)ret;
    if (where & SSL_CB_HANDSHAKE_START)
        g_info_calls++;
}

static const char *handshake_cn(SSL_CTX *server, const char *sni, int *rc)
{
    static char cn[64];
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    ftls_attach_config cfg = {.roots = g_trust};
    REQUIRE(ftls_ctx_attach(cc, &cfg, NULL) == FTLS_OK);
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL *c = SSL_new(cc), *s = SSL_new(server);
    if (sni)
        SSL_set_tlsext_host_name(c, sni);
    *rc = tu_handshake(c, s);
    cn[0] = '\0';
    X509 *peer = SSL_get0_peer_certificate(c);
    if (peer)
        tu_cn(peer, cn, sizeof(cn));
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cc);
    return cn;
}

static void test_sni_selection_and_fail_closed(void)
{
    ftls_source *api = mem_identity("api.example.com");
    ftls_source *wild = mem_identity("wild.example.org");
    ftls_source *def = mem_identity("default.example");
    SSL_CTX *server = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_info_callback(server, app_info_cb);
    ftls_attach_identity ids[] = {
        {"api.example.com", api}, {"*.example.org", wild}, {NULL, def}};
    ftls_attach_config cfg = {.identities = ids, .n_identities = 3};
    REQUIRE(ftls_ctx_attach(server, &cfg, NULL) == FTLS_OK);
    int rc;
    CHECK(strcmp(handshake_cn(server, "api.example.com", &rc),
                 "api.example.com") == 0);
    CHECK_EQ_INT(rc, 1);
    CHECK(strcmp(handshake_cn(server, "x.example.org", &rc),
                 "wild.example.org") == 0);
    CHECK(strcmp(handshake_cn(server, "a.b.example.org", &rc),
                 "default.example") == 0);
    CHECK(strcmp(handshake_cn(server, NULL, &rc), "default.example") == 0);
    CHECK_EQ_INT(g_info_calls, 4); /* the application's callback still runs */
    SSL_CTX_free(server);

    /* No default and no match: the handshake fails, never a fallback. */
    SSL_CTX *strict = SSL_CTX_new(TLS_server_method());
    ftls_attach_config only_api = {.identities = ids, .n_identities = 1};
    REQUIRE(ftls_ctx_attach(strict, &only_api, NULL) == FTLS_OK);
    handshake_cn(strict, "unknown.example", &rc);
    CHECK(rc != 1);
    SSL_CTX_free(strict);

    /* A trust source with nothing published: verification fails closed,
     * and the application's own info callback is still called. */
    ftls_source *empty = NULL;
    REQUIRE(ftls_source_new_trust("/nonexistent/ca.pem", NULL, &empty, NULL) ==
            FTLS_OK);
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_info_callback(cc, app_info_cb);
    REQUIRE(SSL_CTX_load_verify_file(cc, g_bundle) == 1); /* app's own roots */
    ftls_attach_config ec = {.roots = empty};
    REQUIRE(ftls_ctx_attach(cc, &ec, NULL) == FTLS_OK);
    SSL_CTX *srv = SSL_CTX_new(TLS_server_method());
    ftls_attach_config sd = {.identities = &ids[2], .n_identities = 1};
    REQUIRE(ftls_ctx_attach(srv, &sd, NULL) == FTLS_OK);
    SSL *c = SSL_new(cc), *s = SSL_new(srv);
    g_info_calls = 0;
    CHECK_EQ_INT(tu_handshake(c, s), -1);
    CHECK_EQ_INT(SSL_get_verify_result(c),
                 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK_EQ_INT(g_info_calls, 1);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cc);
    SSL_CTX_free(srv);
    ftls_source_free(empty);
    ftls_source_free(api);
    ftls_source_free(wild);
    ftls_source_free(def);
}

static int g_app_cert_calls, g_app_cert_verdict;
static int app_cert_cb(SSL *ssl, void *arg)
{
    g_app_cert_calls++;
    /* It runs after freshtls chose: the newest identity is already set. */
    char cn[64] = "";
    tu_cn(SSL_get_certificate(ssl), cn, sizeof(cn));
    CHECK(strcmp(cn, "chained.example") == 0);
    CHECK(arg == &g_app_cert_calls);
    return g_app_cert_verdict;
}

/* The application's certificate callback is chained, not replaced, and
 * its verdict stands. */
static void test_app_cert_cb_chained(void)
{
    ftls_source *id = mem_identity("chained.example");
    SSL_CTX *server = SSL_CTX_new(TLS_server_method());
    ftls_attach_identity ids[] = {{NULL, id}};
    ftls_attach_config cfg = {.identities = ids,
                              .n_identities = 1,
                              .app_cert_cb = app_cert_cb,
                              .app_cert_arg = &g_app_cert_calls};
    REQUIRE(ftls_ctx_attach(server, &cfg, NULL) == FTLS_OK);
    int rc;
    g_app_cert_verdict = 1;
    CHECK(strcmp(handshake_cn(server, "chained.example", &rc),
                 "chained.example") == 0);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(g_app_cert_calls, 1);
    g_app_cert_verdict = 0; /* the application refuses: so does the handshake */
    handshake_cn(server, "chained.example", &rc);
    CHECK(rc != 1);
    CHECK_EQ_INT(g_app_cert_calls, 2);
    SSL_CTX_free(server);
    ftls_source_free(id);
}

static void test_roots_rotate_for_long_lived_ctx(void)
{
    /* One application context kept forever; the CA changes underneath. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/rotating.pem", g_dir);
    REQUIRE(tu_write_certs(path, "w", &P.B, 1));
    ftls_source *trust = NULL;
    REQUIRE(ftls_source_new_trust(path, NULL, &trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    SSL_CTX *app = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(app, SSL_VERIFY_PEER, NULL);
    ftls_attach_config cfg = {.roots = trust};
    REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
    X509 *good = leaf("good", "good.example.com", NULL, "serverAuth", -86400,
                      86400 * 30, P.I, P.kI);
    struct tu_case c = {.name = "rot",
                        .leaf = good,
                        .chain = {P.I},
                        .nchain = 1,
                        .host = "good.example.com"};
    CHECK_EQ_INT(run(app, &c).handshake, -1); /* A not trusted yet */
    REQUIRE(tu_write_certs(path, "w", &P.A, 1));
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    CHECK_EQ_INT(run(app, &c).handshake, 1); /* same SSL_CTX, new roots */
    REQUIRE(tu_write_certs(path, "w", &P.B, 1));
    REQUIRE(ftls_source_reload(trust, NULL) == FTLS_OK);
    CHECK_EQ_INT(run(app, &c).handshake, -1); /* removal takes effect too */
    SSL_CTX_free(app);
    ftls_source_free(trust);
    X509_free(good);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    tu_pki_init(&P);
    snprintf(g_bundle, sizeof(g_bundle), "%s/roots.pem", g_dir);
    REQUIRE(tu_pki_write_bundle(&P, g_bundle));
    REQUIRE(ftls_source_new_trust(g_bundle, NULL, &g_trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(g_trust, NULL) == FTLS_OK);
    /* A copy of root A distrusted for certificates issued in the last 10 days. */
    unsigned char *der = NULL;
    int len = i2d_X509(P.A, &der);
    const char *why;
    REQUIRE(ftls__roots_new(FTLS_ROOTS_FALLBACK, &g_distrust_roots, NULL) ==
            FTLS_OK);
    REQUIRE(ftls__roots_add_der(g_distrust_roots, der, (size_t)len, 0, "A",
                                "test", (int64_t)time(NULL) - 10 * 86400,
                                &why) == FTLS_OK);
    REQUIRE(ftls__roots_finish(g_distrust_roots, NULL) == FTLS_OK);
    OPENSSL_free(der);
    RUN(test_equivalence);
    RUN(test_distrust_rejects_through_attach);
    RUN(test_sni_selection_and_fail_closed);
    RUN(test_roots_rotate_for_long_lived_ctx);
    RUN(test_app_cert_cb_chained);
    ftls_roots_free(g_distrust_roots);
    ftls_source_free(g_trust);
    tu_pki_cleanup(&P);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
