/* Verification through the lazy store equals an eagerly loaded
 * X509_STORE for a corpus of chains, and distrust-after is enforced. */
#include <pthread.h>
#include <time.h>

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "roots/roots_internal.h"
#include "test.h"
#include "testutil.h"

static char *g_dir, g_bundle[4096];
static EVP_PKEY *kA, *kA2, *kB, *kI, *kL;
static X509 *A, *A2, *B, *I, *I_nc, *I_A2;

struct chain {
    const char *name;
    X509 *leaf;
    X509 *untrusted[2];
    int nuntrusted;
    const char *host;
    const char *ip;
    int purpose;
    unsigned long flags;
};

static X509 *leaf(const char *cn, const char *dns, const char *ip,
                  const char *eku, long nb, long life, X509 *iss, EVP_PKEY *ik)
{
    X509 *x = tu_leaf(cn, dns, ip, eku, nb, life, kL, iss, ik);
    REQUIRE(x != NULL);
    return x;
}

static void setup(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    kA = tu_key(), kA2 = tu_key(), kB = tu_key(), kI = tu_key(), kL = tu_key();
    long ten_years = 86400L * 3650;
    struct tu_cert_opts ra = {.cn = "Equiv Root", .ca = 1, .lifetime = ten_years,
                              .not_before_offset = -86400L * 365};
    struct tu_cert_opts rb = {.cn = "Unknown Root", .ca = 1, .lifetime = ten_years};
    struct tu_cert_opts ri = {.cn = "Equiv Intermediate", .ca = 1,
                              .lifetime = ten_years, .not_before_offset = -86400L * 300};
    struct tu_cert_opts rnc = {.cn = "Constrained Intermediate", .ca = 1,
                               .lifetime = ten_years,
                               .name_constraints = "permitted;DNS:.example.com"};
    REQUIRE((A = tu_cert(&ra, kA, NULL, NULL)) != NULL);
    /* Same subject as A, different key: a re-keyed root. */
    REQUIRE((A2 = tu_cert(&ra, kA2, NULL, NULL)) != NULL);
    REQUIRE((B = tu_cert(&rb, kB, NULL, NULL)) != NULL);
    REQUIRE((I = tu_cert(&ri, kI, A, kA)) != NULL);
    REQUIRE((I_nc = tu_cert(&rnc, kI, A, kA)) != NULL);
    REQUIRE((I_A2 = tu_cert(&ri, kI, A2, kA2)) != NULL);
    snprintf(g_bundle, sizeof(g_bundle), "%s/bundle.pem", g_dir);
    X509 *roots[] = {A, A2};
    REQUIRE(tu_write_certs(g_bundle, "w", roots, 2));
}

static int verify(X509_STORE *store, const struct chain *c, int *err,
                  int *depth, int *chain_len)
{
    STACK_OF(X509) *un = sk_X509_new_null();
    for (int i = 0; i < c->nuntrusted; i++)
        sk_X509_push(un, c->untrusted[i]);
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
    int ok = X509_verify_cert(ctx);
    *err = X509_STORE_CTX_get_error(ctx);
    *depth = X509_STORE_CTX_get_error_depth(ctx);
    STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
    *chain_len = ch ? sk_X509_num(ch) : 0;
    X509_STORE_CTX_free(ctx);
    sk_X509_free(un);
    return ok;
}

static void test_equivalence_corpus(void)
{
    long day = 86400;
    X509 *good = leaf("good", "good.example.com", "127.0.0.1", "serverAuth",
                      -day, 30 * day, I, kI);
    X509 *expired = leaf("expired", "good.example.com", NULL, "serverAuth",
                         -60 * day, 30 * day, I, kI);
    X509 *future = leaf("future", "good.example.com", NULL, "serverAuth",
                        10 * day, 30 * day, I, kI);
    X509 *client = leaf("client", "good.example.com", NULL, "clientAuth",
                        -day, 30 * day, I, kI);
    X509 *unknown = leaf("unknown", "good.example.com", NULL, "serverAuth",
                         -day, 30 * day, B, kB);
    X509 *nc_bad = leaf("nc", "evil.test", NULL, "serverAuth", -day, 30 * day,
                        I_nc, kI);
    X509 *nc_ok = leaf("nc", "www.example.com", NULL, "serverAuth", -day,
                       30 * day, I_nc, kI);
    X509 *rekeyed = leaf("rekeyed", "good.example.com", NULL, "serverAuth",
                         -day, 30 * day, I_A2, kI);
    const struct chain corpus[] = {
        {"valid", good, {I}, 1, "good.example.com", NULL, X509_PURPOSE_SSL_SERVER, 0},
        {"valid strict", good, {I}, 1, "good.example.com", NULL,
         X509_PURPOSE_SSL_SERVER, X509_V_FLAG_X509_STRICT},
        {"expired", expired, {I}, 1, NULL, NULL, 0, 0},
        {"not yet valid", future, {I}, 1, NULL, NULL, 0, 0},
        {"wrong host", good, {I}, 1, "other.example.com", NULL, 0, 0},
        {"right ip", good, {I}, 1, NULL, "127.0.0.1", 0, 0},
        {"wrong ip", good, {I}, 1, NULL, "127.0.0.2", 0, 0},
        {"unknown root", unknown, {B}, 1, NULL, NULL, 0, 0},
        {"missing intermediate", good, {NULL}, 0, NULL, NULL, 0, 0},
        {"wrong purpose", client, {I}, 1, NULL, NULL, X509_PURPOSE_SSL_SERVER, 0},
        {"name constraints violated", nc_bad, {I_nc}, 1, NULL, NULL, 0, 0},
        {"name constraints ok", nc_ok, {I_nc}, 1, NULL, NULL, 0, 0},
        {"re-keyed root, same subject", rekeyed, {I_A2}, 1, NULL, NULL, 0, 0},
        {"partial chain off", good, {I}, 1, NULL, NULL, 0, X509_V_FLAG_PARTIAL_CHAIN},
    };
    X509_STORE *eager = X509_STORE_new();
    REQUIRE(eager != NULL && X509_STORE_load_file(eager, g_bundle) == 1);
    ftls_roots *roots = NULL;
    REQUIRE(ftls_roots_load_paths(g_bundle, NULL, &roots, NULL) == FTLS_OK);
    X509_STORE *lazy = NULL;
    REQUIRE(ftls_roots_new_store(roots, &lazy, NULL) == FTLS_OK);
    ftls_roots_free(roots); /* the store keeps its own reference */
    int verdicts[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) /* cold lookups, then cached */
        for (size_t i = 0; i < FTLS_ARRAY_LEN(corpus); i++) {
            int e1, d1, n1, e2, d2, n2;
            int ok1 = verify(eager, &corpus[i], &e1, &d1, &n1);
            int ok2 = verify(lazy, &corpus[i], &e2, &d2, &n2);
            if (ok1 != ok2 || e1 != e2 || d1 != d2 || n1 != n2)
                fprintf(stderr, "mismatch '%s': eager %d/%s/%d/%d lazy %d/%s/%d/%d\n",
                        corpus[i].name, ok1, X509_verify_cert_error_string(e1),
                        d1, n1, ok2, X509_verify_cert_error_string(e2), d2, n2);
            CHECK_EQ_INT(ok1, ok2);
            CHECK_EQ_INT(e1, e2);
            CHECK_EQ_INT(d1, d2);
            CHECK_EQ_INT(n1, n2);
            verdicts[ok1 == 1]++;
        }
    /* The corpus exercises both outcomes (so equality is not vacuous). */
    CHECK(verdicts[0] >= 16 && verdicts[1] >= 8);
    X509_STORE_free(eager);
    X509_STORE_free(lazy);
    X509 *all[] = {good, expired, future, client, unknown, nc_bad, nc_ok, rekeyed};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(all); i++)
        X509_free(all[i]);
}

/* ---- distrust-after ---------------------------------------------------- */

static X509_STORE *distrust_store(int64_t until)
{
    ftls_roots *r = NULL;
    unsigned char *der = NULL;
    int len = i2d_X509(A, &der);
    const char *why = NULL;
    REQUIRE(len > 0 && ftls__roots_new(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
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
    struct tu_cert_opts io = {.cn = "Late Intermediate", .ca = 1,
                              .lifetime = 3650 * day, .not_before_offset = -day};
    X509 *late_int = tu_cert(&io, kI, A, kA);
    REQUIRE(late_int != NULL);
    X509 *old_leaf = leaf("old", "d.example.com", NULL, "serverAuth", -20 * day,
                          40 * day, I, kI);
    X509 *new_leaf = leaf("new", "d.example.com", NULL, "serverAuth", -day,
                          40 * day, I, kI);
    X509 *old_under_late = leaf("old2", "d.example.com", NULL, "serverAuth",
                                -20 * day, 40 * day, late_int, kI);
    int e, d, n;
    struct chain ok_chain = {"old", old_leaf, {I}, 1, NULL, NULL, 0, 0};
    CHECK_EQ_INT(verify(s, &ok_chain, &e, &d, &n), 1);
    CHECK_EQ_INT(e, X509_V_OK);

    struct chain bad_leaf = {"new", new_leaf, {I}, 1, NULL, NULL, 0, 0};
    CHECK_EQ_INT(verify(s, &bad_leaf, &e, &d, &n), 0);
    CHECK_EQ_INT(e, X509_V_ERR_CERT_REJECTED);
    CHECK_EQ_INT(d, 0);

    struct chain bad_int = {"late int", old_under_late, {late_int}, 1, NULL,
                            NULL, 0, 0};
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
    sk_X509_push(un, I);
    REQUIRE(X509_STORE_CTX_init(ctx, s, old_leaf, un));
    CHECK_EQ_INT(X509_verify_cert(ctx), 1);
    STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
    CHECK_EQ_INT(ftls_roots_x509_distrust_after(sk_X509_value(ch, sk_X509_num(ch) - 1)),
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
    struct chain c = {"t", g_leaf, {I}, 1, NULL, NULL, 0, 0};
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
    g_leaf = leaf("mt", "mt.example.com", NULL, "serverAuth", -86400, 86400 * 30,
                  I, kI);
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
    X509 *all[] = {A, A2, B, I, I_nc, I_A2};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(all); i++)
        X509_free(all[i]);
    EVP_PKEY *keys[] = {kA, kA2, kB, kI, kL};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(keys); i++)
        EVP_PKEY_free(keys[i]);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
