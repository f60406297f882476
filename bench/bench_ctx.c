/*
 * SSL contexts, side by side in one run:
 *   full handshakes (client + server in one thread over a BIO pair, TLS 1.3,
 *   ECDSA P-256) with static contexts, attached contexts and factory
 *   contexts holding the same material; get1_ctx cost; and >= 1000
 *   rotations during continuous handshakes on 2 threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freshtls/freshtls.h>
#include "testutil.h"
#include "bench.h"

#define REPS 11
#define SAMPLES 1500
#define ROTATIONS 1000

struct material {
    char *crt, *key;
    size_t ncrt, nkey;
};

static EVP_PKEY *g_kca;
static X509 *g_ca;

static void make(struct material *m)
{
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = "bench.example",
                             .dns = "bench.example",
                             .eku = "serverAuth",
                             .not_before_offset = -3600};
    X509 *x = tu_cert(&o, k, g_ca, g_kca);
    X509 *chain[2] = {x, g_ca};
    m->crt = tu_pem_certs(chain, 2, &m->ncrt);
    m->key = tu_pem_key(k, &m->nkey);
    X509_free(x);
    EVP_PKEY_free(k);
}

static double time_handshakes(SSL_CTX *sc, SSL_CTX *cc, ftls_ctx_factory *sf,
                              ftls_ctx_factory *cf, int n)
{
    double t0 = bench_now_ns();
    for (int i = 0; i < n; i++) {
        SSL_CTX *s_ctx = sf ? ftls_ctx_factory_get1_ctx(sf) : sc;
        SSL_CTX *c_ctx = cf ? ftls_ctx_factory_get1_ctx(cf) : cc;
        SSL *s = SSL_new(s_ctx), *c = tu_client_ssl(c_ctx, "bench.example");
        if (sf)
            SSL_CTX_free(s_ctx);
        if (cf)
            SSL_CTX_free(c_ctx);
        if (tu_handshake(c, s) != 1)
            exit(1);
        SSL_free(c);
        SSL_free(s);
    }
    return (bench_now_ns() - t0) / n;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static ftls_ctx_factory *g_sf, *g_cf;
static atomic_int g_stop, g_fail, g_count;
static atomic_ullong g_max_live;

static void *handshaker(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        SSL_CTX *sc = ftls_ctx_factory_get1_ctx(g_sf);
        SSL_CTX *cc = ftls_ctx_factory_get1_ctx(g_cf);
        SSL *s = SSL_new(sc), *c = tu_client_ssl(cc, "bench.example");
        SSL_CTX_free(sc);
        SSL_CTX_free(cc);
        if (tu_handshake(c, s) != 1)
            atomic_fetch_add(&g_fail, 1);
        atomic_fetch_add(&g_count, 1);
        uint64_t live = ftls_ctx_live_count();
        unsigned long long m = atomic_load(&g_max_live);
        while (live > m && !atomic_compare_exchange_weak(&g_max_live, &m, live))
            ;
        SSL_free(c);
        SSL_free(s);
    }
    return NULL;
}

/* Everything the measurements share. */
struct env {
    char *dir, cafile[PATH_MAX];
    struct material m[2];
    ftls_source *id, *trust;
    ftls_identity *ident;
    SSL_CTX *ss, *sc; /* static: plain contexts holding the same material */
    SSL_CTX *as, *ac; /* attach: application contexts with freshtls callbacks */
};

static int setup_sources(struct env *e)
{
    e->dir = tu_tmpdir();
    g_kca = tu_key();
    struct tu_cert_opts co = {.cn = "Bench CA", .ca = 1};
    g_ca = tu_cert(&co, g_kca, NULL, NULL);
    if (!e->dir || !g_ca)
        return 0;
    snprintf(e->cafile, sizeof(e->cafile), "%s/ca.pem", e->dir);
    if (!tu_write_certs(e->cafile, "w", &g_ca, 1))
        return 0;
    make(&e->m[0]);
    make(&e->m[1]);
    return ftls_source_new_identity_memory(NULL, &e->id, NULL) == FTLS_OK &&
           ftls_source_set_memory(e->id, e->m[0].crt, e->m[0].ncrt, e->m[0].key,
                                  e->m[0].nkey, NULL) == FTLS_OK &&
           ftls_source_reload(e->id, NULL) == FTLS_OK &&
           ftls_source_new_trust(e->cafile, NULL, &e->trust, NULL) == FTLS_OK &&
           ftls_source_reload(e->trust, NULL) == FTLS_OK &&
           ftls_source_get1_identity(e->id, &e->ident, NULL) == FTLS_OK;
}

static int setup_contexts(struct env *e)
{
    e->ss = SSL_CTX_new(TLS_server_method());
    e->sc = SSL_CTX_new(TLS_client_method());
    e->as = SSL_CTX_new(TLS_server_method());
    e->ac = SSL_CTX_new(TLS_client_method());
    if (!e->ss || !e->sc || !e->as || !e->ac ||
        ftls_identity_use_ctx(e->ident, e->ss, NULL) != FTLS_OK ||
        SSL_CTX_load_verify_file(e->sc, e->cafile) != 1)
        return 0;
    SSL_CTX_set_verify(e->sc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify(e->ac, SSL_VERIFY_PEER, NULL);
    ftls_attach_identity ai = {NULL, e->id};
    ftls_attach_config acs = {.identities = &ai, .n_identities = 1};
    ftls_attach_config acc = {.roots = e->trust};
    ftls_ctx_template ts = {.is_server = 1}, tc = {.is_server = 0};
    return ftls_ctx_attach(e->as, &acs, NULL) == FTLS_OK &&
           ftls_ctx_attach(e->ac, &acc, NULL) == FTLS_OK &&
           ftls_ctx_factory_new(&ts, &g_sf, NULL) == FTLS_OK &&
           ftls_ctx_factory_set_identity(g_sf, e->id, NULL) == FTLS_OK &&
           ftls_ctx_factory_build(g_sf, NULL) == FTLS_OK &&
           ftls_ctx_factory_new(&tc, &g_cf, NULL) == FTLS_OK &&
           ftls_ctx_factory_set_roots(g_cf, e->trust, NULL) == FTLS_OK &&
           ftls_ctx_factory_build(g_cf, NULL) == FTLS_OK;
}

/* One handshake at a time, the three variants interleaved in a rotating
 * order, so machine drift lands on all of them alike; medians. */
static void bench_handshakes(const struct env *e)
{
    time_handshakes(e->ss, e->sc, NULL, NULL, 20); /* warm up every path */
    time_handshakes(e->as, e->ac, NULL, NULL, 20);
    time_handshakes(NULL, NULL, g_sf, g_cf, 20);
    static double st[SAMPLES], at[SAMPLES], ft[SAMPLES];
    for (int r = 0; r < SAMPLES; r++) {
        for (int k = 0; k < 3; k++) {
            int which = (r + k) % 3;
            if (which == 0)
                st[r] = time_handshakes(e->ss, e->sc, NULL, NULL, 1);
            else if (which == 1)
                at[r] = time_handshakes(e->as, e->ac, NULL, NULL, 1);
            else
                ft[r] = time_handshakes(NULL, NULL, g_sf, g_cf, 1);
        }
    }
    double ms = bench_median(st, SAMPLES), ma = bench_median(at, SAMPLES),
           mf = bench_median(ft, SAMPLES);
    bench_line("ctx.handshake.static", ms / 1e3, "us");
    bench_line("ctx.handshake.attach", ma / 1e3, "us");
    bench_line("ctx.handshake.factory", mf / 1e3, "us");
    bench_ratio("ctx.handshake_attach_vs_static", ma, ms);
    bench_ratio("ctx.handshake_factory_vs_static", mf, ms);
}

static void bench_get1(void)
{
    double g[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < 200000; i++)
            SSL_CTX_free(ftls_ctx_factory_get1_ctx(g_sf));
        g[r] = (bench_now_ns() - t0) / 200000;
    }
    bench_line("ctx.get1", bench_median(g, REPS), "ns");
}

/* Rotations under continuous handshakes on 2 threads. */
static int bench_rotations(struct env *e)
{
    long rss0 = rss_kib();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, handshaker, NULL) != 0)
            return 0;
    int ok = 1;
    for (int r = 1; r <= ROTATIONS && ok; r++) {
        const struct material *mm = &e->m[r % 2];
        ok = ftls_source_set_memory(e->id, mm->crt, mm->ncrt, mm->key, mm->nkey,
                                    NULL) == FTLS_OK &&
             ftls_source_reload(e->id, NULL) == FTLS_OK;
        if (r == ROTATIONS / 10)
            rss0 = rss_kib(); /* after warm-up: caches and arenas settled */
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ftls_ctx_stats cs;
    if (!ok || ftls_ctx_factory_get_stats(g_sf, &cs) != FTLS_OK)
        return 0;
    bench_line("ctx.rotation.rotations", (double)(cs.built - 1), "count");
    bench_line("ctx.rotation.failed_handshakes", atomic_load(&g_fail), "count");
    bench_line("ctx.rotation.handshakes", atomic_load(&g_count), "count");
    bench_line("ctx.rotation.max_live_contexts",
               (double)atomic_load(&g_max_live), "count");
    bench_line("ctx.rotation.live_contexts_after", (double)cs.live, "count");
    bench_line("ctx.rotation.rss_start", (double)rss0, "KiB");
    bench_line("ctx.rotation.rss_end", (double)rss_kib(), "KiB");
    return 1;
}

static void teardown(struct env *e)
{
    ftls_identity_free(e->ident);
    SSL_CTX_free(e->ss);
    SSL_CTX_free(e->sc);
    SSL_CTX_free(e->as);
    SSL_CTX_free(e->ac);
    ftls_ctx_factory_free(g_sf);
    ftls_ctx_factory_free(g_cf);
    ftls_source_free(e->id);
    ftls_source_free(e->trust);
    for (int i = 0; i < 2; i++) {
        free(e->m[i].crt);
        free(e->m[i].key);
    }
    X509_free(g_ca);
    EVP_PKEY_free(g_kca);
    if (e->dir != NULL)
        tu_rmrf(e->dir);
    free(e->dir);
}

int main(void)
{
    static struct env e;
    if (!setup_sources(&e) || !setup_contexts(&e))
        return 1;
    bench_handshakes(&e);
    bench_get1();
    int ok = bench_rotations(&e);
    teardown(&e);
    return ok ? 0 : 1;
}
