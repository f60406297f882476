/*
 * What is published is what OpenSSL will accept: identities that load and
 * match but that a serving context would refuse, or that every client
 * would refuse, are rejected at reload, with the reason, and the previous
 * generation stays published.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static EVP_PKEY *kCA;
static X509 *CA;

struct pem {
    char *crt, *key;
    size_t ncrt, nkey;
};

static struct pem pem_of(X509 *const *certs, int n, EVP_PKEY *k)
{
    struct pem p;
    p.crt = tu_pem_certs(certs, n, &p.ncrt);
    p.key = tu_pem_key(k, &p.nkey);
    REQUIRE(p.crt && p.key);
    return p;
}

static X509 *issue(const char *eku, int ca, EVP_PKEY *k)
{
    struct tu_cert_opts o = {.cn = "policy.example",
                             .dns = "policy.example",
                             .eku = eku,
                             .ca = ca,
                             .not_before_offset = -3600};
    X509 *x = tu_cert(&o, k, CA, kCA);
    REQUIRE(x != NULL);
    return x;
}

/* A source holding a good identity, then `bad`: the reload must fail with
 * `want` and a message containing `why`, keeping generation 1. */
static void expect_rejected(const ftls_identity_options *o,
                            const struct pem *bad, ftls_code want,
                            const char *why)
{
    EVP_PKEY *gk = tu_key();
    X509 *good = issue("serverAuth,clientAuth", 0, gk);
    struct pem g = pem_of(&good, 1, gk);
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    REQUIRE(ftls_source_new_identity_memory(o, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, g.crt, g.ncrt, g.key, g.nkey, NULL) ==
            FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, bad->crt, bad->ncrt, bad->key, bad->nkey,
                                   NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_source_reload(s, err), want);
    CHECK_STR_CONTAINS(ftls_error_message(err), why);
    CHECK_EQ_INT(ftls_source_generation(s), 1);
    ftls_source_free(s);
    ftls_error_free(err);
    free(g.crt), free(g.key);
    X509_free(good);
    EVP_PKEY_free(gk);
}

static void expect_accepted(const ftls_identity_options *o, const struct pem *p)
{
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    REQUIRE(ftls_source_new_identity_memory(o, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, p->crt, p->ncrt, p->key, p->nkey, NULL) ==
            FTLS_OK);
    CHECK_EQ_INT(ftls_source_reload(s, err), FTLS_OK);
    if (ftls_error_code(err) != FTLS_OK)
        fprintf(stderr, "  %s\n", ftls_error_message(err));
    ftls_source_free(s);
    ftls_error_free(err);
}

static void with_key(EVP_PKEY *k, const ftls_identity_options *o,
                     const char *why)
{
    REQUIRE(k != NULL);
    X509 *x = issue("serverAuth", 0, k);
    struct pem p = pem_of(&x, 1, k);
    expect_rejected(o, &p, FTLS_E_KEY_POLICY, why);
    free(p.crt), free(p.key);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_curves_tls_cannot_use(void)
{
    ftls_identity_options o = {0};
    with_key(EVP_EC_gen("P-192"), &o, "curve prime192v1");
    with_key(EVP_EC_gen("secp224r1"), &o, "curve secp224r1");
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    X509 *x = issue("serverAuth", 0, p384);
    struct pem p = pem_of(&x, 1, p384);
    expect_accepted(&o, &p);
    free(p.crt), free(p.key);
    X509_free(x);
    EVP_PKEY_free(p384);
}

/* OpenSSL's own check at the configured level: 2048-bit RSA is refused
 * at level 3 (128-bit security needs 3072 bits). */
static void test_security_level(void)
{
    ftls_identity_options o = {.security_level = 3};
    with_key(EVP_RSA_gen(2048), &o, "security level 3");
}

static void test_chain_length_and_duplicates(void)
{
    EVP_PKEY *k = tu_key();
    X509 *leaf = issue("serverAuth", 0, k);
    X509 *certs[1001];
    certs[0] = leaf;
    for (int i = 1; i < 1001; i++)
        certs[i] = CA;
    ftls_identity_options o = {0};
    struct pem p = pem_of(certs, 1001, k);
    expect_rejected(&o, &p, FTLS_E_CHAIN_ORDER, "1000 certificates follow");
    free(p.crt), free(p.key);
    p = pem_of(certs, 3, k); /* within the limit, but CA twice */
    expect_rejected(&o, &p, FTLS_E_CHAIN_ORDER, "repeats certificate 2");
    free(p.crt), free(p.key);
    ftls_identity_options tight = {.max_chain = 1};
    X509 *two[] = {leaf, CA, CA};
    p = pem_of(two, 3, k);
    expect_rejected(&tight, &p, FTLS_E_CHAIN_ORDER, "at most 1");
    free(p.crt), free(p.key);
    X509_free(leaf);
    EVP_PKEY_free(k);
}

static void test_purpose(void)
{
    EVP_PKEY *k = tu_key();
    X509 *client = issue("clientAuth", 0, k);
    struct pem p = pem_of(&client, 1, k);
    ftls_identity_options server = {0};
    expect_rejected(&server, &p, FTLS_E_KEY_POLICY, "serverAuth");
    ftls_identity_options as_client = {.purpose = FTLS_IDENTITY_CLIENT};
    expect_accepted(&as_client, &p);
    free(p.crt), free(p.key);

    X509 *server_only = issue("serverAuth", 0, k);
    p = pem_of(&server_only, 1, k);
    expect_rejected(&as_client, &p, FTLS_E_KEY_POLICY, "clientAuth");
    free(p.crt), free(p.key);

    X509 *ca = issue(NULL, 1, k);
    p = pem_of(&ca, 1, k);
    ftls_identity_options any = {.purpose = FTLS_IDENTITY_ANY};
    expect_rejected(&any, &p, FTLS_E_KEY_POLICY, "CA certificate");
    free(p.crt), free(p.key);
    X509_free(client);
    X509_free(server_only);
    X509_free(ca);
    EVP_PKEY_free(k);
}

int main(void)
{
    kCA = tu_key();
    struct tu_cert_opts co = {
        .cn = "Policy CA", .ca = 1, .not_before_offset = -86400};
    REQUIRE((CA = tu_cert(&co, kCA, NULL, NULL)) != NULL);
    RUN(test_curves_tls_cannot_use);
    RUN(test_security_level);
    RUN(test_chain_length_and_duplicates);
    RUN(test_purpose);
    X509_free(CA);
    EVP_PKEY_free(kCA);
    return TEST_SUMMARY();
}
