/* Change watching: inotify with debounce, re-watching, polling fallback. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <freshtls/watcher.h>

#include "base/fork.h"
#include "source/source_internal.h"
#include "source/watcher_internal.h"

#define DIR_MASK                                                               \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |    \
     IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |      \
     IN_EXCL_UNLINK)
#define PARENT_MASK                                                            \
    (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)
#define EXPIRY_RECHECK_MS 60000u /* re-check expiry at least this often */
#define REWATCH_MS 100

struct wwatch {
    int wd;
    int parent;              /* watch on the parent of a watched directory */
    char name[NAME_MAX + 1]; /* for parent watches: the child we care about */
};

struct wsrc {
    ftls_source *src;
    struct wwatch *w; /* grows as directories are added */
    int nw, capw;
    int polling, rewatch, urgent;
    uint64_t due, first, next_poll;
    uint64_t expiry_due; /* monotonic ms: re-check expiry (0: never) */
    unsigned char fp[32];
};

struct ftls_watcher {
    pthread_mutex_t lock;
    int ifd, tfd, efd, wake;
    struct wsrc **v;
    size_t n, cap;
    unsigned debounce_ms, poll_ms;
    int force_polling;
    pthread_t thread;
    int running;
    pid_t pid; /* process that created the watcher and its descriptors */
    atomic_int stop;
};

static ftls__add_watch_fn g_add_watch = inotify_add_watch;

void ftls__watcher_set_add_watch_hook(ftls__add_watch_fn fn)
{
    g_add_watch = fn ? fn : inotify_add_watch;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

ftls_code ftls_watcher_new(const ftls_watcher_options *o, ftls_watcher **out,
                           ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    ftls_watcher *w = ftls__calloc(1, sizeof(*w));
    if (w == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "watcher: out of memory");
    pthread_mutex_init(&w->lock, NULL);
    w->pid = ftls__pid();
    w->debounce_ms = o && o->debounce_ms ? o->debounce_ms : 25;
    w->poll_ms = o && o->poll_interval_ms ? o->poll_interval_ms : 1000;
    w->force_polling = o ? o->force_polling : 0;
    w->ifd = w->force_polling ? -1 : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    w->efd = epoll_create1(EPOLL_CLOEXEC);
    w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    int ok = w->tfd >= 0 && w->efd >= 0 && w->wake >= 0;
    ev.data.fd = w->tfd;
    ok = ok && epoll_ctl(w->efd, EPOLL_CTL_ADD, w->tfd, &ev) == 0;
    if (ok && w->ifd >= 0) {
        ev.data.fd = w->ifd;
        ok = epoll_ctl(w->efd, EPOLL_CTL_ADD, w->ifd, &ev) == 0;
    }
    if (!ok) {
        int e = errno;
        ftls_watcher_free(w);
        return ftls__err_errno(err, FTLS_E_IO, e,
                               "watcher: cannot set up "
                               "timers");
    }
    *out = w;
    return FTLS_OK;
}

static void drop_watches(ftls_watcher *w, struct wsrc *ws)
{
    for (int i = 0; i < ws->nw; i++) {
        int shared = 0; /* inotify returns one wd per inode: keep if shared */
        for (size_t k = 0; k < w->n && !shared; k++)
            for (int j = 0; j < w->v[k]->nw && !shared; j++)
                shared = w->v[k] != ws && w->v[k]->w[j].wd == ws->w[i].wd;
        if (!shared && w->ifd >= 0)
            inotify_rm_watch(w->ifd, ws->w[i].wd);
    }
    ws->nw = 0;
}

/* Record a watch descriptor; returns 0, ENOMEM or ENAMETOOLONG. */
static int add_one(struct wsrc *ws, int wd, int parent, const char *name)
{
    for (int i = 0; i < ws->nw; i++)
        if (ws->w[i].wd == wd && ws->w[i].parent == parent &&
            strcmp(ws->w[i].name, name) == 0)
            return 0;
    if (ws->nw == ws->capw) {
        int ncap = ws->capw ? ws->capw * 2 : 8;
        struct wwatch *nw = ftls__realloc(ws->w, (size_t)ncap * sizeof(*nw));
        if (nw == NULL)
            return ENOMEM;
        ws->w = nw;
        ws->capw = ncap;
    }
    struct wwatch *ww = &ws->w[ws->nw];
    if (ftls__str_printf(ww->name, sizeof(ww->name), "%s", name) != FTLS_OK)
        return ENAMETOOLONG;
    ww->wd = wd;
    ww->parent = parent;
    ws->nw++;
    return 0;
}

static void wsrc_free(struct wsrc *ws)
{
    if (ws != NULL)
        ftls__free(ws->w);
    ftls__free(ws);
}

/* errno equivalent of a failed watch spec, for arm()'s callers. */
static int spec_errno(ftls_code rc)
{
    return rc == FTLS_E_NOMEM       ? ENOMEM
           : rc == FTLS_E_TOO_LARGE ? ENAMETOOLONG
                                    : EINVAL;
}

/* (Re)establish watches. Returns 0 ok, ENOENT when a directory is missing
 * (retry later), or another errno meaning inotify cannot serve us. */
static int arm(ftls_watcher *w, struct wsrc *ws)
{
    struct ftls__watch_spec sp;
    ftls_code sc = ftls__source_watch_spec(ws->src, &sp);
    if (sc != FTLS_OK)
        return spec_errno(sc);
    int rc = 0;
    for (size_t i = 0; i < sp.dirs.n && rc == 0; i++) {
        char a[PATH_MAX], b[PATH_MAX];
        if (ftls__str_printf(a, sizeof(a), "%s", sp.dirs.v[i]) != FTLS_OK) {
            rc = ENAMETOOLONG;
            break;
        }
        memcpy(b, a, sizeof(b));
        const char *parent = dirname(a), *base = basename(b);
        /* The parent tells us when the directory itself comes back. */
        int pwd = g_add_watch(w->ifd, parent, PARENT_MASK);
        if (pwd >= 0)
            rc = add_one(ws, pwd, 1, base);
        int wd = rc == 0 ? g_add_watch(w->ifd, sp.dirs.v[i], DIR_MASK) : -1;
        if (rc == 0 && wd < 0)
            rc = errno;
        else if (rc == 0)
            rc = add_one(ws, wd, 0, "");
    }
    ftls__watch_spec_free(&sp);
    return rc;
}

static void go_polling(ftls_watcher *w, struct wsrc *ws, int e)
{
    ws->polling = 1;
    ws->next_poll = now_ms() + w->poll_ms;
    ftls__source_fingerprint(ws->src, ws->fp);
    char ebuf[128];
    if (w->force_polling) /* configured, not a degradation: no event */
        ftls__source_set_watching(ws->src, 2, FTLS_OK,
                                  "polling, as configured");
    else
        ftls__source_set_watching(ws->src, 2, ftls__code_from_errno(e),
                                  ftls__strerror(e, ebuf, sizeof(ebuf)));
}

static void arm_or_degrade(ftls_watcher *w, struct wsrc *ws)
{
    if (w->ifd < 0) {
        go_polling(w, ws, ENOSYS);
        return;
    }
    int e = arm(w, ws);
    if (e == 0) {
        ws->rewatch = 0;
        ftls__source_set_watching(ws->src, 1, FTLS_OK, NULL);
    } else if (e == ENOENT) {
        ws->rewatch = 1; /* directory missing: retry until it is back */
    } else {
        go_polling(w, ws, e); /* ENOSPC (out of watches), ENOMEM, ... */
    }
}

/* A watcher created before fork(): its thread is not in this process, and
 * its inotify descriptor is shared with the parent, whose events reading it
 * here would steal. The child must create a watcher of its own. */
static FTLS_NODISCARD ftls_code forked_state(const ftls_watcher *w,
                                             ftls_error *err)
{
    return ftls__err(err, FTLS_E_STATE,
                     "watcher: created in process %ld "
                     "before fork(); create a new watcher in this process",
                     (long)w->pid);
}

ftls_code ftls_watcher_add(ftls_watcher *w, ftls_source *src, ftls_error *err)
{
    FTLS_GUARD_ARG(w != NULL && src != NULL, err, "w or src is NULL");
    if (w->pid != ftls__pid())
        return forked_state(w, err);
    if (!ftls__source_watchable(src))
        return ftls__err(err, FTLS_E_UNSUPPORTED, "%s: cannot be watched",
                         ftls_source_describe(src));
    struct wsrc *ws = ftls__calloc(1, sizeof(*ws));
    if (ws == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "watcher: out of memory");
    ws->src = src;
    ws->expiry_due = now_ms(); /* the first dispatch checks expiry */
    ftls__lock(&w->lock);
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        struct wsrc **nv = ftls__realloc(w->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            ftls__unlock(&w->lock);
            wsrc_free(ws);
            return ftls__err(err, FTLS_E_NOMEM, "watcher: out of memory");
        }
        w->v = nv;
        w->cap = ncap;
    }
    w->v[w->n++] = ws;
    arm_or_degrade(w, ws);
    ftls__unlock(&w->lock);
    uint64_t one = 1; /* let a running thread re-arm its timer */
    if (write(w->wake, &one, sizeof(one)) < 0) {
        /* the counter is already non-zero: a wake-up is pending anyway */
    }
    return FTLS_OK;
}

ftls_code ftls_watcher_remove(ftls_watcher *w, ftls_source *src)
{
    if (w == NULL || src == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    ftls__lock(&w->lock);
    ftls_code rc = FTLS_E_NOT_FOUND;
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i]->src == src) {
            drop_watches(w, w->v[i]);
            wsrc_free(w->v[i]);
            w->v[i] = w->v[--w->n];
            rc = FTLS_OK;
            break;
        }
    ftls__unlock(&w->lock);
    return rc;
}

int ftls_watcher_get_fd(const ftls_watcher *w)
{
    return w ? w->efd : -1;
}

static void schedule(ftls_watcher *w, struct wsrc *ws, uint64_t now, int urgent)
{
    if (urgent) {
        ws->due = now;
        ws->urgent = 1;
        return;
    }
    if (ws->urgent) /* a complete generation is waiting: never postpone it */
        return;
    if (ws->due == 0)
        ws->first = now;
    uint64_t due = now + w->debounce_ms, cap = ws->first + 10u * w->debounce_ms;
    ws->due = due < cap ? due : cap;
}

static void on_event(ftls_watcher *w, const struct inotify_event *ev,
                     uint64_t now)
{
    for (size_t i = 0; i < w->n; i++) {
        struct wsrc *ws = w->v[i];
        if (ev->mask & IN_Q_OVERFLOW) { /* lost events: reload everything */
            schedule(w, ws, now, 0);
            continue;
        }
        for (int k = 0; k < ws->nw; k++) {
            const struct wwatch *ww = &ws->w[k];
            if (ww->wd != ev->wd)
                continue;
            if (ww->parent) {
                if (ev->len && strcmp(ev->name, ww->name) == 0) {
                    ws->rewatch = 1; /* our directory came or went */
                    schedule(w, ws, now, 0);
                }
                continue;
            }
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                ws->rewatch = 1;
            /* A Kubernetes swap publishes a complete generation at once. */
            int swap = ev->len && strcmp(ev->name, "..data") == 0 &&
                       (ev->mask & IN_MOVED_TO);
            schedule(w, ws, now, swap);
        }
    }
}

static void drain_inotify(ftls_watcher *w, uint64_t now)
{
    if (w->ifd < 0)
        return;
    _Alignas(struct inotify_event) char buf[16384];
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(w, ev, now);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* Expiry of the published identity: notices when due, then the next
 * check, at the latest EXPIRY_RECHECK_MS from now (a reload by hand may
 * have published a leaf with an earlier notAfter). */
static void check_expiry(struct wsrc *ws, uint64_t now)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t unix_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    /* Seconds from time(), as every other expiry decision (and status)
     * uses: it may lag the precise clock by a tick, in which case the
     * deadline simply comes round again a millisecond later. */
    int64_t next = ftls__source_check_expiry(ws->src, (int64_t)time(NULL));
    uint64_t in = EXPIRY_RECHECK_MS;
    if (next > 0 && next * 1000 - unix_ms < (int64_t)in)
        in = next * 1000 > unix_ms ? (uint64_t)(next * 1000 - unix_ms) : 1;
    ws->expiry_due = now + in;
}

static void rearm_timer(ftls_watcher *w, uint64_t now)
{
    uint64_t next = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct wsrc *ws = w->v[i];
        uint64_t c[4] = {ws->due, ws->polling ? ws->next_poll : 0,
                         ws->rewatch ? now + REWATCH_MS : 0, ws->expiry_due};
        for (int k = 0; k < 4; k++)
            if (c[k] && (next == 0 || c[k] < next))
                next = c[k];
    }
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (next != 0) {
        if (next <= now)
            next = now + 1;
        its.it_value.tv_sec = (time_t)(next / 1000);
        its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
    }
    timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

ftls_code ftls_watcher_dispatch(ftls_watcher *w, ftls_error *err)
{
    FTLS_GUARD_ARG(w != NULL, err, "w is NULL");
    if (w->pid != ftls__pid())
        return forked_state(w, err);
    uint64_t ticks;
    if (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN) {
        /* nothing to do: the timer is only a wake-up */
    }
    ftls__lock(&w->lock);
    uint64_t now = now_ms();
    drain_inotify(w, now);
    for (size_t i = 0; i < w->n; i++) {
        struct wsrc *ws = w->v[i];
        if (ws->rewatch && !ws->polling) {
            drop_watches(w, ws);
            arm_or_degrade(w, ws);
            if (!ws->rewatch)
                schedule(w, ws, now, 1); /* it is back: read it now */
        }
        if (ws->polling && now >= ws->next_poll) {
            unsigned char fp[32];
            ftls__source_fingerprint(ws->src, fp);
            if (memcmp(fp, ws->fp, 32) != 0) {
                memcpy(ws->fp, fp, 32);
                schedule(w, ws, now, 1);
            }
            ws->next_poll = now + w->poll_ms;
        }
        if (ws->due && now >= ws->due) {
            ws->due = ws->first = 0;
            ws->urgent = 0;
            /* Failures are reported through the source's events/status. */
            if (ftls_source_reload(ws->src, NULL) == FTLS_OK && !ws->polling &&
                w->ifd >= 0 && arm(w, ws) != 0)
                ws->rewatch = 1;  /* pick up new symlink targets */
            ws->expiry_due = now; /* a new generation: new deadlines */
        }
        if (ws->expiry_due && now >= ws->expiry_due)
            check_expiry(ws, now);
    }
    rearm_timer(w, now_ms());
    ftls__unlock(&w->lock);
    return FTLS_OK;
}

static void *thread_main(void *arg)
{
    ftls_watcher *w = arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->wake};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event inner = {.events = EPOLLIN, .data.fd = w->efd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, w->wake, &ev) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, w->efd, &inner) != 0) {
        if (ep >= 0)
            close(ep);
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        struct epoll_event got[2];
        int n = epoll_wait(ep, got, 2, -1);
        if (n < 0 && errno != EINTR)
            break;
        uint64_t v;
        if (read(w->wake, &v, sizeof(v)) < 0) {
            /* EAGAIN: not woken by the eventfd */
        }
        if (!atomic_load(&w->stop) && ftls_watcher_dispatch(w, NULL) != FTLS_OK)
            break;
    }
    close(ep);
    return NULL;
}

ftls_code ftls_watcher_start(ftls_watcher *w, ftls_error *err)
{
    FTLS_GUARD_ARG(w != NULL, err, "w is NULL");
    if (w->pid != ftls__pid())
        return forked_state(w, err);
    if (w->running)
        return ftls__err(err, FTLS_E_STATE, "watcher: already running");
    atomic_store(&w->stop, 0);
    if (pthread_create(&w->thread, NULL, thread_main, w) != 0)
        return ftls__err(err, FTLS_E_NOMEM, "watcher: cannot start thread");
    w->running = 1;
    return FTLS_OK;
}

void ftls_watcher_stop(ftls_watcher *w)
{
    if (w == NULL || !w->running)
        return;
    if (w->pid != ftls__pid()) { /* forked child: the thread is not here */
        w->running = 0;
        return;
    }
    atomic_store(&w->stop, 1);
    uint64_t one = 1;
    if (write(w->wake, &one, sizeof(one)) < 0) {
        /* already signalled */
    }
    pthread_join(w->thread, NULL);
    w->running = 0;
}

void ftls_watcher_free(ftls_watcher *w)
{
    if (w == NULL)
        return;
    ftls_watcher_stop(w);
    for (size_t i = 0; i < w->n; i++)
        wsrc_free(w->v[i]);
    ftls__free(w->v);
    int fds[] = {w->ifd, w->tfd, w->efd, w->wake};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&w->lock);
    ftls__free(w);
}
