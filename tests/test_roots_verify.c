/* Verification through the lazy store equals an eagerly loaded
 * X509_STORE for a corpus of chains, and distrust-after is enforced. */
#include <pthread.h>
#include <time.h>

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "roots/roots_internal.h"
#include "test.h"
#include "testutil.h"
#include "tu_corpus.h"

static char *g_dir, g_bundle[4096];
static struct tu_pki P;

/* Test-local chains (distrust, threads) beyond the shared corpus. */
struct chain {
    const char *name;
    X509 *leaf;
    X509 *untrusted[2];
    int nuntrusted;
};

static X509 *leaf(const char *cn, const char *dns, const char *ip,
                  const char *eku, long nb, long life, X509 *iss, EVP_PKEY *ik)
{
    X509 *x = tu_leaf(cn, dns, ip, eku, nb, life, P.kL, iss, ik);
    REQUIRE(x != NULL);
    return x;
}

static void setup(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    tu_pki_init(&P);
    snprintf(g_bundle, sizeof(g_bundle), "%s/bundle.pem", g_dir);
    REQUIRE(tu_pki_write_bundle(&P, g_bundle));
}

static int accept_expired(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_HAS_EXPIRED)
        return 1;
    return ok;
}

struct verdict {
    int ok, err, depth, chain_len;
};

/* X509_verify_cert() of a corpus case with every setting the store API
 * can express. */
static struct verdict verify_case(X509_STORE *store, const struct tu_case *c)
{
    STACK_OF(X509) *un = sk_X509_new_null();
    for (int i = 0; i < c->nchain; i++)
        sk_X509_push(un, c->chain[i]);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    REQUIRE(ctx != NULL && X509_STORE_CTX_init(ctx, store, c->leaf, un));
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    if (c->host)
        X509_VERIFY_PARAM_set1_host(p, c->host, 0);
    if (c->ip)
        X509_VERIFY_PARAM_set1_ip_asc(p, c->ip);
    if (c->purpose)
        X509_STORE_CTX_set_purpose(ctx, c->purpose);
    if (c->flags)
        X509_VERIFY_PARAM_set_flags(p, c->flags);
    if (c->depth)
        X509_VERIFY_PARAM_set_depth(p, c->depth);
    if (c->override_expired)
        X509_STORE_CTX_set_verify_cb(ctx, accept_expired);
    struct verdict v;
    v.ok = X509_verify_cert(ctx);
    v.err = X509_STORE_CTX_get_error(ctx);
    v.depth = X509_STORE_CTX_get_error_depth(ctx);
    STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
    v.chain_len = ch ? sk_X509_num(ch) : 0;
    X509_STORE_CTX_free(ctx);
    sk_X509_free(un);
    return v;
}

static int verify(X509_STORE *store, const struct chain *c, int *err,
                  int *depth, int *chain_len)
{
    struct tu_case k = {.name = c->name,
                        .leaf = c->leaf,
                        .chain = {c->untrusted[0], c->untrusted[1]},
                        .nchain = c->nuntrusted};
    struct verdict v = verify_case(store, &k);
    *err = v.err, *depth = v.depth, *chain_len = v.chain_len;
    return v.ok;
}

static void test_equivalence_corpus(void)
{
    struct tu_corpus corpus;
    tu_corpus_init(&P, &corpus);
    X509_STORE *eager = X509_STORE_new();
    REQUIRE(eager != NULL && X509_STORE_load_file(eager, g_bundle) == 1);
    ftls_roots *roots = NULL;
    REQUIRE(ftls_roots_load_paths(g_bundle, NULL, &roots, NULL) == FTLS_OK);
    X509_STORE *lazy = NULL;
    REQUIRE(ftls_roots_new_store(roots, &lazy, NULL) == FTLS_OK);
    ftls_roots_free(roots); /* the store keeps its own reference */
    int verdicts[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) /* cold lookups, then cached */
        for (size_t i = 0; i < corpus.n; i++) {
            const struct tu_case *c = &corpus.cases[i];
            if (c->dane_ee || c->distrust)
                continue; /* TLS-only, or another root set: test_ctx_attach */
            struct verdict e = verify_case(eager, c), l = verify_case(lazy, c);
            if (e.ok != l.ok || e.err != l.err || e.depth != l.depth ||
                e.chain_len != l.chain_len)
                fprintf(stderr,
                        "mismatch '%s': eager %d/%s/%d/%d lazy %d/%s/%d/%d\n",
                        c->name, e.ok, X509_verify_cert_error_string(e.err),
                        e.depth, e.chain_len, l.ok,
                        X509_verify_cert_error_string(l.err), l.depth,
                        l.chain_len);
            CHECK_EQ_INT(e.ok, l.ok);
            CHECK_EQ_INT(e.err, l.err);
            CHECK_EQ_INT(e.depth, l.depth);
            CHECK_EQ_INT(e.chain_len, l.chain_len);
            verdicts[e.ok == 1]++;
        }
    printf("# corpus: %d refused, %d accepted (two passes)\n", verdicts[0],
           verdicts[1]);
    /* The corpus exercises both outcomes (so equality is not vacuous). */
    CHECK(verdicts[0] >= 16 && verdicts[1] >= 10);
    X509_STORE_free(eager);
    X509_STORE_free(lazy);
    tu_corpus_cleanup(&corpus);
}

/* ---- distrust-after ---------------------------------------------------- */

static X509_STORE *distrust_store(int64_t until)
{
    ftls_roots *r = NULL;
    unsigned char *der = NULL;
    int len = i2d_X509(P.A, &der);
    const char *why = NULL;
    REQUIRE(len > 0 &&
            ftls__roots_new(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
    REQUIRE(ftls__roots_add_der(r, der, (size_t)len, 0, "Distrusted Root",
                                "test", until, &why) == FTLS_OK);
    REQUIRE(ftls__roots_finish(r, NULL) == FTLS_OK);
    OPENSSL_free(der);
    X509_STORE *s = NULL;
    REQUIRE(ftls_roots_new_store(r, &s, NULL) == FTLS_OK);
    ftls_roots_free(r);
    return s;
}

static int override_rejected(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_REJECTED)
        return 1;
    return ok;
}

static void test_distrust_after(void)
{
    long day = 86400;
    int64_t until = (int64_t)time(NULL) - 10 * day;
    X509_STORE *s = distrust_store(until);
    struct tu_cert_opts io = {.cn = "Late Intermediate",
                              .ca = 1,
                              .lifetime = 3650 * day,
                              .not_before_offset = -day};
    X509 *late_int = tu_cert(&io, P.kI, P.A, P.kA);
    REQUIRE(late_int != NULL);
    X509 *old_leaf = leaf("old", "d.example.com", NULL, "serverAuth", -20 * day,
                          40 * day, P.I, P.kI);
    X509 *new_leaf = leaf("new", "d.example.com", NULL, "serverAuth", -day,
                          40 * day, P.I, P.kI);
    X509 *old_under_late = leaf("old2", "d.example.com", NULL, "serverAuth",
                                -20 * day, 40 * day, late_int, P.kI);
    int e, d, n;
    struct chain ok_chain = {"old", old_leaf, {P.I}, 1};
    CHECK_EQ_INT(verify(s, &ok_chain, &e, &d, &n), 1);
    CHECK_EQ_INT(e, X509_V_OK);

    struct chain bad_leaf = {"new", new_leaf, {P.I}, 1};
    CHECK_EQ_INT(verify(s, &bad_leaf, &e, &d, &n), 0);
    CHECK_EQ_INT(e, X509_V_ERR_CERT_REJECTED);
    CHECK_EQ_INT(d, 0);

    struct chain bad_int = {"late int", old_under_late, {late_int}, 1};
    CHECK_EQ_INT(verify(s, &bad_int, &e, &d, &n), 0);
    CHECK_EQ_INT(e, X509_V_ERR_CERT_REJECTED);
    CHECK_EQ_INT(d, 1);

    /* The application's verify callback may override, as for any error. */
    X509_STORE_set_verify_cb(s, override_rejected);
    CHECK_EQ_INT(verify(s, &bad_leaf, &e, &d, &n), 1);
    X509_STORE_set_verify_cb(s, NULL);

    /* The root in the verified chain carries its constraint. */
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *un = sk_X509_new_null();
    sk_X509_push(un, P.I);
    REQUIRE(X509_STORE_CTX_init(ctx, s, old_leaf, un));
    CHECK_EQ_INT(X509_verify_cert(ctx), 1);
    STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
    CHECK_EQ_INT(
        ftls_roots_x509_distrust_after(sk_X509_value(ch, sk_X509_num(ch) - 1)),
        until);
    CHECK_EQ_INT(ftls_roots_x509_distrust_after(old_leaf), 0);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(un);

    /* With no constraint, the same late chain verifies. */
    X509_STORE *plain = distrust_store(0);
    CHECK_EQ_INT(verify(plain, &bad_leaf, &e, &d, &n), 1);
    X509_STORE_free(plain);
    X509_STORE_free(s);
    X509_free(late_int);
    X509_free(old_leaf);
    X509_free(new_leaf);
    X509_free(old_under_late);
}

/* Many threads verifying through one fresh lazy store at once. */
static X509_STORE *g_shared;
static X509 *g_leaf;
static void *verifier(void *arg)
{
    (void)arg;
    struct chain c = {"t", g_leaf, {P.I}, 1};
    for (int i = 0; i < 50; i++) {
        int e, d, n;
        if (verify(g_shared, &c, &e, &d, &n) != 1)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_first_lookups(void)
{
    ftls_roots *roots = NULL;
    REQUIRE(ftls_roots_load_paths(g_bundle, NULL, &roots, NULL) == FTLS_OK);
    REQUIRE(ftls_roots_new_store(roots, &g_shared, NULL) == FTLS_OK);
    ftls_roots_free(roots);
    g_leaf = leaf("mt", "mt.example.com", NULL, "serverAuth", -86400,
                  86400 * 30, P.I, P.kI);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, verifier, NULL) == 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        CHECK(ret == NULL);
    }
    X509_STORE_free(g_shared);
    X509_free(g_leaf);
}

int main(void)
{
    setup();
    RUN(test_equivalence_corpus);
    RUN(test_distrust_after);
    RUN(test_concurrent_first_lookups);
    tu_pki_cleanup(&P);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
