/*
 * The steps of minting one leaf, each timed alone on the OpenSSL in use,
 * so the choice of path in src/mint/mint_key.c can be checked on every
 * version (docs/design/mint.md records the figures). Lines:
 *   BENCH mint.step.<step> <us> us
 * Steps: key generation three ways, setting a certificate's public key
 * from a provider key and from a legacy EC_KEY, the encoded public point,
 * a pre-encoded SubjectPublicKeyInfo decoded, d2i_X509 of a leaf, and one
 * ECDSA signature of a certificate-sized message.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bench.h"

#define REPS 7
#define PER 200

static EVP_PKEY_CTX *g_gen;  /* prepared P-256 keygen context */
static EVP_PKEY *g_key;      /* a provider key */
static EVP_MD_CTX *g_signer; /* a DigestSign context, initialised once */
static unsigned char g_spki[91], g_cert[1024];
static size_t g_cert_len;

typedef void (*step_fn)(void);

static double time_step(step_fn f)
{
    double v[REPS];
    for (int i = 0; i < PER / 4; i++)
        f();
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < PER; i++)
            f();
        v[r] = (bench_now_ns() - t0) / PER / 1000.0;
    }
    return bench_median(v, REPS);
}

static void must(int ok)
{
    if (!ok) {
        fprintf(stderr, "bench_mint_steps: a step failed\n");
        exit(1);
    }
}

static void keygen_evp_ec_gen(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    must(k != NULL);
    EVP_PKEY_free(k);
}

static void keygen_prepared(void)
{
    EVP_PKEY *k = NULL;
    must(EVP_PKEY_generate(g_gen, &k) == 1);
    EVP_PKEY_free(k);
}

static void keygen_prepared_dup(void)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_dup(g_gen);
    EVP_PKEY *k = NULL;
    must(c != NULL && EVP_PKEY_generate(c, &k) == 1);
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(c);
}

static void set_pubkey_provider(void)
{
    X509 *x = X509_new();
    must(x != NULL && X509_set_pubkey(x, g_key) == 1);
    X509_free(x);
}

static void encoded_point(void)
{
    unsigned char pt[65];
    size_t n = 0;
    must(EVP_PKEY_get_octet_string_param(g_key,
                                         OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                         sizeof(pt), &n) == 1 &&
         n == 65);
}

static void spki_decode(void)
{
    const unsigned char *p = g_spki;
    X509_PUBKEY *pub = d2i_X509_PUBKEY(NULL, &p, sizeof(g_spki));
    must(pub != NULL && X509_PUBKEY_get0(pub) != NULL);
    X509_PUBKEY_free(pub);
}

static void cert_decode(void)
{
    const unsigned char *p = g_cert;
    X509 *x = d2i_X509(NULL, &p, (long)g_cert_len);
    must(x != NULL);
    X509_free(x);
}

static void sign_once(void)
{
    unsigned char msg[400] = {0}, sig[80];
    size_t n = sizeof(sig);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    must(m && EVP_MD_CTX_copy_ex(m, g_signer) &&
         EVP_DigestSign(m, sig, &n, msg, sizeof(msg)) == 1);
    EVP_MD_CTX_free(m);
}

#ifndef OPENSSL_NO_DEPRECATED_3_0
#define LEGACY 1
static EC_GROUP *g_group;
static EVP_PKEY *g_legacy;

static void keygen_ec_key(void)
{
    EC_KEY *ec = EC_KEY_new();
    must(ec && EC_KEY_set_group(ec, g_group) && EC_KEY_generate_key(ec));
    EC_KEY_free(ec);
}

static void set_pubkey_legacy(void)
{
    X509 *x = X509_new();
    must(x != NULL && X509_set_pubkey(x, g_legacy) == 1);
    X509_free(x);
}

static void setup_legacy(void)
{
    g_group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_KEY *ec = EC_KEY_new();
    must(g_group && ec && EC_KEY_set_group(ec, g_group) &&
         EC_KEY_generate_key(ec));
    must((g_legacy = EVP_PKEY_new()) && EVP_PKEY_assign_EC_KEY(g_legacy, ec));
}
#endif

static void setup(void)
{
    must((g_gen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
         EVP_PKEY_keygen_init(g_gen) == 1 &&
         EVP_PKEY_CTX_set_group_name(g_gen, "P-256") == 1);
    must(EVP_PKEY_generate(g_gen, &g_key) == 1);
    unsigned char *p = g_spki;
    must(i2d_PUBKEY(g_key, NULL) == (int)sizeof(g_spki) &&
         i2d_PUBKEY(g_key, &p) > 0);
    must((g_signer = EVP_MD_CTX_new()) != NULL &&
         EVP_DigestSignInit_ex(g_signer, NULL, "SHA256", NULL, NULL, g_key,
                               NULL) == 1);
    /* A leaf-shaped certificate to decode. */
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    must(x && n && X509_set_version(x, X509_VERSION_3) &&
         X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"shop.example.com",
                                    -1, -1, 0) &&
         X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
         X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
         X509_set_pubkey(x, g_key) && X509_sign(x, g_key, EVP_sha256()) > 0);
    int len = i2d_X509(x, NULL);
    must(len > 0 && (size_t)len <= sizeof(g_cert));
    p = g_cert;
    g_cert_len = (size_t)i2d_X509(x, &p);
    X509_NAME_free(n);
    X509_free(x);
}

int main(void)
{
    setup();
    bench_line("mint.step.keygen_evp_ec_gen", time_step(keygen_evp_ec_gen),
               "us");
    bench_line("mint.step.keygen_prepared_ctx", time_step(keygen_prepared),
               "us");
    EVP_PKEY_CTX *probe = EVP_PKEY_CTX_dup(g_gen); /* not before 3.x.y */
    if (probe != NULL)
        bench_line("mint.step.keygen_prepared_ctx_dup",
                   time_step(keygen_prepared_dup), "us");
    EVP_PKEY_CTX_free(probe);
    bench_line("mint.step.set_pubkey_provider", time_step(set_pubkey_provider),
               "us");
    bench_line("mint.step.encoded_point", time_step(encoded_point), "us");
    bench_line("mint.step.spki_decode", time_step(spki_decode), "us");
    bench_line("mint.step.d2i_x509", time_step(cert_decode), "us");
    bench_line("mint.step.ecdsa_sign", time_step(sign_once), "us");
#ifdef LEGACY
    setup_legacy();
    bench_line("mint.step.keygen_ec_key", time_step(keygen_ec_key), "us");
    bench_line("mint.step.set_pubkey_legacy", time_step(set_pubkey_legacy),
               "us");
#endif
    return 0;
}
