/* Minting: name rules, leaf properties strict verifiers demand, serial
 * uniqueness, lifetime rules, IP opt-in, CA generation/loading/export. */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static ftls_ca *g_ca;

static void expect_name(const char *in, int allow_ip, ftls_code want,
                        const char *norm, const char *why)
{
    char out[256];
    int is_ip = -1;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_code rc =
        ftls_leaf_normalize_name(in, allow_ip, out, sizeof(out), &is_ip, err);
    if (rc != want)
        fprintf(stderr, "name '%s': got %s (%s)\n", in, ftls_code_name(rc),
                ftls_error_message(err));
    CHECK_EQ_INT(rc, want);
    if (want == FTLS_OK && norm != NULL)
        CHECK(strcmp(out, norm) == 0);
    if (want != FTLS_OK && why != NULL)
        CHECK_STR_CONTAINS(ftls_error_message(err), why);
    ftls_error_free(err);
}

static void test_name_rules(void)
{
    char l63[64], l64[65], n254[300];
    memset(l63, 'a', 63), l63[63] = '\0';
    memset(l64, 'a', 64), l64[64] = '\0';
    snprintf(n254, sizeof(n254), "%s.%s.%s.%s", l63, l63, l63, l63); /* 255 */
    expect_name("Shop.Example.COM", 0, FTLS_OK, "shop.example.com", NULL);
    /* The root dot is kept: the leaf then names both forms. */
    expect_name("Shop.Example.com.", 0, FTLS_OK, "shop.example.com.", NULL);
    expect_name("xn--bcher-kva.example", 0, FTLS_OK, "xn--bcher-kva.example",
                NULL);
    expect_name("a-b.c1.example", 0, FTLS_OK, NULL, NULL);
    expect_name(l63, 0, FTLS_OK, NULL, NULL);
    expect_name("", 0, FTLS_E_NAME_REJECTED, NULL, "empty name");
    expect_name(".", 0, FTLS_E_NAME_REJECTED, NULL, "empty name");
    expect_name("127.0.0.1", 0, FTLS_E_NAME_REJECTED, NULL, "IP literal");
    expect_name("::1", 0, FTLS_E_NAME_REJECTED, NULL, "IP literal");
    expect_name("[2001:db8::1]", 0, FTLS_E_NAME_REJECTED, NULL, "IP literal");
    expect_name(n254, 0, FTLS_E_NAME_REJECTED, NULL, "longer than 253");
    expect_name("a..example", 0, FTLS_E_NAME_REJECTED, NULL, "empty label");
    expect_name(".example", 0, FTLS_E_NAME_REJECTED, NULL, "empty label");
    expect_name(l64, 0, FTLS_E_NAME_REJECTED, NULL, "longer than 63");
    expect_name("-a.example", 0, FTLS_E_NAME_REJECTED, NULL, "hyphen");
    expect_name("a-.example", 0, FTLS_E_NAME_REJECTED, NULL, "hyphen");
    expect_name("a_b.example", 0, FTLS_E_NAME_REJECTED, NULL, "'_'");
    expect_name("caf\xc3\xa9.example", 0, FTLS_E_NAME_REJECTED, NULL,
                "not allowed");
    expect_name("a b.example", 0, FTLS_E_NAME_REJECTED, NULL, "not allowed");
    expect_name("*.example.com", 0, FTLS_E_NAME_REJECTED, NULL, "wildcards");
    expect_name("10.0.0.1", 1, FTLS_OK, "10.0.0.1", NULL);
    /* Every form inet_aton reads as IPv4 is an IP literal, canonicalized. */
    static const char *const v4[][2] = {
        {"127.1", "127.0.0.1"},         {"2130706433", "127.0.0.1"},
        {"0x7f.1", "127.0.0.1"},        {"0X7F.0.0.1", "127.0.0.1"},
        {"010.000.000.001", "8.0.0.1"}, {"1.2.3", "1.2.0.3"},
        {"127.0.0.1.", "127.0.0.1"},
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(v4); i++) {
        expect_name(v4[i][0], 0, FTLS_E_NAME_REJECTED, NULL, "IP literal");
        expect_name(v4[i][0], 1, FTLS_OK, v4[i][1], NULL);
    }
    /* A numeric last label is an IPv4 number to URL parsers. */
    expect_name("host.123", 0, FTLS_E_NAME_REJECTED, NULL, "last label");
    expect_name("host.0x1f", 0, FTLS_E_NAME_REJECTED, NULL, "last label");
    expect_name("host.0xg", 0, FTLS_OK, "host.0xg", NULL);
    expect_name("1.2.3.4.5", 1, FTLS_E_NAME_REJECTED, NULL, "last label");
    expect_name("deadbeef", 0, FTLS_OK, "deadbeef", NULL);
    expect_name("1.2.3.4 x", 1, FTLS_E_NAME_REJECTED, NULL, "not allowed");
    expect_name("[2001:DB8::1]", 1, FTLS_OK, "2001:db8::1", NULL);
    char out[256];
    CHECK_EQ_INT(
        ftls_leaf_normalize_name(NULL, 0, out, sizeof(out), NULL, NULL),
        FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_normalize_name("a", 0, out, 10, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
}

static int verify_strict(X509 *leaf, const char *host, const char *ip)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ftls_ca_get0_cert(g_ca));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    REQUIRE(X509_STORE_CTX_init(ctx, store, leaf, NULL));
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (host)
        X509_VERIFY_PARAM_set1_host(p, host, 0);
    if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(p, ip);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fprintf(stderr, "verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static void test_leaf_properties(void)
{
    int64_t now = (int64_t)time(NULL);
    ftls_leaf *l = NULL;
    REQUIRE(ftls_leaf_mint(g_ca, "Shop.Example.com.", NULL, now, &l, NULL) ==
            FTLS_OK);
    X509 *x = ftls_leaf_get0_cert(l);
    /* Asked with the root dot: both forms verify, as verifiers differ on
     * whether they drop it. */
    CHECK_EQ_INT(verify_strict(x, "shop.example.com", NULL), 1);
    CHECK_EQ_INT(verify_strict(x, "shop.example.com.", NULL), 1);
    CHECK(verify_strict(x, "other.example.com", NULL) != 1);
    /* AKI keyid equals the CA's actual SKI. */
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *ski =
        X509_get0_subject_key_id(ftls_ca_get0_cert(g_ca));
    CHECK(aki && ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0);
    CHECK(X509_get0_subject_key_id(x) != NULL);
    /* A fresh key, not the CA's. */
    CHECK(EVP_PKEY_eq(ftls_leaf_get0_key(l),
                      X509_get0_pubkey(ftls_ca_get0_cert(g_ca))) != 1);
    CHECK_EQ_INT(EVP_PKEY_get_bits(ftls_leaf_get0_key(l)), 256);
    CHECK(X509_check_private_key(x, ftls_leaf_get0_key(l)) == 1);
    /* Extensions as strict verifiers want them. */
    CHECK_EQ_INT(X509_check_ca(x), 0);
    CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_extended_key_usage(x) == XKU_SSL_SERVER);
    int crit = -1;
    BASIC_CONSTRAINTS *bc =
        X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    CHECK(bc != NULL && !bc->ca && crit == 1);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
    CHECK(ku != NULL && crit == 1);
    ASN1_BIT_STRING_free(ku);
    /* CN for a short name; validity backdated 5 minutes, 1 hour lifetime. */
    char cn[80] = "";
    tu_cn(x, cn, sizeof(cn));
    CHECK(strcmp(cn, "shop.example.com") == 0);
    CHECK_EQ_INT(
        ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)(now - 300)), 0);
    CHECK_EQ_INT(
        ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(now + 3600)), 0);
    CHECK_EQ_INT(ftls_leaf_not_after(l), now + 3600);
    CHECK_EQ_INT(sk_X509_num(ftls_leaf_get0_chain(l)), 1);
    ftls_leaf_free(l);
}

static void test_long_name_has_no_cn_and_critical_san(void)
{
    char name[100];
    snprintf(name, sizeof(name), "%s.example.com",
             "a-rather-long-label-that-goes-on-and-on-for-a-while-now");
    CHECK(strlen(name) > 64);
    ftls_leaf *l = NULL;
    REQUIRE(ftls_leaf_mint(g_ca, name, NULL, 0, &l, NULL) == FTLS_OK);
    X509 *x = ftls_leaf_get0_cert(l);
    CHECK_EQ_INT(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
    int crit = -1;
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    CHECK(san != NULL && crit == 1);
    GENERAL_NAMES_free(san);
    CHECK_EQ_INT(verify_strict(x, name, NULL), 1);
    ftls_leaf_free(l);
}

static void test_ip_opt_in_and_lifetime(void)
{
    ftls_leaf *l = NULL;
    CHECK_EQ_INT(ftls_leaf_mint(g_ca, "192.0.2.7", NULL, 0, &l, NULL),
                 FTLS_E_NAME_REJECTED);
    ftls_mint_options o = {.allow_ip = 1};
    REQUIRE(ftls_leaf_mint(g_ca, "192.0.2.7", &o, 0, &l, NULL) == FTLS_OK);
    CHECK_EQ_INT(verify_strict(ftls_leaf_get0_cert(l), NULL, "192.0.2.7"), 1);
    ftls_leaf_free(l);
    REQUIRE(ftls_leaf_mint(g_ca, "[2001:db8::7]", &o, 0, &l, NULL) == FTLS_OK);
    CHECK_EQ_INT(verify_strict(ftls_leaf_get0_cert(l), NULL, "2001:db8::7"), 1);
    ftls_leaf_free(l);
    ftls_mint_options max = {.lifetime = 180LL * 86400};
    CHECK_EQ_INT(ftls_leaf_mint(g_ca, "a.example", &max, 0, &l, NULL), FTLS_OK);
    ftls_leaf_free(l);
    ftls_mint_options over = {.lifetime = 180LL * 86400 + 1};
    CHECK_EQ_INT(ftls_leaf_mint(g_ca, "a.example", &over, 0, &l, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK(l == NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_serials_unique(void)
{
    enum { N = 10000 };
    char **serials = calloc(N, sizeof(*serials));
    REQUIRE(serials != NULL);
    for (int i = 0; i < N; i++) {
        ftls_leaf *l = NULL;
        REQUIRE(ftls_leaf_mint(g_ca, "same.example", NULL, 0, &l, NULL) ==
                FTLS_OK);
        const ASN1_INTEGER *sn = X509_get0_serialNumber(ftls_leaf_get0_cert(l));
        BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
        CHECK(BN_num_bits(bn) >= 129 - 8); /* 0x01 prefix + 128 random bits */
        serials[i] = BN_bn2hex(bn);
        BN_free(bn);
        ftls_leaf_free(l);
    }
    qsort(serials, N, sizeof(*serials), cmp_str);
    int dups = 0;
    for (int i = 1; i < N; i++)
        dups += strcmp(serials[i - 1], serials[i]) == 0;
    CHECK_EQ_INT(dups, 0);
    for (int i = 0; i < N; i++)
        OPENSSL_free(serials[i]);
    free(serials);
}

static void test_ca_lifecycle(void)
{
    char *dir = tu_tmpdir(), crt[4200], key[4200];
    REQUIRE(dir != NULL);
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    /* The generated CA has what interception needs. */
    X509 *x = ftls_ca_get0_cert(g_ca);
    CHECK_EQ_INT(X509_check_ca(x), 1);
    CHECK(X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(X509_get0_subject_key_id(x) != NULL);
    int crit = -1;
    BASIC_CONSTRAINTS *bc =
        X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    CHECK(bc && bc->ca && crit == 1 && bc->pathlen &&
          ASN1_INTEGER_get(bc->pathlen) == 0);
    BASIC_CONSTRAINTS_free(bc);
    /* Export: modes, atomic, never overwriting. */
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, NULL), FTLS_OK);
    struct stat sc, sk;
    CHECK(stat(crt, &sc) == 0 && (sc.st_mode & 0777) == 0644);
    CHECK(stat(key, &sk) == 0 && (sk.st_mode & 0777) == 0600);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, err), FTLS_E_EXISTS);
    CHECK_STR_CONTAINS(ftls_error_message(err), "refusing to overwrite");
    /* Load round trip, then the refusals. */
    ftls_ca *back = NULL;
    CHECK_EQ_INT(ftls_ca_load(crt, key, &back, NULL), FTLS_OK);
    ftls_leaf *l = NULL;
    CHECK_EQ_INT(ftls_leaf_mint(back, "rt.example", NULL, 0, &l, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(verify_strict(ftls_leaf_get0_cert(l), "rt.example", NULL), 1);
    char lc[4200], lk[4200];
    snprintf(lc, sizeof(lc), "%s/leaf.crt", dir);
    snprintf(lk, sizeof(lk), "%s/leaf.key", dir);
    X509 *lx = ftls_leaf_get0_cert(l);
    REQUIRE(tu_write_certs(lc, "w", &lx, 1) &&
            tu_write_key(lk, ftls_leaf_get0_key(l)));
    ftls_ca *bad = NULL;
    CHECK_EQ_INT(ftls_ca_load(lc, lk, &bad, err), FTLS_E_KEY_POLICY);
    CHECK_STR_CONTAINS(ftls_error_message(err), "not a CA");
    CHECK_EQ_INT(ftls_ca_load(crt, lk, &bad, err), FTLS_E_KEY_MISMATCH);
    /* A CA without an SKI, and one without keyCertSign. */
    EVP_PKEY *k = tu_key();
    X509 *noski = X509_new();
    X509_set_version(noski, 2);
    X509_NAME *nm = tu_name("No SKI");
    X509_set_subject_name(noski, nm);
    X509_set_issuer_name(noski, nm);
    X509_NAME_free(nm);
    X509_gmtime_adj(X509_getm_notBefore(noski), 0);
    X509_gmtime_adj(X509_getm_notAfter(noski), 86400);
    X509_set_pubkey(noski, k);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, noski, noski, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                            "critical,CA:TRUE");
    X509_add_ext(noski, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(noski, k, EVP_sha256());
    snprintf(lc, sizeof(lc), "%s/noski.crt", dir);
    snprintf(lk, sizeof(lk), "%s/noski.key", dir);
    REQUIRE(tu_write_certs(lc, "w", &noski, 1) && tu_write_key(lk, k));
    CHECK_EQ_INT(ftls_ca_load(lc, lk, &bad, err), FTLS_E_KEY_POLICY);
    CHECK_STR_CONTAINS(ftls_error_message(err), "subject key identifier");
    struct tu_cert_opts leafish = {.cn = "CA without certsign", .ca = 0};
    X509 *nocs = tu_cert(&leafish, k, NULL, NULL);
    REQUIRE(nocs != NULL);
    snprintf(lc, sizeof(lc), "%s/nocs.crt", dir);
    REQUIRE(tu_write_certs(lc, "w", &nocs, 1));
    CHECK_EQ_INT(ftls_ca_load(lc, lk, &bad, err), FTLS_E_KEY_POLICY);
    X509_free(noski);
    X509_free(nocs);
    EVP_PKEY_free(k);
    ftls_leaf_free(l);
    ftls_ca_free(back);
    ftls_error_free(err);
    tu_rmrf(dir);
    free(dir);
}

static void test_misuse(void)
{
    ftls_ca *ca = (ftls_ca *)0x1;
    ftls_leaf *l = (ftls_leaf *)0x1;
    CHECK_EQ_INT(ftls_ca_generate(NULL, NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ca_load(NULL, NULL, &ca, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(ca == NULL);
    CHECK_EQ_INT(ftls_ca_export(NULL, "a", "b", NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_mint(NULL, "a", NULL, 0, &l, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK(l == NULL);
    CHECK_EQ_INT(ftls_leaf_mint(g_ca, NULL, NULL, 0, &l, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ca_up_ref(NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_up_ref(NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(ftls_ca_get0_cert(NULL) == NULL);
    CHECK(ftls_leaf_get0_cert(NULL) == NULL &&
          ftls_leaf_get0_key(NULL) == NULL &&
          ftls_leaf_get0_chain(NULL) == NULL);
    CHECK_EQ_INT(ftls_leaf_not_after(NULL), 0);
    ftls_ca_free(NULL);
    ftls_leaf_free(NULL);
    ftls_leaf_cache *c = (ftls_leaf_cache *)0x1;
    CHECK_EQ_INT(ftls_leaf_cache_new(NULL, NULL, &c, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK(c == NULL);
    ftls_leaf_cache_options bad = {.remint_fraction = 1.5};
    CHECK_EQ_INT(ftls_leaf_cache_new(g_ca, &bad, &c, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_cache_get1(NULL, "a", &l, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_cache_get_stats(NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_leaf_cache_attach(NULL, NULL, NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    ftls_leaf_cache_free(NULL);
}

int main(void)
{
    ftls_ca_options o = {.common_name = "Test Interception CA",
                         .validity = 86400};
    REQUIRE(ftls_ca_generate(&o, &g_ca, NULL) == FTLS_OK);
    RUN(test_name_rules);
    RUN(test_leaf_properties);
    RUN(test_long_name_has_no_cn_and_critical_san);
    RUN(test_ip_opt_in_and_lifetime);
    RUN(test_serials_unique);
    RUN(test_ca_lifecycle);
    RUN(test_misuse);
    ftls_ca_free(g_ca);
    return TEST_SUMMARY();
}
