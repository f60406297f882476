/* The watcher reloads on every way files change: Kubernetes symlink swap,
 * rename-over saves, in-place overwrites, a directory deleted and
 * recreated; it coalesces bursts; it degrades to polling when inotify is
 * out of watches; and it works from an external event loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>

#include "source/watcher_internal.h"
#include "test.h"
#include "testutil.h"

static char *g_root;
static EVP_PKEY *kCA;
static X509 *CA;

struct material {
    char *crt, *key;
    size_t ncrt, nkey;
};
static struct material g_m[8];

static void make_material(int i, struct material *m)
{
    char cn[64];
    snprintf(cn, sizeof(cn), "gen-%d.example", i);
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = cn, .not_before_offset = -3600};
    X509 *leaf = tu_cert(&o, k, CA, kCA);
    REQUIRE(leaf != NULL);
    m->crt = tu_pem_certs(&leaf, 1, &m->ncrt);
    m->key = tu_pem_key(k, &m->nkey);
    X509_free(leaf);
    EVP_PKEY_free(k);
}

struct counts {
    atomic_int loaded, rejected, unchanged, degraded;
};

static void on_event(const ftls_source_event *ev, void *ud)
{
    struct counts *c = ud;
    if (ev->type == FTLS_EVENT_LOADED)
        atomic_fetch_add(&c->loaded, 1);
    else if (ev->type == FTLS_EVENT_REJECTED)
        atomic_fetch_add(&c->rejected, 1);
    else if (ev->type == FTLS_EVENT_UNCHANGED)
        atomic_fetch_add(&c->unchanged, 1);
    else if (ev->type == FTLS_EVENT_DEGRADED)
        atomic_fetch_add(&c->degraded, 1);
}

static int gen_of(ftls_source *s)
{
    ftls_identity *id = NULL;
    if (ftls_source_get1_identity(s, &id, NULL) != FTLS_OK)
        return -1;
    char cn[64] = "";
    tu_cn(ftls_identity_get0_leaf(id), cn, sizeof(cn));
    ftls_identity_free(id);
    int i = -1;
    return sscanf(cn, "gen-%d", &i) == 1 ? i : -1;
}

struct want {
    ftls_source *s;
    int gen;
};
static int has_gen(void *arg)
{
    struct want *w = arg;
    return gen_of(w->s) == w->gen;
}

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    REQUIRE(tu_write_file(path, data, n));
}

/* Atomic replacement of one file by rename, like editors and mv do. */
static void rename_over(const char *dir, const char *name, const void *d,
                        size_t n)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof(tmp), "%s/.%s.swp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    REQUIRE(tu_write_file(tmp, d, n) && rename(tmp, path) == 0);
}

struct fixture {
    char dir[4096];
    ftls_source *s;
    ftls_watcher *w;
    struct counts c;
};

static void start(struct fixture *f, const char *name, int k8s,
                  const ftls_watcher_options *wo, int thread)
{
    snprintf(f->dir, sizeof(f->dir), "%s/%s", g_root, name);
    REQUIRE(mkdir(f->dir, 0755) == 0);
    if (k8s) {
        REQUIRE(tu_k8s_write_pair(f->dir, g_m[0].crt, g_m[0].ncrt, g_m[0].key,
                                  g_m[0].nkey));
    } else {
        put(f->dir, "tls.crt", g_m[0].crt, g_m[0].ncrt);
        put(f->dir, "tls.key", g_m[0].key, g_m[0].nkey);
    }
    REQUIRE(ftls_source_new_identity_dir(f->dir, NULL, &f->s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_event_callback(f->s, on_event, &f->c) == FTLS_OK);
    REQUIRE(ftls_source_reload(f->s, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_new(wo, &f->w, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_add(f->w, f->s, NULL) == FTLS_OK);
    if (thread)
        REQUIRE(ftls_watcher_start(f->w, NULL) == FTLS_OK);
}

static void stop(struct fixture *f)
{
    ftls_watcher_free(f->w);
    ftls_source_free(f->s);
}

static void test_k8s_swaps(void)
{
    struct fixture f = {0};
    start(&f, "k8s", 1, NULL, 1);
    ftls_source_status st;
    REQUIRE(ftls_source_get_status(f.s, &st) == FTLS_OK);
    CHECK_EQ_INT(st.watching, 1);
    for (int i = 1; i <= 3; i++) {
        REQUIRE(tu_k8s_write_pair(f.dir, g_m[i].crt, g_m[i].ncrt, g_m[i].key,
                                  g_m[i].nkey));
        struct want w = {f.s, i};
        CHECK(tu_wait_until(has_gen, &w, 10));
    }
    CHECK_EQ_INT(atomic_load(&f.c.rejected), 0);
    stop(&f);
}

/* AtomicWriter deletes the old generation right after the swap; those
 * events must not push the swap's reload into the debounce window. With a
 * one-minute window, the reload can only arrive in time via the swap. */
static void test_k8s_swap_not_postponed_by_cleanup(void)
{
    struct fixture f = {0};
    ftls_watcher_options wo = {.debounce_ms = 60000};
    start(&f, "k8s-slow-debounce", 1, &wo, 0); /* we dispatch ourselves */
    REQUIRE(tu_k8s_write_pair(f.dir, g_m[1].crt, g_m[1].ncrt, g_m[1].key,
                              g_m[1].nkey)); /* swap, then delete old dir */
    /* Every event is queued before the first dispatch reads them. */
    int fd = ftls_watcher_get_fd(f.w);
    for (int i = 0; i < 1000 && gen_of(f.s) != 1; i++) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 10) > 0)
            CHECK_EQ_INT(ftls_watcher_dispatch(f.w, NULL), FTLS_OK);
    }
    CHECK_EQ_INT(gen_of(f.s), 1);
    stop(&f);
}

static void test_rename_over_and_in_place(void)
{
    struct fixture f = {0};
    start(&f, "edit", 0, NULL, 1);
    /* Rename-over: key first (rejected pair meanwhile), then certificate. */
    rename_over(f.dir, "tls.key", g_m[1].key, g_m[1].nkey);
    rename_over(f.dir, "tls.crt", g_m[1].crt, g_m[1].ncrt);
    struct want w = {f.s, 1};
    CHECK(tu_wait_until(has_gen, &w, 10));
    /* In-place overwrite in pieces, as cp does with O_TRUNC. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/tls.key", f.dir);
    int fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, g_m[2].key, 40) == 40);
    usleep(2000);
    REQUIRE(write(fd, g_m[2].key + 40, g_m[2].nkey - 40) ==
            (ssize_t)(g_m[2].nkey - 40));
    close(fd);
    snprintf(path, sizeof(path), "%s/tls.crt", f.dir);
    fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, g_m[2].crt, g_m[2].ncrt) == (ssize_t)g_m[2].ncrt);
    close(fd);
    w.gen = 2;
    CHECK(tu_wait_until(has_gen, &w, 10));
    stop(&f);
}

static int rejected_once(void *arg)
{
    return atomic_load(&((struct counts *)arg)->rejected) > 0;
}

static void test_dir_deleted_and_recreated(void)
{
    struct fixture f = {0};
    start(&f, "gone", 0, NULL, 1);
    tu_rmrf(f.dir);
    /* The watcher notices, tries a reload, refuses it and says why; the
     * last good generation stays published. */
    CHECK(tu_wait_until(rejected_once, &f.c, 10));
    CHECK_EQ_INT(gen_of(f.s), 0);
    ftls_source_status st;
    REQUIRE(ftls_source_get_status(f.s, &st) == FTLS_OK);
    CHECK(st.last_error != FTLS_OK);
    REQUIRE(mkdir(f.dir, 0755) == 0);
    put(f.dir, "tls.key", g_m[3].key, g_m[3].nkey);
    put(f.dir, "tls.crt", g_m[3].crt, g_m[3].ncrt);
    struct want w = {f.s, 3};
    CHECK(tu_wait_until(has_gen, &w, 10));
    stop(&f);
}

static int enospc_watch(int fd, const char *path, uint32_t mask)
{
    (void)fd, (void)path, (void)mask;
    errno = ENOSPC;
    return -1;
}

static void test_out_of_watches_degrades_to_polling(void)
{
    ftls__watcher_set_add_watch_hook(enospc_watch);
    struct fixture f = {0};
    ftls_watcher_options wo = {.poll_interval_ms = 20};
    start(&f, "poll", 1, &wo, 1);
    ftls__watcher_set_add_watch_hook(NULL);
    CHECK_EQ_INT(atomic_load(&f.c.degraded), 1);
    ftls_source_status st;
    REQUIRE(ftls_source_get_status(f.s, &st) == FTLS_OK);
    CHECK_EQ_INT(st.watching, 2);
    REQUIRE(tu_k8s_write_pair(f.dir, g_m[4].crt, g_m[4].ncrt, g_m[4].key,
                              g_m[4].nkey));
    struct want w = {f.s, 4};
    CHECK(tu_wait_until(has_gen, &w, 10));
    stop(&f);
}

static void test_forced_polling_sees_same_size_rewrite(void)
{
    struct fixture f = {0};
    ftls_watcher_options wo = {.poll_interval_ms = 20, .force_polling = 1};
    start(&f, "forced", 0, &wo, 1);
    /* New content of the same length: only the content hash can tell. */
    put(f.dir, "tls.key", g_m[5].key, g_m[5].nkey);
    put(f.dir, "tls.crt", g_m[5].crt, g_m[5].ncrt);
    struct want w = {f.s, 5};
    CHECK(tu_wait_until(has_gen, &w, 10));
    /* Polling by configuration is not a degradation: no such event. */
    CHECK_EQ_INT(atomic_load(&f.c.degraded), 0);
    ftls_source_status st;
    REQUIRE(ftls_source_get_status(f.s, &st) == FTLS_OK);
    CHECK_EQ_INT(st.watching, 2);
    stop(&f);
}

static void test_burst_coalesces(void)
{
    struct fixture f = {0};
    ftls_watcher_options wo = {.debounce_ms = 400};
    start(&f, "burst", 0, &wo, 1);
    int before = atomic_load(&f.c.loaded) + atomic_load(&f.c.rejected) +
                 atomic_load(&f.c.unchanged);
    for (int i = 0; i < 20; i++) /* twenty writes in a burst */
        put(f.dir, "tls.crt", g_m[0].crt, g_m[0].ncrt);
    put(f.dir, "tls.key", g_m[6].key, g_m[6].nkey);
    put(f.dir, "tls.crt", g_m[6].crt, g_m[6].ncrt);
    struct want w = {f.s, 6};
    CHECK(tu_wait_until(has_gen, &w, 10));
    usleep(100000);
    int after = atomic_load(&f.c.loaded) + atomic_load(&f.c.rejected) +
                atomic_load(&f.c.unchanged);
    printf("# reloads for a burst of 22 writes: %d\n", after - before);
    /* One reload; two if the burst straddled the window on a slow box. */
    CHECK(after - before >= 1 && after - before <= 2);
    stop(&f);
}

static void test_event_loop_integration(void)
{
    struct fixture f = {0};
    ftls_watcher_options wo = {.debounce_ms = 5};
    start(&f, "loop", 1, &wo, 0);
    int fd = ftls_watcher_get_fd(f.w);
    CHECK(fd >= 0);
    REQUIRE(tu_k8s_write_pair(f.dir, g_m[7].crt, g_m[7].ncrt, g_m[7].key,
                              g_m[7].nkey));
    for (int i = 0; i < 1000 && gen_of(f.s) != 7; i++) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 10) > 0)
            CHECK_EQ_INT(ftls_watcher_dispatch(f.w, NULL), FTLS_OK);
    }
    CHECK_EQ_INT(gen_of(f.s), 7);
    stop(&f);
}

/* An identity that expires while its files stay unchanged: the watcher
 * sends `expiring` (within warn_before_expiry), then `expired`, once each,
 * with no reload, and the status reports the served leaf as expired. */
struct expiry_log {
    atomic_int n, order[8], loaded;
};

static void on_expiry_event(const ftls_source_event *ev, void *ud)
{
    struct expiry_log *l = ud;
    if (ev->type == FTLS_EVENT_LOADED)
        atomic_fetch_add(&l->loaded, 1);
    if (ev->type != FTLS_EVENT_EXPIRING && ev->type != FTLS_EVENT_EXPIRED)
        return;
    int i = atomic_fetch_add(&l->n, 1);
    if (i < 8)
        atomic_store(&l->order[i], (int)ev->type);
}

static int two_notices(void *arg)
{
    return atomic_load(&((struct expiry_log *)arg)->n) >= 2;
}

static void test_expiry_over_time(void)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/expiring", g_root);
    REQUIRE(mkdir(dir, 0755) == 0);
    EVP_PKEY *k = tu_key();
    /* Valid for 4 more seconds; warned about 2 seconds before. */
    struct tu_cert_opts o = {
        .cn = "short.example", .not_before_offset = -60, .lifetime = 64};
    X509 *leaf = tu_cert(&o, k, CA, kCA);
    REQUIRE(leaf != NULL);
    size_t nc = 0, nk = 0;
    char *crt = tu_pem_certs(&leaf, 1, &nc), *key = tu_pem_key(k, &nk);
    put(dir, "tls.crt", crt, nc);
    put(dir, "tls.key", key, nk);
    ftls_identity_options io = {.warn_before_expiry = 2};
    ftls_source *s = NULL;
    ftls_watcher *w = NULL;
    struct expiry_log log = {0};
    REQUIRE(ftls_source_new_identity_dir(dir, &io, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_event_callback(s, on_expiry_event, &log) ==
            FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    ftls_source_status st;
    REQUIRE(ftls_source_get_status(s, &st) == FTLS_OK);
    CHECK(st.seconds_left > 0 && st.seconds_left <= 5);
    REQUIRE(ftls_watcher_new(NULL, &w, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_add(w, s, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_start(w, NULL) == FTLS_OK);
    CHECK(tu_wait_until(two_notices, &log, 20.0));
    ftls_watcher_free(w);
    CHECK_EQ_INT(atomic_load(&log.n), 2); /* once each */
    CHECK_EQ_INT(atomic_load(&log.order[0]), FTLS_EVENT_EXPIRING);
    CHECK_EQ_INT(atomic_load(&log.order[1]), FTLS_EVENT_EXPIRED);
    CHECK_EQ_INT(atomic_load(&log.loaded), 1); /* no reload was needed */
    REQUIRE(ftls_source_get_status(s, &st) == FTLS_OK);
    CHECK_EQ_INT(st.health, FTLS_HEALTH_EXPIRED);
    CHECK(st.seconds_left < 0);
    CHECK_EQ_INT(st.last_error, FTLS_OK); /* the loads worked; it expired */
    ftls_source_free(s);
    free(crt), free(key);
    X509_free(leaf);
    EVP_PKEY_free(k);
}

static void test_api_misuse(void)
{
    ftls_watcher *w = (ftls_watcher *)0x1;
    CHECK_EQ_INT(ftls_watcher_new(NULL, NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    REQUIRE(ftls_watcher_new(NULL, &w, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_watcher_add(w, NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_watcher_add(NULL, NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_source *mem = NULL;
    REQUIRE(ftls_source_new_identity_memory(NULL, &mem, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_watcher_add(w, mem, NULL), FTLS_E_UNSUPPORTED);
    CHECK_EQ_INT(ftls_watcher_remove(w, mem), FTLS_E_NOT_FOUND);
    CHECK_EQ_INT(ftls_watcher_remove(NULL, mem), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_watcher_dispatch(NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_watcher_start(NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_watcher_get_fd(NULL), -1);
    CHECK_EQ_INT(ftls_watcher_start(w, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_watcher_start(w, NULL), FTLS_E_STATE);
    ftls_watcher_stop(w);
    ftls_watcher_stop(w);
    ftls_watcher_stop(NULL);
    ftls_watcher_free(w);
    ftls_watcher_free(NULL);
    ftls_source_free(mem);
}

int main(void)
{
    REQUIRE((g_root = tu_tmpdir()) != NULL);
    kCA = tu_key();
    struct tu_cert_opts o = {
        .cn = "Watch CA", .ca = 1, .lifetime = 86400L * 365};
    REQUIRE((CA = tu_cert(&o, kCA, NULL, NULL)) != NULL);
    for (int i = 0; i < 8; i++)
        make_material(i, &g_m[i]);
    RUN(test_k8s_swaps);
    RUN(test_k8s_swap_not_postponed_by_cleanup);
    RUN(test_rename_over_and_in_place);
    RUN(test_dir_deleted_and_recreated);
    RUN(test_out_of_watches_degrades_to_polling);
    RUN(test_forced_polling_sees_same_size_rewrite);
    RUN(test_burst_coalesces);
    RUN(test_event_loop_integration);
    RUN(test_expiry_over_time);
    RUN(test_api_misuse);
    for (int i = 0; i < 8; i++) {
        free(g_m[i].crt);
        free(g_m[i].key);
    }
    X509_free(CA);
    EVP_PKEY_free(kCA);
    tu_rmrf(g_root);
    free(g_root);
    return TEST_SUMMARY();
}
