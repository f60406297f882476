/*
 * Leaf minting, side by side in one run:
 *   mint.fresh  - ftls_leaf_mint (fresh P-256 key, full extensions, signed)
 *                 with a CA whose leaf keys are prepared ahead of time
 *                 (ftls_ca_prepare_keys: what the proxy and serve use)
 *   mint.fresh_inline - the same, the key generated during the mint
 *   mint.naive  - the straightforward OpenSSL path: EVP_EC_gen,
 *                 X509_set_pubkey, X509V3 config extensions, X509_sign
 *   mint.floor  - one EVP_EC_gen P-256 key plus one ECDSA signature by
 *                 the CA key: what no mint can avoid (fresh_vs_floor);
 *                 floor_prepared_keygen generates on a prepared context
 *   mint.cache_hit - ftls_leaf_cache_get1 of a cached name
 *   mint.storm  - 1000 concurrent handshakes over 100 new host names
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "testutil.h"
#include "bench.h"

#define REPS 9
#define PER 100

static int ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* The straightforward path the issue describes, same certificate shape. */
static void naive_mint(X509 *ca, EVP_PKEY *cakey, const char *host)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    unsigned char s[17] = {1};
    BIGNUM *bn = NULL;
    X509_NAME *name = NULL;
    char san[300];
    snprintf(san, sizeof(san), "DNS:%s", host);
    int ok = k && x && RAND_bytes(s + 1, 16) == 1 &&
             (bn = BN_bin2bn(s, 17, NULL)) && X509_set_version(x, 2) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
             (name = tu_name(host)) != NULL && X509_set_subject_name(x, name) &&
             X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
             X509_set_pubkey(x, k) && ext(x, ca, NID_subject_alt_name, san) &&
             ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") &&
             ext(x, ca, NID_key_usage, "critical,digitalSignature") &&
             ext(x, ca, NID_ext_key_usage, "serverAuth") &&
             ext(x, ca, NID_subject_key_identifier, "hash") &&
             ext(x, ca, NID_authority_key_identifier, "keyid:always") &&
             X509_sign(x, cakey, EVP_sha256()) > 0;
    if (!ok)
        exit(1);
    BN_free(bn);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(k);
}

static EVP_PKEY *ca_key_of(ftls_ca *ca)
{
    /* The bench needs the CA's key for the naive path: reload it. */
    char *dir = tu_tmpdir(), c[4200], k[4200];
    snprintf(c, sizeof(c), "%s/ca.crt", dir);
    snprintf(k, sizeof(k), "%s/ca.key", dir);
    if (ftls_ca_export(ca, c, k, NULL) != FTLS_OK)
        exit(1);
    FILE *f = fopen(k, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    tu_rmrf(dir);
    free(dir);
    return key;
}

static ftls_leaf_cache *g_cache;
static SSL_CTX *g_server, *g_client;
static atomic_int g_next, g_fail;

static void *storm(void *arg)
{
    (void)arg;
    int i;
    while ((i = atomic_fetch_add(&g_next, 1)) < 1000) {
        char host[64];
        snprintf(host, sizeof(host), "host%d.storm.example", i % 100);
        SSL *s = SSL_new(g_server), *c = tu_client_ssl(g_client, host);
        if (tu_handshake(c, s) != 1)
            atomic_fetch_add(&g_fail, 1);
        SSL_free(c);
        SSL_free(s);
    }
    return NULL;
}

/* The floor: what any mint must do, one P-256 key generation and one
 * ECDSA signature (by the CA key, over a TBS-sized message). Keygen as
 * EVP_EC_gen, and, stricter, on a prepared context. */
static EVP_MD_CTX *g_floor_signer;
static EVP_PKEY_CTX *g_floor_gen;

static int floor_sign(void)
{
    unsigned char msg[400] = {0x30}, sig[80];
    size_t n = sizeof(sig);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_MD_CTX_copy_ex(m, g_floor_signer) &&
             EVP_DigestSign(m, sig, &n, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

static int floor_once(int prepared)
{
    EVP_PKEY *k = NULL;
    if (prepared)
        (void)EVP_PKEY_generate(g_floor_gen, &k);
    else
        k = EVP_EC_gen("P-256");
    int ok = k != NULL && floor_sign();
    EVP_PKEY_free(k);
    return ok;
}

static int floor_setup(EVP_PKEY *cakey)
{
    return (g_floor_signer = EVP_MD_CTX_new()) != NULL &&
           EVP_DigestSignInit_ex(g_floor_signer, NULL, "SHA256", NULL, NULL,
                                 cakey, NULL) == 1 &&
           (g_floor_gen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) !=
               NULL &&
           EVP_PKEY_keygen_init(g_floor_gen) == 1 &&
           EVP_PKEY_CTX_set_group_name(g_floor_gen, "P-256") == 1;
}

static int mint_once(ftls_ca *ca)
{
    ftls_leaf *l = NULL;
    if (ftls_leaf_mint(ca, "shop.example.com", NULL, 0, &l, NULL) != FTLS_OK)
        return 0;
    ftls_leaf_free(l);
    return 1;
}

/* Ours (prepared keys, and inline), the naive path and the floors,
 * interleaved in each repetition. */
static int bench_fresh_vs_naive(ftls_ca *ca, X509 *cacert, EVP_PKEY *cakey)
{
    ftls_ca *pooled = NULL; /* a CA like `ca`, with prepared keys */
    if (!floor_setup(cakey) ||
        ftls_ca_generate(NULL, &pooled, NULL) != FTLS_OK ||
        ftls_ca_prepare_keys(pooled, 128, NULL) != FTLS_OK)
        return 0;
    for (int i = 0; i < 20; i++) { /* warm up every path */
        if (!mint_once(ca) || !mint_once(pooled) || !floor_once(0) ||
            !floor_once(1))
            return 0;
        naive_mint(cacert, cakey, "warm.example");
    }
    double fr[REPS], fi[REPS], nv[REPS], fl[REPS], fp[REPS];
    for (int r = 0; r < REPS; r++) {
        double ti = bench_now_ns();
        for (int i = 0; i < PER; i++)
            if (!mint_once(ca))
                return 0;
        double t0 = bench_now_ns();
        for (int i = 0; i < PER; i++)
            if (!mint_once(pooled))
                return 0;
        double t1 = bench_now_ns();
        fi[r] = (t0 - ti) / PER;
        for (int i = 0; i < PER; i++)
            naive_mint(cacert, cakey, "shop.example.com");
        double t2 = bench_now_ns();
        for (int i = 0; i < PER; i++)
            if (!floor_once(0))
                return 0;
        double t3 = bench_now_ns();
        for (int i = 0; i < PER; i++)
            if (!floor_once(1))
                return 0;
        double t4 = bench_now_ns();
        fr[r] = (t1 - t0) / PER, nv[r] = (t2 - t1) / PER;
        fl[r] = (t3 - t2) / PER, fp[r] = (t4 - t3) / PER;
    }
    double mf = bench_median(fr, REPS), mn = bench_median(nv, REPS);
    double mfl = bench_median(fl, REPS), mfp = bench_median(fp, REPS);
    double mi = bench_median(fi, REPS);
    bench_line("mint.fresh", mf / 1e3, "us");
    bench_line("mint.fresh_inline", mi / 1e3, "us");
    bench_line("mint.naive", mn / 1e3, "us");
    bench_line("mint.floor", mfl / 1e3, "us");
    bench_line("mint.floor_prepared_keygen", mfp / 1e3, "us");
    bench_ratio("mint.fresh_vs_naive", mf, mn);
    bench_ratio("mint.fresh_vs_floor", mf, mfl);
    bench_ratio("mint.fresh_vs_floor_prepared_keygen", mf, mfp);
    bench_ratio("mint.fresh_inline_vs_floor", mi, mfl);
    ftls_ca_free(pooled);
    EVP_MD_CTX_free(g_floor_signer);
    EVP_PKEY_CTX_free(g_floor_gen);
    return 1;
}

static int bench_cache_hit(ftls_ca *ca)
{
    ftls_leaf *l = NULL;
    if (ftls_leaf_cache_new(ca, NULL, &g_cache, NULL) != FTLS_OK ||
        ftls_leaf_cache_get1(g_cache, "hit.example", &l, NULL) != FTLS_OK)
        return 0;
    ftls_leaf_free(l);
    double h[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < 200000; i++) {
            if (ftls_leaf_cache_get1(g_cache, "hit.example", &l, NULL) !=
                FTLS_OK)
                return 0;
            ftls_leaf_free(l);
        }
        h[r] = (bench_now_ns() - t0) / 200000;
    }
    bench_line("mint.cache_hit", bench_median(h, REPS), "ns");
    ftls_leaf_cache_free(g_cache);
    g_cache = NULL;
    return 1;
}

/* The storm: 1000 handshakes, 8 at a time, over 100 new names. */
static int bench_storm(ftls_ca *ca, X509 *cacert)
{
    if (ftls_leaf_cache_new(ca, NULL, &g_cache, NULL) != FTLS_OK)
        return 0;
    g_server = SSL_CTX_new(TLS_server_method());
    g_client = SSL_CTX_new(TLS_client_method());
    if (g_server == NULL || g_client == NULL)
        return 0;
    SSL_CTX_set_verify(g_client, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(g_client), cacert);
    if (ftls_leaf_cache_attach(g_server, g_cache, NULL, NULL, NULL) != FTLS_OK)
        return 0;
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, storm, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    ftls_leaf_cache_stats st;
    if (ftls_leaf_cache_get_stats(g_cache, &st) != FTLS_OK)
        return 0;
    bench_line("mint.storm.handshakes", 1000, "count");
    bench_line("mint.storm.failed_handshakes", atomic_load(&g_fail), "count");
    bench_line("mint.storm.hosts", (double)st.size, "count");
    bench_line("mint.storm.mints", (double)st.mints, "count");
    SSL_CTX_free(g_server);
    SSL_CTX_free(g_client);
    ftls_leaf_cache_free(g_cache);
    return 1;
}

int main(void)
{
    ftls_ca *ca = NULL;
    if (ftls_ca_generate(NULL, &ca, NULL) != FTLS_OK)
        return 1;
    EVP_PKEY *cakey = ca_key_of(ca);
    X509 *cacert = ftls_ca_get0_cert(ca);
    int ok = bench_fresh_vs_naive(ca, cacert, cakey) && bench_cache_hit(ca) &&
             bench_storm(ca, cacert);
    EVP_PKEY_free(cakey);
    ftls_ca_free(ca);
    return ok ? 0 : 1;
}
