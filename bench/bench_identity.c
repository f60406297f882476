/*
 * Identity reloads:
 *   identity.reload_latency.p50/p99 - from the rename() that swaps a
 *     Kubernetes ..data symlink to the new generation being published,
 *     with the watcher thread on inotify, over 300 rotations;
 *   identity.load - one ftls_source_reload() of a changed generation
 *     (read both files consistently, parse, validate, publish).
 */
#include <sched.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freshtls/freshtls.h>
#include "testutil.h"
#include "bench.h"

#define ROTATIONS 300

struct material {
    char *crt, *key;
    size_t ncrt, nkey;
};

static void make(const char *cn, EVP_PKEY *kca, X509 *ca, struct material *m)
{
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = cn, .dns = cn, .not_before_offset = -3600};
    X509 *leaf = tu_cert(&o, k, ca, kca);
    X509 *chain[2] = {leaf, ca};
    m->crt = tu_pem_certs(chain, 2, &m->ncrt);
    m->key = tu_pem_key(k, &m->nkey);
    X509_free(leaf);
    EVP_PKEY_free(k);
}

/* Stage a generation directory and ..data_tmp; the caller renames. */
static void stage(const char *dir, int n, const struct material *m, char *gen,
                  size_t gn)
{
    char p[4200];
    snprintf(gen, gn, "..gen%d", n);
    snprintf(p, sizeof(p), "%s/%s", dir, gen);
    if (mkdir(p, 0755) != 0)
        exit(1);
    snprintf(p, sizeof(p), "%s/%s/tls.crt", dir, gen);
    if (!tu_write_file(p, m->crt, m->ncrt))
        exit(1);
    snprintf(p, sizeof(p), "%s/%s/tls.key", dir, gen);
    if (!tu_write_file(p, m->key, m->nkey))
        exit(1);
    snprintf(p, sizeof(p), "%s/..data_tmp", dir);
    if (symlink(gen, p) != 0)
        exit(1);
}

/* A Kubernetes-style secret directory being rotated. */
struct secret {
    char dir[PATH_MAX - 128], p[PATH_MAX], q[PATH_MAX], gen[64], old[64];
    struct material m[2];
};

static void setup_secret(struct secret *k, const char *root)
{
    snprintf(k->dir, sizeof(k->dir), "%s/secret", root);
    mkdir(k->dir, 0755);
    stage(k->dir, 0, &k->m[0], k->gen, sizeof(k->gen));
    snprintf(k->p, sizeof(k->p), "%s/..data_tmp", k->dir);
    snprintf(k->q, sizeof(k->q), "%s/..data", k->dir);
    rename(k->p, k->q);
    snprintf(k->p, sizeof(k->p), "%s/tls.crt", k->dir);
    symlink("..data/tls.crt", k->p);
    snprintf(k->p, sizeof(k->p), "%s/tls.key", k->dir);
    symlink("..data/tls.key", k->p);
    snprintf(k->old, sizeof(k->old), "%s", k->gen);
}

/* Swap ..data to generation n (content i % 2), timing from the rename. */
static double swap(struct secret *k, int n, int content)
{
    stage(k->dir, n, &k->m[content], k->gen, sizeof(k->gen));
    snprintf(k->p, sizeof(k->p), "%s/..data_tmp", k->dir);
    double t0 = bench_now_ns();
    if (rename(k->p, k->q) != 0)
        exit(1);
    return t0;
}

/* AtomicWriter deletes the old generation last. */
static void drop_old(struct secret *k)
{
    snprintf(k->p, sizeof(k->p), "%s/%s", k->dir, k->old);
    tu_rmrf(k->p);
    snprintf(k->old, sizeof(k->old), "%s", k->gen);
}

static void bench_reload_latency(struct secret *k, ftls_source *src)
{
    double lat[ROTATIONS];
    for (int i = 1; i <= ROTATIONS; i++) {
        uint64_t g0 = ftls_source_generation(src);
        double t0 = swap(k, i, i % 2), deadline = t0 + 5e9;
        while (ftls_source_generation(src) == g0 && bench_now_ns() < deadline)
            sched_yield();
        lat[i - 1] = (bench_now_ns() - t0) / 1e6;
        drop_old(k);
        usleep(2000);
    }
    qsort(lat, ROTATIONS, sizeof(double), bench_cmp_double);
    bench_line("identity.reload_latency.p50", lat[ROTATIONS / 2], "ms");
    bench_line("identity.reload_latency.p99", lat[ROTATIONS * 99 / 100], "ms");
    bench_line("identity.reload_latency.max", lat[ROTATIONS - 1], "ms");
    bench_line("identity.rotations", ROTATIONS, "count");
}

/* One load: alternate contents so every reload publishes. */
static void bench_load(struct secret *k, ftls_source *src)
{
    double t[200];
    for (int i = 0; i < 200; i++) {
        swap(k, 1000 + i, i % 2);
        double t0 = bench_now_ns();
        if (ftls_source_reload(src, NULL) != FTLS_OK)
            exit(1);
        t[i] = (bench_now_ns() - t0) / 1e3;
        drop_old(k);
    }
    bench_line("identity.load", bench_median(t, 200), "us");
}

int main(void)
{
    char *root = tu_tmpdir();
    if (root == NULL)
        return 1;
    EVP_PKEY *kca = tu_key();
    struct tu_cert_opts co = {
        .cn = "Bench CA", .ca = 1, .lifetime = 86400L * 365};
    X509 *ca = tu_cert(&co, kca, NULL, NULL);
    static struct secret k;
    make("a.example", kca, ca, &k.m[0]);
    make("b.example", kca, ca, &k.m[1]);
    setup_secret(&k, root);
    ftls_source *src = NULL;
    ftls_watcher *w = NULL;
    if (ftls_source_new_identity_dir(k.dir, NULL, &src, NULL) != FTLS_OK ||
        ftls_source_reload(src, NULL) != FTLS_OK ||
        ftls_watcher_new(NULL, &w, NULL) != FTLS_OK ||
        ftls_watcher_add(w, src, NULL) != FTLS_OK ||
        ftls_watcher_start(w, NULL) != FTLS_OK)
        return 1;
    bench_reload_latency(&k, src);
    ftls_watcher_stop(w);
    bench_load(&k, src);
    ftls_watcher_free(w);
    ftls_source_free(src);
    for (int i = 0; i < 2; i++) {
        free(k.m[i].crt);
        free(k.m[i].key);
    }
    X509_free(ca);
    EVP_PKEY_free(kca);
    tu_rmrf(root);
    free(root);
    return 0;
}
