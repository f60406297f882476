/*
 * Races made deterministic with the library's test hooks (src/testhook.h):
 * each case blocks one thread at a named point until another has done the
 * thing that used to break it. Under ASan/TSan the old code fails every
 * time; the checks below also catch it in a plain build where they can.
 *
 * Also: fork() while readers, publishers and reloads run (docs/design/fork.md).
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "base/grace.h"
#include "test.h"
#include "base/fork.h"
#include "base/testhook.h"
#include "roots/roots_internal.h"
#include "testutil.h"

/* ---- hook plumbing ----------------------------------------------------- */

/* Which thread should stop at which point, and the semaphores to wait on. */
static _Thread_local int tl_stop_here;
static sem_t g_reached, g_release;

static void hook(enum ftls__hook_point point, const void *arg)
{
    (void)arg;
    if (tl_stop_here == (int)point + 1) {
        tl_stop_here = 0;
        sem_post(&g_reached);
        sem_wait(&g_release);
    }
}

static void hooks_on(void)
{
    REQUIRE(sem_init(&g_reached, 0, 0) == 0 && sem_init(&g_release, 0, 0) == 0);
    ftls__test_hook_set(hook);
}

static void hooks_off(void)
{
    ftls__test_hook_set(NULL);
    sem_destroy(&g_reached);
    sem_destroy(&g_release);
}

/* ---- cell: a publisher reads only what it still owns ------------------- */

static atomic_int g_freed;

static void free_tagged(void *data, void *arg)
{
    (void)arg;
    memset(data, 0xdd, sizeof(uint64_t));
    free(data);
    atomic_fetch_add(&g_freed, 1);
}

static uint64_t *tagged(uint64_t v)
{
    uint64_t *p = malloc(sizeof(*p));
    REQUIRE(p != NULL);
    *p = v;
    return p;
}

struct pub_arg {
    ftls_cell *cell;
    uint64_t gen;
    ftls_code rc;
};

static void *stalled_publisher(void *p)
{
    struct pub_arg *a = p;
    tl_stop_here = FTLS_HOOK_CELL_PUBLISHED + 1;
    a->rc = ftls_cell_publish(a->cell, tagged(1), &a->gen, NULL);
    return NULL;
}

/* Publisher A swaps in its snapshot and stalls just after releasing the
 * publish lock; publisher B replaces and frees A's snapshot; A resumes and
 * must report its generation without touching the freed snapshot. */
static void test_publish_generation_after_replacement(void)
{
    hooks_on();
    atomic_store(&g_freed, 0);
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(free_tagged, NULL, &cell, NULL) == FTLS_OK);
    struct pub_arg a = {.cell = cell};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, stalled_publisher, &a) == 0);
    sem_wait(&g_reached);
    uint64_t gen_b = 0;
    CHECK_EQ_INT(ftls_cell_publish(cell, tagged(2), &gen_b, NULL), FTLS_OK);
    CHECK_EQ_INT(atomic_load(&g_freed), 1); /* A's snapshot is gone */
    sem_post(&g_release);
    pthread_join(th, NULL);
    CHECK_EQ_INT(a.rc, FTLS_OK);
    CHECK_EQ_INT(a.gen, 1);
    CHECK_EQ_INT(gen_b, 2);
    ftls_cell_free(cell);
    hooks_off();
}

/* ---- roots: two threads build the subject index at once ----------------- */

struct index_arg {
    const ftls_roots *roots;
    const struct ftls__subject_index *got;
};

static void *stalled_indexer(void *p)
{
    struct index_arg *a = p;
    tl_stop_here = FTLS_HOOK_ROOTS_INDEX_BUILT + 1;
    a->got = ftls__roots_index(a->roots);
    return NULL;
}

/* Thread A builds the index and stalls before publishing it; the main
 * thread builds and publishes its own; A resumes, loses the race, frees
 * its copy and must return the published one (ASan: no leak, no use after
 * free; every lookup answers from the one index). */
static void test_roots_index_built_twice(void)
{
    hooks_on();
    ftls_roots *r = NULL;
    REQUIRE(ftls_roots_load(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
    struct index_arg a = {.roots = r};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, stalled_indexer, &a) == 0);
    sem_wait(&g_reached);
    const struct ftls__subject_index *mine = ftls__roots_index(r);
    REQUIRE(mine != NULL);
    sem_post(&g_release);
    pthread_join(th, NULL);
    CHECK(a.got == mine);
    ftls_root_info info;
    const size_t *match = NULL;
    REQUIRE(ftls_roots_get0_info(r, 0, &info) == FTLS_OK);
    CHECK(ftls__roots_lookup_subject(r, info.subject, &match) >= 1);
    CHECK(match != NULL && mine->names[*match] != NULL &&
          X509_NAME_cmp(mine->names[*match], info.subject) == 0);
    ftls_roots_free(r);
    hooks_off();
}

/* ---- fork gate: a background thread's try is refused while a fork is
 * being prepared (the mint pool relies on it never waiting there) ------- */

static atomic_int g_try_result = -1;

static void *try_enter(void *arg)
{
    (void)arg;
    int r = ftls__op_try_enter();
    if (r)
        ftls__op_exit();
    atomic_store(&g_try_result, r);
    return NULL;
}

static void prepare_hook(enum ftls__hook_point point, const void *arg)
{
    (void)arg;
    pthread_t th;
    if (point == FTLS_HOOK_FORK_PREPARE &&
        pthread_create(&th, NULL, try_enter, NULL) == 0)
        pthread_join(th, NULL); /* returns at once: the try does not wait */
}

static void test_op_try_enter_refused_while_forking(void)
{
    atomic_store(&g_try_result, -1);
    ftls__test_hook_set(prepare_hook);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    ftls__test_hook_set(NULL);
    REQUIRE(pid > 0);
    waitpid(pid, NULL, 0);
    CHECK_EQ_INT(atomic_load(&g_try_result), 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, try_enter, NULL) == 0);
    pthread_join(th, NULL);
    CHECK_EQ_INT(atomic_load(&g_try_result), 1); /* the gate reopened */
}

/* ---- leaf cache: a new entry is never evicted before its mint ---------- */

static ftls_ca *g_ca;

struct get_arg {
    ftls_leaf_cache *cache;
    const char *name;
    ftls_leaf *leaf;
    ftls_code rc;
};

static void *stalled_minter(void *p)
{
    struct get_arg *a = p;
    tl_stop_here = FTLS_HOOK_LEAF_MINT_BEGIN + 1;
    a->rc = ftls_leaf_cache_get1(a->cache, a->name, &a->leaf, NULL);
    return NULL;
}

static int leaf_has_dns(const ftls_leaf *leaf, const char *name)
{
    X509 *x = ftls_leaf_get0_cert(leaf);
    return x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1;
}

/* Capacity 1: A mints "a" and stalls; B asks for "b". The old cache put
 * "b" in with no in-flight mark and evicted it at once (A's entry being in
 * flight), then wrote to and minted into the freed entry. */
static void test_leaf_cache_evicts_nothing_in_flight(void)
{
    hooks_on();
    ftls_leaf_cache_options o = {.capacity = 1};
    ftls_leaf_cache *c = NULL;
    REQUIRE(ftls_leaf_cache_new(g_ca, &o, &c, NULL) == FTLS_OK);
    struct get_arg a = {.cache = c, .name = "a.example"};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, stalled_minter, &a) == 0);
    sem_wait(&g_reached);

    ftls_leaf *b = NULL;
    CHECK_EQ_INT(ftls_leaf_cache_get1(c, "b.example", &b, NULL), FTLS_OK);
    CHECK(b != NULL && leaf_has_dns(b, "b.example"));
    sem_post(&g_release);
    pthread_join(th, NULL);
    CHECK_EQ_INT(a.rc, FTLS_OK);
    CHECK(a.leaf != NULL && leaf_has_dns(a.leaf, "a.example"));

    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK_EQ_INT(st.mints, 2);
    CHECK(st.size <= 1); /* back within capacity once both settled */
    ftls_leaf_free(a.leaf);
    ftls_leaf_free(b);
    ftls_leaf_cache_free(c);
    hooks_off();
}

/* ---- fork ---------------------------------------------------------------- */

/* Run fn in a forked child with a deadline; 1 when it exited 0 in time. */
static int in_child(void (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a hang becomes SIGALRM, which the parent sees */
        fn(arg);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void child_publish_twice(void *p)
{
    ftls_cell *cell = p;
    uint64_t gen = 0;
    /* The second publish waits out reader windows (a grace period). */
    if (ftls_cell_publish(cell, tagged(10), &gen, NULL) != FTLS_OK ||
        ftls_cell_publish(cell, tagged(11), &gen, NULL) != FTLS_OK)
        _exit(2);
    ftls_snapshot *s = NULL;
    if (ftls_cell_get1_snapshot(cell, &s) != FTLS_OK ||
        *(const uint64_t *)ftls_snapshot_get0_data(s) != 11)
        _exit(3);
    ftls_snapshot_free(s);
}

static sem_t g_in_window, g_leave_window;

static void *reader_in_window(void *p)
{
    ftls_cell *cell = p;
    ftls_snapshot *s = NULL;
    REQUIRE(ftls_cell_get1_snapshot(cell, &s) == FTLS_OK); /* gets a slot */
    ftls_snapshot_free(s);
    uint64_t seq = ftls__grace_enter(ftls__tls_slot);
    sem_post(&g_in_window);
    sem_wait(&g_leave_window);
    ftls__grace_exit(ftls__tls_slot, seq);
    return NULL;
}

/* A thread of the parent is inside its reader window at fork(): in the
 * child that window never closes, and used to block every publish. */
static void test_fork_with_reader_in_window(void)
{
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(free_tagged, NULL, &cell, NULL) == FTLS_OK);
    REQUIRE(ftls_cell_publish(cell, tagged(1), NULL, NULL) == FTLS_OK);
    REQUIRE(sem_init(&g_in_window, 0, 0) == 0 &&
            sem_init(&g_leave_window, 0, 0) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, reader_in_window, cell) == 0);
    sem_wait(&g_in_window);
    CHECK(in_child(child_publish_twice, cell));
    sem_post(&g_leave_window);
    pthread_join(th, NULL);
    sem_destroy(&g_in_window);
    sem_destroy(&g_leave_window);
    ftls_cell_free(cell);
}

/* Busy parent: readers, a publisher and a reloader run while the main
 * thread forks children that read, publish, reload and log. */
struct busy {
    ftls_cell *cell;
    ftls_source *src;
    atomic_int stop;
};

static void *busy_reader(void *p)
{
    struct busy *b = p;
    while (!atomic_load(&b->stop)) {
        ftls_snapshot *s = NULL;
        if (ftls_cell_get1_snapshot(b->cell, &s) == FTLS_OK)
            ftls_snapshot_free(s);
    }
    return NULL;
}

static void *busy_publisher(void *p)
{
    struct busy *b = p;
    for (uint64_t i = 100; !atomic_load(&b->stop); i++)
        if (ftls_cell_publish(b->cell, tagged(i), NULL, NULL) != FTLS_OK)
            break;
    return NULL;
}

static void *busy_reloader(void *p)
{
    struct busy *b = p;
    while (!atomic_load(&b->stop))
        if (ftls_source_reload(b->src, NULL) != FTLS_OK)
            break;
    return NULL;
}

static void quiet_log(ftls_log_level l, const char *m, void *ud)
{
    (void)l, (void)m, (void)ud;
}

static void child_busy(void *p)
{
    struct busy *b = p;
    child_publish_twice(b->cell);
    if (ftls_source_reload(b->src, NULL) != FTLS_OK)
        _exit(4);
    ftls_identity *id = NULL;
    if (ftls_source_get1_identity(b->src, &id, NULL) != FTLS_OK)
        _exit(5);
    ftls_identity_free(id);
}

static void make_memory_source(ftls_source **out)
{
    EVP_PKEY *ck = tu_key(), *lk = tu_key();
    struct tu_cert_opts co = {.cn = "fork CA", .ca = 1};
    X509 *ca = tu_cert(&co, ck, NULL, NULL);
    X509 *leaf = tu_leaf("fork.example", "fork.example", NULL, "serverAuth",
                         -60, 86400, lk, ca, ck);
    REQUIRE(ca && leaf);
    size_t cl = 0, kl = 0;
    char *cp = tu_pem_certs(&leaf, 1, &cl), *kp = tu_pem_key(lk, &kl);
    REQUIRE(ftls_source_new_identity_memory(NULL, out, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(*out, cp, cl, kp, kl, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(*out, NULL) == FTLS_OK);
    free(cp), free(kp);
    X509_free(ca), X509_free(leaf);
    EVP_PKEY_free(ck), EVP_PKEY_free(lk);
}

static void test_fork_under_load(void)
{
    REQUIRE(ftls_log_set_callback(quiet_log, NULL, FTLS_LOG_DEBUG) == FTLS_OK);
    struct busy b = {0};
    REQUIRE(ftls_cell_new(free_tagged, NULL, &b.cell, NULL) == FTLS_OK);
    REQUIRE(ftls_cell_publish(b.cell, tagged(1), NULL, NULL) == FTLS_OK);
    make_memory_source(&b.src);
    pthread_t th[4];
    void *(*fns[4])(void *) = {busy_reader, busy_reader, busy_publisher,
                               busy_reloader};
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, fns[i], &b) == 0);
    int failed = 0;
    for (int i = 0; i < 100; i++)
        failed += !in_child(child_busy, &b);
    CHECK_EQ_INT(failed, 0);
    atomic_store(&b.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ftls_source_free(b.src);
    ftls_cell_free(b.cell);
    REQUIRE(ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) == FTLS_OK);
}

/* A watcher's thread does not survive fork(): in the child it reads as
 * stopped, refuses to run on the parent's descriptors, and frees cleanly. */
static void child_watcher(void *p)
{
    ftls_watcher *w = p;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        _exit(2);
    if (ftls_watcher_start(w, err) != FTLS_E_STATE ||
        strstr(ftls_error_message(err), "fork") == NULL)
        _exit(3);
    if (ftls_watcher_dispatch(w, NULL) != FTLS_E_STATE)
        _exit(4);
    ftls_watcher_free(w); /* must not join a thread that is not here */
    ftls_watcher *fresh = NULL;
    if (ftls_watcher_new(NULL, &fresh, NULL) != FTLS_OK)
        _exit(5);
#ifdef FTLS_TSAN /* TSan cannot start threads in a multi-threaded fork's child */
    if (ftls_watcher_dispatch(fresh, NULL) != FTLS_OK)
        _exit(6);
#else
    if (ftls_watcher_start(fresh, NULL) != FTLS_OK)
        _exit(6);
#endif
    ftls_watcher_free(fresh);
    ftls_error_free(err);
}

static void test_fork_watcher_reported_stopped(void)
{
    ftls_watcher *w = NULL;
    REQUIRE(ftls_watcher_new(NULL, &w, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_start(w, NULL) == FTLS_OK);
    CHECK(in_child(child_watcher, w));
    ftls_watcher_free(w);
}

int main(void)
{
    REQUIRE(ftls_ca_generate(NULL, &g_ca, NULL) == FTLS_OK);
    RUN(test_publish_generation_after_replacement);
    RUN(test_roots_index_built_twice);
    RUN(test_op_try_enter_refused_while_forking);
    RUN(test_leaf_cache_evicts_nothing_in_flight);
    RUN(test_fork_with_reader_in_window);
    RUN(test_fork_under_load);
    RUN(test_fork_watcher_reported_stopped);
    ftls_ca_free(g_ca);
    return TEST_SUMMARY();
}
