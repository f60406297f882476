/*
 * The process-wide roots: one load for all first callers, lock-free reads
 * afterwards, sticky errors, refresh by atomic swap, and a change watcher.
 *
 * Each origin (system, fallback, auto, both) has a snapshot cell whose
 * snapshots are results: either a root set or the error that stands for
 * it. Readers only ever acquire a snapshot; the mutex below is taken by
 * loaders, and by readers only when no result exists yet (the very first
 * call), which is exactly when they must wait for the single load.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fork.h"
#include "roots/roots_internal.h"

struct result {
    ftls_roots *roots; /* or NULL with error set */
    ftls_error *error;
};

static pthread_mutex_t g_load_lock = PTHREAD_MUTEX_INITIALIZER;
static ftls_cell *g_cells[4];
static ftls_code g_init_rc = FTLS_OK;
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t g_generation;

static void result_free(void *data, void *arg)
{
    (void)arg;
    struct result *res = data;
    ftls_roots_free(res->roots);
    ftls_error_free(res->error);
    ftls__free(res);
}

static void init_cells(void)
{
    for (int i = 0; i < 4; i++)
        if (ftls_cell_new(result_free, NULL, &g_cells[i], NULL) != FTLS_OK)
            g_init_rc = FTLS_E_NOMEM;
}

/* Publish roots (a new reference is taken) or an error for one origin. */
static FTLS_NODISCARD ftls_code publish(ftls_roots_origin s, ftls_roots *roots,
                                        const ftls_error *error)
{
    struct result *res = ftls__calloc(1, sizeof(*res));
    if (res == NULL)
        return FTLS_E_NOMEM;
    if (roots != NULL) {
        res->roots = ftls__roots_ref(roots);
    } else if (ftls_error_new(&res->error) == FTLS_OK) {
        ftls__error_copy(res->error, error);
    } else {
        ftls__free(res);
        return FTLS_E_NOMEM;
    }
    ftls_code rc = ftls_cell_publish(g_cells[s], res, NULL, NULL);
    if (rc != FTLS_OK)
        result_free(res, NULL);
    return rc;
}

/* 1 when the origin currently holds roots (not an error). */
static int has_roots(ftls_roots_origin s)
{
    ftls_snapshot *snap = NULL;
    if (ftls_cell_get1_snapshot(g_cells[s], &snap) != FTLS_OK)
        return 0;
    int ok = ((struct result *)ftls_snapshot_get0_data(snap))->roots != NULL;
    ftls_snapshot_free(snap);
    return ok;
}

/* Publish roots, or on failure an error unless good roots already stand. */
static FTLS_NODISCARD ftls_code publish_outcome(ftls_roots_origin s,
                                                ftls_roots *roots,
                                                const ftls_error *error)
{
    if (roots == NULL && has_roots(s))
        return FTLS_OK; /* keep the last good state */
    return publish(s, roots, error);
}

static int env_override_set(void)
{
    const char *f, *d;
    return ftls__roots_env_override(&f, &d);
}

/* Load the system store and derive auto and both. Caller holds the lock. */
static FTLS_NODISCARD ftls_code load_all(ftls_error *err)
{
    ftls_error *lerr = NULL;
    ftls_roots *sys = NULL, *fb = NULL, *both = NULL;
    if (ftls_error_new(&lerr) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    ftls_code rc = ftls__roots_load_system(&sys, lerr);
    /* With no override in force and nothing on disk, auto and both fall
     * back to the embedded bundle; an unusable override is an error for
     * every origin but fallback. */
    int may_fall_back = rc == FTLS_E_NO_ROOTS && !env_override_set();
    if (rc == FTLS_OK || may_fall_back) {
        ftls_code frc = ftls__fallback_get1(&fb, NULL);
        if (frc == FTLS_OK && sys != NULL)
            frc = ftls__roots_union(FTLS_ROOTS_BOTH, sys, fb, &both, NULL);
        if (frc != FTLS_OK) {
            rc = ftls__err(lerr, frc, "roots: cannot build derived sets");
            may_fall_back = 0;
        }
    }
    ftls_code prc = FTLS_OK;
    if (rc == FTLS_OK) {
        prc = publish(FTLS_ROOTS_SYSTEM, sys, NULL);
        if (prc == FTLS_OK)
            prc = publish(FTLS_ROOTS_AUTO, sys, NULL);
        if (prc == FTLS_OK)
            prc = publish(FTLS_ROOTS_BOTH, both, NULL);
        if (prc == FTLS_OK)
            atomic_fetch_add(&g_generation, 1);
    } else {
        prc = publish_outcome(FTLS_ROOTS_SYSTEM, NULL, lerr);
        if (prc == FTLS_OK)
            prc = publish_outcome(FTLS_ROOTS_AUTO, may_fall_back ? fb : NULL,
                                  lerr);
        if (prc == FTLS_OK)
            prc = publish_outcome(FTLS_ROOTS_BOTH, may_fall_back ? fb : NULL,
                                  lerr);
        if (may_fall_back)
            ftls__log(FTLS_LOG_WARN,
                      "roots: %s; 'auto' and 'both' use the "
                      "embedded Mozilla bundle",
                      ftls_error_message(lerr));
    }
    if (prc != FTLS_OK)
        rc = ftls__err(err, prc, "roots: cannot publish");
    else if (rc != FTLS_OK)
        ftls__error_copy(err, lerr);
    ftls_roots_free(sys);
    ftls_roots_free(fb);
    ftls_roots_free(both);
    ftls_error_free(lerr);
    return rc;
}

static FTLS_NODISCARD ftls_code ensure_loaded(ftls_roots_origin s,
                                              ftls_error *err)
{
    ftls__lock(&g_load_lock);
    ftls_code rc = FTLS_OK;
    if (ftls_cell_generation(g_cells[s]) == 0)
        rc = load_all(err);
    ftls__unlock(&g_load_lock);
    /* The caller re-reads the cell; a load error was also published. */
    return rc == FTLS_E_NOMEM ? rc : FTLS_OK;
}

ftls_code ftls_roots_get1_shared(ftls_roots_origin origin, ftls_roots **out,
                                 ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG((unsigned)origin <= FTLS_ROOTS_BOTH, err, "unknown origin");
    if (origin == FTLS_ROOTS_FALLBACK)
        return ftls__fallback_get1(out, err);
    pthread_once(&g_init_once, init_cells);
    if (g_init_rc != FTLS_OK)
        return ftls__err(err, g_init_rc, "roots: out of memory");
    ftls_snapshot *snap = NULL;
    ftls_code rc = ftls_cell_get1_snapshot(g_cells[origin], &snap);
    if (rc == FTLS_E_EMPTY) {
        if ((rc = ensure_loaded(origin, err)) != FTLS_OK)
            return rc;
        rc = ftls_cell_get1_snapshot(g_cells[origin], &snap);
    }
    if (rc != FTLS_OK)
        return ftls__err(err, rc, "roots: %s", ftls_code_describe(rc));
    const struct result *res = ftls_snapshot_get0_data(snap);
    if (res->roots != NULL) {
        *out = ftls__roots_ref(res->roots);
    } else {
        rc = ftls_error_code(res->error);
        ftls__error_copy(err, res->error);
    }
    ftls_snapshot_free(snap);
    return rc;
}

/* ---- followers of refreshes (system-roots sources) ---------------------- */

#define FOLLOWERS_MAX 4096

static pthread_mutex_t g_follow_lock = PTHREAD_MUTEX_INITIALIZER;
static struct follower {
    ftls__roots_follow_fn fn;
    void *arg;
} * g_followers;
static size_t g_nfollowers, g_capfollowers;

ftls_code ftls__roots_follow(ftls__roots_follow_fn fn, void *arg)
{
    ftls_code rc = FTLS_OK;
    ftls__lock(&g_follow_lock);
    if (g_nfollowers == g_capfollowers) {
        size_t ncap = g_capfollowers ? g_capfollowers * 2 : 8;
        struct follower *n =
            ncap > FOLLOWERS_MAX
                ? NULL
                : ftls__realloc(g_followers, ncap * sizeof(*n));
        if (n == NULL)
            rc = FTLS_E_NOMEM;
        else
            g_followers = n, g_capfollowers = ncap;
    }
    if (rc == FTLS_OK)
        g_followers[g_nfollowers++] = (struct follower){fn, arg};
    ftls__unlock(&g_follow_lock);
    return rc;
}

void ftls__roots_unfollow(ftls__roots_follow_fn fn, void *arg)
{
    ftls__lock(&g_follow_lock); /* waits for a notification in progress */
    for (size_t i = 0; i < g_nfollowers; i++)
        if (g_followers[i].fn == fn && g_followers[i].arg == arg) {
            g_followers[i] = g_followers[--g_nfollowers];
            break;
        }
    ftls__unlock(&g_follow_lock);
}

/* After a refresh published: tell every follower, on this thread. */
static void notify_followers(void)
{
    ftls__lock(&g_follow_lock);
    for (size_t i = 0; i < g_nfollowers; i++)
        g_followers[i].fn(g_followers[i].arg);
    ftls__unlock(&g_follow_lock);
}

ftls_code ftls_roots_refresh(ftls_error *err)
{
    pthread_once(&g_init_once, init_cells);
    if (g_init_rc != FTLS_OK)
        return ftls__err(err, g_init_rc, "roots: out of memory");
    ftls_error *lerr = NULL;
    if (ftls_error_new(&lerr) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    ftls__lock(&g_load_lock);
    ftls_code rc = load_all(lerr);
    ftls__unlock(&g_load_lock);
    if (rc == FTLS_OK) {
        ftls__log(FTLS_LOG_INFO, "roots: refreshed (generation %llu)",
                  (unsigned long long)atomic_load(&g_generation));
        notify_followers();
    } else
        ftls__log(FTLS_LOG_ERROR,
                  "roots: refresh failed, keeping the "
                  "previous roots: %s",
                  ftls_error_message(lerr));
    ftls__error_copy(err, lerr);
    ftls_error_free(lerr);
    return rc;
}

uint64_t ftls_roots_generation(void)
{
    return atomic_load(&g_generation);
}

/* ---- the change watcher ------------------------------------------------ */

static pthread_mutex_t g_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_watch_cond;
static pthread_t g_watch_thread;
static int g_watch_running, g_watch_stop;
static unsigned g_watch_interval_ms;

static void *watch_main(void *arg)
{
    unsigned char last[32], cur[32];
    int have_last = ftls__roots_system_signature(last, NULL) == FTLS_OK;
    (void)arg;
    pthread_mutex_lock(&g_watch_lock);
    while (!g_watch_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += g_watch_interval_ms / 1000;
        ts.tv_nsec += (long)(g_watch_interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_watch_cond, &g_watch_lock, &ts);
        if (g_watch_stop)
            break;
        pthread_mutex_unlock(&g_watch_lock);
        if (ftls__roots_system_signature(cur, NULL) == FTLS_OK &&
            (!have_last || memcmp(cur, last, sizeof(cur)) != 0)) {
            ftls__log(FTLS_LOG_INFO, "roots: sources changed on disk; "
                                     "refreshing");
            if (ftls_roots_refresh(NULL) != FTLS_OK) {
                /* logged by the refresh; the previous roots stay */
            }
            memcpy(last, cur, sizeof(last));
            have_last = 1;
        }
        pthread_mutex_lock(&g_watch_lock);
    }
    pthread_mutex_unlock(&g_watch_lock);
    return NULL;
}

/* In a forked child the watcher thread is gone. Its lock may have been
 * held by that thread (briefly, around its timed wait), so the child starts
 * from fresh state: the watcher reads as stopped and can be started again. */
static void watch_after_fork_child(void)
{
    static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&g_watch_lock, &fresh, sizeof(fresh));
    if (g_watch_running)
        pthread_cond_init(&g_watch_cond, NULL);
    g_watch_running = 0;
    g_watch_stop = 0;
}

static pthread_once_t g_watch_once = PTHREAD_ONCE_INIT;

static void watch_init_once(void)
{
    ftls__fork_on_child(watch_after_fork_child);
}

ftls_code ftls_roots_watch_start(unsigned interval_ms, ftls_error *err)
{
    FTLS_GUARD_ARG(interval_ms >= 10, err, "interval under 10 ms");
    pthread_once(&g_watch_once, watch_init_once);
    pthread_mutex_lock(&g_watch_lock);
    ftls_code rc = FTLS_OK;
    if (g_watch_running) {
        rc = ftls__err(err, FTLS_E_STATE, "roots: watcher already running");
    } else {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g_watch_cond, &ca);
        pthread_condattr_destroy(&ca);
        g_watch_interval_ms = interval_ms;
        g_watch_stop = 0;
        if (pthread_create(&g_watch_thread, NULL, watch_main, NULL) != 0) {
            pthread_cond_destroy(&g_watch_cond);
            rc = ftls__err(err, FTLS_E_NOMEM, "roots: cannot start watcher");
        } else {
            g_watch_running = 1;
        }
    }
    pthread_mutex_unlock(&g_watch_lock);
    return rc;
}

void ftls_roots_watch_stop(void)
{
    pthread_mutex_lock(&g_watch_lock);
    if (!g_watch_running) {
        pthread_mutex_unlock(&g_watch_lock);
        return;
    }
    g_watch_stop = 1;
    pthread_cond_signal(&g_watch_cond);
    pthread_mutex_unlock(&g_watch_lock);
    pthread_join(g_watch_thread, NULL);
    pthread_mutex_lock(&g_watch_lock);
    g_watch_running = 0;
    pthread_cond_destroy(&g_watch_cond);
    pthread_mutex_unlock(&g_watch_lock);
}

ftls_code ftls_roots_load(ftls_roots_origin origin, ftls_roots **out,
                          ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG((unsigned)origin <= FTLS_ROOTS_BOTH, err, "unknown origin");
    if (origin == FTLS_ROOTS_FALLBACK)
        return ftls__fallback_get1(out, err);
    ftls_roots *sys = NULL, *fb = NULL;
    ftls_code rc = ftls__roots_load_system(&sys, err);
    if (origin == FTLS_ROOTS_SYSTEM ||
        (rc != FTLS_OK && (rc != FTLS_E_NO_ROOTS || env_override_set()))) {
        *out = sys;
        return rc;
    }
    if (origin == FTLS_ROOTS_AUTO && rc == FTLS_OK) {
        *out = sys;
        return FTLS_OK;
    }
    if ((rc = ftls__fallback_get1(&fb, err)) == FTLS_OK) {
        if (sys == NULL) {
            ftls__log(FTLS_LOG_WARN, "roots: no system roots; using the "
                                     "embedded Mozilla bundle");
            *out = fb;
            fb = NULL;
        } else {
            rc = ftls__roots_union(FTLS_ROOTS_BOTH, sys, fb, out, err);
        }
    }
    ftls_roots_free(sys);
    ftls_roots_free(fb);
    return rc;
}
