/*
 * Attach-mode verification, side by side with plain contexts in one run:
 *   - resumed handshakes (TLS 1.3 tickets, trust unchanged): attached
 *     client and server against static ones;
 *   - full handshakes with CRL checking against a 10,000-entry CRL on the
 *     client's store: attached (anchors from freshtls, CRL from the
 *     application's store) against the same store holding the anchor.
 * Single handshakes, variants interleaved, medians.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "testutil.h"
#include "bench.h"

#define SAMPLES 1500
#define CRL_ENTRIES 10000

static EVP_PKEY *g_kca, *g_kleaf;
static X509 *g_ca, *g_leaf;

static X509_CRL *big_crl(void)
{
    X509_CRL *c = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    if (!c || !t || !serial || !X509_CRL_set_version(c, 1) ||
        !X509_CRL_set_issuer_name(c, X509_get_subject_name(g_ca)) ||
        !X509_gmtime_adj(t, -3600) || !X509_CRL_set1_lastUpdate(c, t) ||
        !X509_gmtime_adj(t, 86400) || !X509_CRL_set1_nextUpdate(c, t))
        exit(1);
    for (long i = 0; i < CRL_ENTRIES; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        /* Serials the leaf (random 64-bit) does not have. */
        if (r == NULL || !ASN1_INTEGER_set(serial, 1000 + i) ||
            !X509_REVOKED_set_serialNumber(r, serial) ||
            !X509_REVOKED_set_revocationDate(r, t) ||
            !X509_CRL_add0_revoked(c, r))
            exit(1);
    }
    if (!X509_CRL_sort(c) || X509_CRL_sign(c, g_kca, EVP_sha256()) <= 0)
        exit(1);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(t);
    return c;
}

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (s == NULL || SSL_CTX_use_certificate(s, g_leaf) != 1 ||
        SSL_CTX_use_PrivateKey(s, g_kleaf) != 1)
        exit(1);
    return s;
}

static SSL_CTX *client_ctx(int with_anchor, X509_CRL *crl)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    X509_STORE *st = c ? SSL_CTX_get_cert_store(c) : NULL;
    if (st == NULL || (with_anchor && !X509_STORE_add_cert(st, g_ca)))
        exit(1);
    if (crl != NULL && (!X509_STORE_add_crl(st, crl) ||
                        !X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK)))
        exit(1);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    return c;
}

/* One handshake, offering `sess` when set; the time in ns. */
static double one(SSL_CTX *sc, SSL_CTX *cc, SSL_SESSION *sess, int want_reuse,
                  SSL_SESSION **keep)
{
    double t0 = bench_now_ns();
    SSL *s = SSL_new(sc), *c = tu_client_ssl(cc, "bench.example");
    if (sess != NULL && !SSL_set_session(c, sess))
        exit(1);
    if (tu_handshake(c, s) != 1 || SSL_session_reused(c) != want_reuse)
        exit(1);
    if (keep != NULL)
        *keep = SSL_get1_session(c);
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c);
    SSL_free(s);
    return bench_now_ns() - t0;
}

/* Interleave two variants, one handshake at a time; medians into m[2]. */
static void compare(SSL_CTX *sc[2], SSL_CTX *cc[2], SSL_SESSION *sess[2],
                    double m[2])
{
    static double t[2][SAMPLES];
    int reuse = sess[0] != NULL;
    for (int i = 0; i < 20; i++) /* warm up */
        for (int v = 0; v < 2; v++)
            one(sc[v], cc[v], sess[v], reuse, NULL);
    for (int i = 0; i < SAMPLES; i++)
        for (int k = 0; k < 2; k++) {
            int v = (i + k) % 2;
            t[v][i] = one(sc[v], cc[v], sess[v], reuse, NULL);
        }
    m[0] = bench_median(t[0], SAMPLES);
    m[1] = bench_median(t[1], SAMPLES);
}

/* Resumption: static pair vs attached client (sessions bound to the
 * roots generation) and attached server (tickets bound to it). */
static int bench_resume(SSL_CTX *sc[2], const ftls_attach_config *acc)
{
    SSL_CTX *cc[2] = {client_ctx(1, NULL), client_ctx(0, NULL)};
    if (ftls_ctx_attach(cc[1], acc, NULL) != FTLS_OK)
        return 0;
    SSL_SESSION *sess[2];
    for (int v = 0; v < 2; v++)
        one(sc[v], cc[v], NULL, 0, &sess[v]);
    double m[2];
    compare(sc, cc, sess, m);
    bench_line("ctx.resume.static", m[0] / 1e3, "us");
    bench_line("ctx.resume.attach", m[1] / 1e3, "us");
    bench_ratio("ctx.resume_attach_vs_static", m[1], m[0]);
    for (int v = 0; v < 2; v++) {
        SSL_SESSION_free(sess[v]);
        SSL_CTX_free(cc[v]);
    }
    return 1;
}

/* Full handshakes under CRL checking with a 10,000-entry CRL. */
static int bench_crl(SSL_CTX *sc[2], const ftls_attach_config *acc)
{
    X509_CRL *crl = big_crl();
    SSL_CTX *cl[2] = {client_ctx(1, crl), client_ctx(0, crl)};
    int ok = ftls_ctx_attach(cl[1], acc, NULL) == FTLS_OK;
    if (ok) {
        SSL_SESSION *none[2] = {NULL, NULL};
        double m[2];
        compare(sc, cl, none, m);
        bench_line("ctx.handshake_crl.static", m[0] / 1e3, "us");
        bench_line("ctx.handshake_crl.attach", m[1] / 1e3, "us");
        bench_ratio("ctx.handshake_attach_crl_vs_static", m[1], m[0]);
    }
    for (int v = 0; v < 2; v++)
        SSL_CTX_free(cl[v]);
    X509_CRL_free(crl);
    return ok;
}

int main(void)
{
    char *dir = tu_tmpdir(), cafile[512];
    g_kca = tu_key(), g_kleaf = tu_key();
    struct tu_cert_opts co = {
        .cn = "Bench Verify CA", .ca = 1, .not_before_offset = -86400};
    g_ca = tu_cert(&co, g_kca, NULL, NULL);
    g_leaf = tu_leaf("bench.example", "bench.example", NULL, "serverAuth",
                     -3600, 86400 * 30, g_kleaf, g_ca, g_kca);
    if (!dir || !g_ca || !g_leaf)
        return 1;
    snprintf(cafile, sizeof(cafile), "%s/ca.pem", dir);
    ftls_source *trust = NULL;
    if (!tu_write_certs(cafile, "w", &g_ca, 1) ||
        ftls_source_new_trust(cafile, NULL, &trust, NULL) != FTLS_OK ||
        ftls_source_reload(trust, NULL) != FTLS_OK)
        return 1;
    ftls_attach_config acc = {.roots = trust};
    SSL_CTX *sc[2] = {server_ctx(), server_ctx()};
    int ok = bench_resume(sc, &acc) && bench_crl(sc, &acc);
    for (int v = 0; v < 2; v++)
        SSL_CTX_free(sc[v]);
    ftls_source_free(trust);
    X509_free(g_leaf);
    X509_free(g_ca);
    EVP_PKEY_free(g_kleaf);
    EVP_PKEY_free(g_kca);
    tu_rmrf(dir);
    free(dir);
    return ok ? 0 : 1;
}
