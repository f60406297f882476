/*
 * Roots, side by side in one run:
 *   cold load of the system bundle: ftls_roots_load_paths() vs
 *     X509_STORE_load_file() (both after OpenSSL is initialised)
 *   chain verification through the lazy store vs an eager store holding
 *     the same bundle plus a test root
 *   warm acquire of the process-wide roots
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include <freshtls/freshtls.h>
#include "testutil.h"
#include "bench.h"

#define REPS 9

static const char *pick_bundle(char *tmp, size_t n)
{
    const char *env = getenv("SSL_CERT_FILE");
    if (env && access(env, R_OK) == 0 && strchr(env, ':') == NULL)
        return env;
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
        return "/etc/ssl/certs/ca-certificates.crt";
    /* No system bundle: measure on the exported Mozilla bundle. */
    ftls_roots *fb = NULL;
    snprintf(tmp, n, "/tmp/freshtls-bench-bundle-%d.pem", (int)getpid());
    if (ftls_roots_load(FTLS_ROOTS_FALLBACK, &fb, NULL) != FTLS_OK ||
        ftls_roots_export_pem(fb, tmp, FTLS_EXPORT_KEEP_ALL_DISTRUSTED, 0, NULL,
                              NULL) != FTLS_OK)
        exit(1);
    ftls_roots_free(fb);
    return tmp;
}

static double time_ours(const char *bundle)
{
    double t0 = bench_now_ns();
    ftls_roots *r = NULL;
    if (ftls_roots_load_paths(bundle, NULL, &r, NULL) != FTLS_OK)
        exit(1);
    double t = bench_now_ns() - t0;
    ftls_roots_free(r);
    return t;
}

static double time_openssl(const char *bundle)
{
    X509_STORE *s = X509_STORE_new();
    double t0 = bench_now_ns();
    if (X509_STORE_load_file(s, bundle) != 1)
        exit(1);
    double t = bench_now_ns() - t0;
    X509_STORE_free(s);
    return t;
}

static int verify_once(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, store, leaf, chain) &&
             X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    return ok;
}

static double time_verify(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain,
                          int n)
{
    double t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (!verify_once(store, leaf, chain))
            exit(1);
    return (bench_now_ns() - t0) / n;
}

static void bench_cold_load(const char *bundle)
{
    /* Warm up OpenSSL (providers, config) so neither side pays for it. */
    time_ours(bundle);
    time_openssl(bundle);
    double ours[REPS], ossl[REPS];
    for (int r = 0; r < REPS; r++) {
        ours[r] = time_ours(bundle);
        ossl[r] = time_openssl(bundle);
    }
    double mo = bench_median(ours, REPS), mx = bench_median(ossl, REPS);
    bench_line("roots.cold_load.ours", mo / 1e6, "ms");
    bench_line("roots.cold_load.openssl", mx / 1e6, "ms");
    bench_ratio("roots.cold_load_vs_openssl", mo, mx);
}

/* A chain under a test root appended to the bundle (written to `both`). */
struct chain {
    EVP_PKEY *kr, *ki, *kl;
    X509 *root, *inter, *leaf;
    STACK_OF(X509) *untrusted;
};

static int make_chain(struct chain *c, const char *bundle, const char *both)
{
    c->kr = tu_key(), c->ki = tu_key(), c->kl = tu_key();
    struct tu_cert_opts ro = {
        .cn = "Bench Root", .ca = 1, .lifetime = 86400L * 3650};
    struct tu_cert_opts io = {
        .cn = "Bench Intermediate", .ca = 1, .lifetime = 86400L * 3650};
    struct tu_cert_opts lo = {.cn = "bench.example",
                              .dns = "bench.example",
                              .eku = "serverAuth",
                              .not_before_offset = -3600};
    c->root = tu_cert(&ro, c->kr, NULL, NULL);
    c->inter = tu_cert(&io, c->ki, c->root, c->kr);
    c->leaf = tu_cert(&lo, c->kl, c->inter, c->ki);
    char *text = tu_read_file(bundle, NULL);
    int ok = c->root && c->inter && c->leaf && text &&
             tu_write_file(both, text, strlen(text)) &&
             tu_write_certs(both, "a", &c->root, 1) &&
             (c->untrusted = sk_X509_new_null()) != NULL &&
             sk_X509_push(c->untrusted, c->inter) > 0;
    free(text);
    return ok;
}

static void free_chain(struct chain *c)
{
    sk_X509_free(c->untrusted);
    X509_free(c->root);
    X509_free(c->inter);
    X509_free(c->leaf);
    EVP_PKEY_free(c->kr);
    EVP_PKEY_free(c->ki);
    EVP_PKEY_free(c->kl);
}

static int bench_verify(const char *both, const struct chain *c)
{
    X509_STORE *eager = X509_STORE_new(), *lazy = NULL;
    ftls_roots *roots = NULL;
    if (eager == NULL || X509_STORE_load_file(eager, both) != 1 ||
        ftls_roots_load_paths(both, NULL, &roots, NULL) != FTLS_OK ||
        ftls_roots_new_store(roots, &lazy, NULL) != FTLS_OK)
        return 0;
    verify_once(eager, c->leaf, c->untrusted); /* warm both */
    verify_once(lazy, c->leaf, c->untrusted);
    /* Alternate which side runs first, so drift favours neither. */
    double le[3 * REPS], ee[3 * REPS];
    for (int r = 0; r < 3 * REPS; r++) {
        X509_STORE *first = r % 2 ? lazy : eager,
                   *second = r % 2 ? eager : lazy;
        double t1 = time_verify(first, c->leaf, c->untrusted, 200);
        double t2 = time_verify(second, c->leaf, c->untrusted, 200);
        le[r] = r % 2 ? t1 : t2;
        ee[r] = r % 2 ? t2 : t1;
    }
    double ml = bench_median(le, 3 * REPS), me = bench_median(ee, 3 * REPS);
    bench_line("roots.verify.lazy", ml / 1e3, "us");
    bench_line("roots.verify.eager", me / 1e3, "us");
    bench_ratio("roots.verify_lazy_vs_eager", ml, me);
    X509_STORE_free(eager);
    X509_STORE_free(lazy);
    ftls_roots_free(roots);
    return 1;
}

/* Cached acquire of the process-wide set (loads once here). */
static int bench_warm_get(void)
{
    ftls_roots *r = NULL;
    if (ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, NULL) != FTLS_OK)
        return 0;
    ftls_roots_free(r);
    double g[REPS];
    for (int k = 0; k < REPS; k++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < 200000; i++) {
            if (ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, NULL) != FTLS_OK)
                return 0;
            ftls_roots_free(r);
        }
        g[k] = (bench_now_ns() - t0) / 200000;
    }
    bench_line("roots.get.warm", bench_median(g, REPS), "ns");
    ftls_roots_stats st;
    if (ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, NULL) == FTLS_OK &&
        ftls_roots_get_stats(r, &st) == FTLS_OK)
        bench_line("roots.system_load_first_call", (double)st.load_ns / 1e6,
                   "ms");
    ftls_roots_free(r);
    return 1;
}

int main(void)
{
    char tmp[256], both[256];
    const char *bundle = pick_bundle(tmp, sizeof(tmp));
    snprintf(both, sizeof(both), "/tmp/freshtls-bench-roots-%d.pem",
             (int)getpid());
    bench_cold_load(bundle);
    struct chain c = {0};
    int ok = make_chain(&c, bundle, both) && bench_verify(both, &c) &&
             bench_warm_get();
    free_chain(&c);
    unlink(both);
    if (bundle == tmp)
        unlink(tmp);
    return ok ? 0 : 1;
}
