/*
 * Identity reloads:
 *   identity.reload_latency.p50/p99 - from the rename() that swaps a
 *     Kubernetes ..data symlink to the new generation being published,
 *     with the watcher thread on inotify, over 300 rotations;
 *   identity.load - one ftls_source_reload() of a changed generation
 *     (read both files consistently, parse, validate, publish).
 */
#include <sched.h>
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

int main(void)
{
    char *root = tu_tmpdir();
    if (root == NULL)
        return 1;
    EVP_PKEY *kca = tu_key();
    struct tu_cert_opts co = {.cn = "Bench CA", .ca = 1, .lifetime = 86400L * 365};
    X509 *ca = tu_cert(&co, kca, NULL, NULL);
    struct material m[2];
    make("a.example", kca, ca, &m[0]);
    make("b.example", kca, ca, &m[1]);

    char dir[4096], p[4200], q[4200], gen[64], old[64] = "";
    snprintf(dir, sizeof(dir), "%s/secret", root);
    mkdir(dir, 0755);
    stage(dir, 0, &m[0], gen, sizeof(gen));
    snprintf(p, sizeof(p), "%s/..data_tmp", dir);
    snprintf(q, sizeof(q), "%s/..data", dir);
    rename(p, q);
    snprintf(p, sizeof(p), "%s/tls.crt", dir);
    symlink("..data/tls.crt", p);
    snprintf(p, sizeof(p), "%s/tls.key", dir);
    symlink("..data/tls.key", p);
    snprintf(old, sizeof(old), "%s", gen);

    ftls_source *src = NULL;
    ftls_watcher *w = NULL;
    if (ftls_source_new_identity_dir(dir, NULL, &src, NULL) != FTLS_OK ||
        ftls_source_reload(src, NULL) != FTLS_OK ||
        ftls_watcher_new(NULL, &w, NULL) != FTLS_OK ||
        ftls_watcher_add(w, src, NULL) != FTLS_OK ||
        ftls_watcher_start(w, NULL) != FTLS_OK)
        return 1;

    double lat[ROTATIONS];
    for (int i = 1; i <= ROTATIONS; i++) {
        stage(dir, i, &m[i % 2], gen, sizeof(gen));
        uint64_t g0 = ftls_source_generation(src);
        snprintf(p, sizeof(p), "%s/..data_tmp", dir);
        double t0 = bench_now_ns();
        if (rename(p, q) != 0)
            return 1;
        double deadline = t0 + 5e9;
        while (ftls_source_generation(src) == g0 && bench_now_ns() < deadline)
            sched_yield();
        lat[i - 1] = (bench_now_ns() - t0) / 1e6;
        snprintf(p, sizeof(p), "%s/%s", dir, old);
        tu_rmrf(p); /* AtomicWriter deletes the old generation last */
        snprintf(old, sizeof(old), "%s", gen);
        usleep(2000);
    }
    ftls_watcher_stop(w);
    qsort(lat, ROTATIONS, sizeof(double), bench_cmp_double);
    bench_line("identity.reload_latency.p50", lat[ROTATIONS / 2], "ms");
    bench_line("identity.reload_latency.p99", lat[ROTATIONS * 99 / 100], "ms");
    bench_line("identity.reload_latency.max", lat[ROTATIONS - 1], "ms");
    bench_line("identity.rotations", ROTATIONS, "count");

    /* One load: alternate contents so every reload publishes. */
    double t[200];
    for (int i = 0; i < 200; i++) {
        stage(dir, 1000 + i, &m[i % 2], gen, sizeof(gen));
        snprintf(p, sizeof(p), "%s/..data_tmp", dir);
        rename(p, q);
        double t0 = bench_now_ns();
        if (ftls_source_reload(src, NULL) != FTLS_OK)
            return 1;
        t[i] = (bench_now_ns() - t0) / 1e3;
        snprintf(p, sizeof(p), "%s/%s", dir, old);
        tu_rmrf(p);
        snprintf(old, sizeof(old), "%s", gen);
    }
    bench_line("identity.load", bench_median(t, 200), "us");

    ftls_watcher_free(w);
    ftls_source_free(src);
    for (int i = 0; i < 2; i++) {
        free(m[i].crt);
        free(m[i].key);
    }
    X509_free(ca);
    EVP_PKEY_free(kca);
    tu_rmrf(root);
    free(root);
    return 0;
}
