/* The event loop behind `freshtls serve` (see serve_loop.h). */
#include "serve_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <openssl/err.h>

#define HEAD_MAX 4096       /* request head */
#define OUT_MAX 65536       /* response (metrics pages included) */
#define METRICS_CONNS 16    /* metrics connections at once */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE/ENFILE */
#define SWEEP_MS 100        /* deadline granularity */

enum conn_state { C_HANDSHAKE, C_REQUEST, C_RESPOND };

struct conn {
    struct conn *prev, *next; /* accept order, oldest first */
    int fd;
    SSL *ssl; /* NULL: a metrics connection (plain HTTP) */
    enum conn_state state;
    int64_t deadline;
    char peer[64];
    size_t len, out_len, out_off;
    char *out;
    char head[HEAD_MAX];
};

/* What epoll hands back for the non-connection descriptors. */
static char g_tag_tls, g_tag_metrics, g_tag_signal;

struct loop {
    const struct serve_limits *lim;
    const struct serve_hooks *h;
    struct serve_counters c;
    int ep, tls_fd, metrics_fd, sig_fd;
    struct conn *oldest, *newest;
    struct conn *dead; /* closed this round; freed after the event batch */
    long metrics_active;
    int paused, draining, trimmed;
    int64_t resume_at, drain_until, next_sweep, log_second, trimmed_at;
    int log_budget;
    long log_suppressed;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At most 10 lines a second about misbehaving peers; the rest counted. */
static int may_log(struct loop *L)
{
    int64_t sec = now_ms() / 1000;
    if (sec != L->log_second) {
        if (L->log_suppressed > 0)
            fprintf(stderr, "freshtls serve: %ld similar lines suppressed\n",
                    L->log_suppressed);
        L->log_second = sec, L->log_budget = 10, L->log_suppressed = 0;
    }
    if (L->log_budget > 0) {
        L->log_budget--;
        return 1;
    }
    L->log_suppressed++;
    return 0;
}

static void watch_fd(struct loop *L, int fd, void *tag, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    (void)epoll_ctl(L->ep, op, fd, &ev);
}

static void conn_close(struct loop *L, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        L->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        L->newest = c->prev;
    if (c->ssl != NULL) {
        L->c.active--;
        SSL_free(c->ssl);
    } else {
        L->metrics_active--;
    }
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->ssl = NULL;
    /* Events for it may still be in this batch: free it afterwards. */
    c->next = L->dead;
    L->dead = c;
}

static void free_dead(struct loop *L)
{
    while (L->dead != NULL) {
        struct conn *c = L->dead;
        L->dead = c->next;
        free(c->out);
        free(c);
    }
}

/* Close the oldest TLS connection that has not sent its request yet. */
static int evict_one(struct loop *L)
{
    for (struct conn *c = L->oldest; c != NULL; c = c->next)
        if (c->ssl != NULL && c->state != C_RESPOND) {
            L->c.evicted++;
            if (may_log(L))
                fprintf(stderr,
                        "freshtls serve: at the connection cap: closing the "
                        "idle connection from %s\n",
                        c->peer);
            conn_close(L, c);
            return 1;
        }
    return 0;
}

static struct conn *conn_new(struct loop *L, int fd, int tls,
                             const struct sockaddr_storage *ss)
{
    struct conn *c = calloc(1, sizeof(*c));
    SSL *ssl = NULL;
    if (c != NULL && tls) {
        ssl = L->h->new_ssl(L->h->ud);
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
            SSL_free(ssl);
            free(c);
            return NULL;
        }
        SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS |
                              SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->ssl = ssl;
    c->state = tls ? C_HANDSHAKE : C_REQUEST;
    c->deadline = now_ms() + (tls ? L->lim->handshake_ms : L->lim->request_ms);
    serve_addr_text(ss, c->peer, sizeof(c->peer));
    c->prev = L->newest;
    if (L->newest)
        L->newest->next = c;
    else
        L->oldest = c;
    L->newest = c;
    if (tls)
        L->c.active++,
            L->c.peak = L->c.active > L->c.peak ? L->c.active : L->c.peak;
    else
        L->metrics_active++;
    L->trimmed = 0;
    watch_fd(L, fd, c, EPOLLIN, EPOLL_CTL_ADD);
    return c;
}

/* accept() failed for want of descriptors or memory: make room by closing
 * the oldest idle connection and stop accepting for a moment, instead of
 * spinning on a listener that stays readable. */
static void accept_backoff(struct loop *L, int e)
{
    L->c.accept_backoffs++;
    if (may_log(L))
        fprintf(stderr, "freshtls serve: accept: %s; pausing %d ms\n",
                strerror(e), ACCEPT_PAUSE_MS);
    evict_one(L);
    L->paused = 1;
    L->resume_at = now_ms() + ACCEPT_PAUSE_MS;
    watch_fd(L, L->tls_fd, &g_tag_tls, 0, EPOLL_CTL_MOD);
    if (L->metrics_fd >= 0)
        watch_fd(L, L->metrics_fd, &g_tag_metrics, 0, EPOLL_CTL_MOD);
}

static void accept_all(struct loop *L, int lfd, int tls)
{
    while (!L->paused) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                accept_backoff(L, errno);
            return; /* EAGAIN, or paused */
        }
        int full = tls ? L->c.active >= L->lim->max_conns
                       : L->metrics_active >= METRICS_CONNS;
        if (full && !(tls && evict_one(L))) {
            close(fd); /* metrics, or every TLS connection is responding */
            continue;
        }
        if (tls)
            L->c.accepted++;
        if (conn_new(L, fd, tls, &ss) == NULL)
            close(fd);
    }
}

/* Why a handshake failed, for the log: the peer certificate's verify
 * result when one was checked, else OpenSSL's reason. */
static void log_handshake_failure(struct loop *L, struct conn *c, int err)
{
    if (!may_log(L))
        return;
    long vr = SSL_get_verify_result(c->ssl);
    unsigned long e = ERR_peek_error();
    const char *why = vr != X509_V_OK ? X509_verify_cert_error_string(vr)
                      : e != 0        ? ERR_reason_error_string(e)
                      : err == SSL_ERROR_SYSCALL ? "connection closed"
                                                 : "handshake failed";
    fprintf(stderr, "freshtls serve: handshake with %s failed: %s%s\n", c->peer,
            vr != X509_V_OK ? "client certificate rejected: " : "",
            why ? why : "unknown");
}

static int conn_want(struct loop *L, struct conn *c, int err)
{
    if (err == SSL_ERROR_WANT_READ) {
        watch_fd(L, c->fd, c, EPOLLIN, EPOLL_CTL_MOD);
        return 1;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        watch_fd(L, c->fd, c, EPOLLOUT, EPOLL_CTL_MOD);
        return 1;
    }
    return 0;
}

static void start_response(struct loop *L, struct conn *c)
{
    static char out[OUT_MAX];
    size_t n = c->ssl ? L->h->respond(L->h->ud, c->ssl, c->head, out, OUT_MAX)
                      : L->h->metrics(L->h->ud, &L->c, out, OUT_MAX);
    c->out = malloc(n ? n : 1);
    if (c->out != NULL)
        memcpy(c->out, out, n);
    c->out_len = c->out ? n : 0;
    c->state = C_RESPOND;
    L->c.requests += c->ssl != NULL;
}

/* Read until the request head is complete. 1: keep going, 0: close. */
static int read_head(struct loop *L, struct conn *c)
{
    while (c->len + 1 < sizeof(c->head)) {
        ERR_clear_error();
        int r = c->ssl ? SSL_read(c->ssl, c->head + c->len,
                                  (int)(sizeof(c->head) - 1 - c->len))
                       : (int)recv(c->fd, c->head + c->len,
                                   sizeof(c->head) - 1 - c->len, 0);
        if (r <= 0) {
            if (c->ssl)
                return conn_want(L, c, SSL_get_error(c->ssl, r));
            return r < 0 && (errno == EAGAIN || errno == EINTR);
        }
        c->len += (size_t)r;
        c->head[c->len] = '\0';
        if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n")) {
            start_response(L, c);
            return 1;
        }
    }
    return 0; /* head too large */
}

/* Write the response; 1: keep going, 0: done or failed (close). */
static int write_out(struct loop *L, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ERR_clear_error();
        size_t left = c->out_len - c->out_off;
        int r = c->ssl
                    ? SSL_write(c->ssl, c->out + c->out_off, (int)left)
                    : (int)send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);
        if (r <= 0) {
            if (c->ssl)
                return conn_want(L, c, SSL_get_error(c->ssl, r));
            if (r < 0 && errno == EAGAIN) {
                watch_fd(L, c->fd, c, EPOLLOUT, EPOLL_CTL_MOD);
                return 1;
            }
            return 0;
        }
        c->out_off += (size_t)r;
    }
    if (c->ssl)
        SSL_shutdown(c->ssl); /* one close_notify; no waiting for the peer's */
    return 0;
}

static void conn_io(struct loop *L, struct conn *c)
{
    if (c->fd < 0)
        return; /* closed earlier in this batch */
    int keep = 1;
    if (c->state == C_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_accept(c->ssl);
        if (r == 1) {
            L->c.handshakes++;
            c->state = C_REQUEST;
            c->deadline = now_ms() + L->lim->request_ms;
        } else {
            int e = SSL_get_error(c->ssl, r);
            keep = conn_want(L, c, e);
            if (!keep) {
                L->c.handshake_failures++;
                log_handshake_failure(L, c, e);
            }
        }
    }
    if (keep && c->state == C_REQUEST)
        keep = read_head(L, c);
    if (keep && c->state == C_RESPOND)
        keep = write_out(L, c);
    if (!keep)
        conn_close(L, c);
}

static void sweep(struct loop *L, int64_t now)
{
    struct conn *c = L->oldest;
    while (c != NULL) {
        struct conn *next = c->next;
        if (now >= c->deadline || (L->draining && now >= L->drain_until)) {
            if (c->ssl != NULL && c->state == C_HANDSHAKE)
                L->c.handshake_failures++;
            if (may_log(L))
                fprintf(stderr, "freshtls serve: %s with %s timed out\n",
                        c->state == C_HANDSHAKE ? "handshake" : "request",
                        c->peer);
            L->c.timed_out++;
            conn_close(L, c);
        }
        c = next;
    }
    if (L->paused && now >= L->resume_at) {
        L->paused = 0;
        if (L->tls_fd >= 0)
            watch_fd(L, L->tls_fd, &g_tag_tls, EPOLLIN, EPOLL_CTL_MOD);
        if (L->metrics_fd >= 0)
            watch_fd(L, L->metrics_fd, &g_tag_metrics, EPOLLIN, EPOLL_CTL_MOD);
    }
#ifdef __GLIBC__
    /* Idle after a burst: hand its memory back (at most once a second). */
    if (L->c.active == 0 && L->metrics_active == 0 && !L->trimmed &&
        now - L->trimmed_at >= 1000) {
        malloc_trim(0);
        L->trimmed = 1;
        L->trimmed_at = now;
    }
#endif
}

static void start_drain(struct loop *L, int signo)
{
    fprintf(stderr,
            "freshtls serve: signal %d: no new connections; draining %ld\n",
            signo, L->c.active);
    serve_notify("STOPPING=1");
    L->draining = 1;
    L->drain_until = now_ms() + L->lim->drain_ms;
    close(L->tls_fd);
    L->tls_fd = -1;
    if (L->metrics_fd >= 0)
        close(L->metrics_fd);
    L->metrics_fd = -1;
}

static void on_signal(struct loop *L)
{
    struct signalfd_siginfo si;
    while (read(L->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP && L->h->reload != NULL)
            L->h->reload(L->h->ud);
        else if (si.ssi_signo != SIGHUP && !L->draining)
            start_drain(L, (int)si.ssi_signo);
    }
}

static int loop_init(struct loop *L, int tls_fd, int metrics_fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    L->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    L->tls_fd = tls_fd;
    L->metrics_fd = metrics_fd;
    L->trimmed = 1;
    if (L->ep < 0 || L->sig_fd < 0)
        return 0;
    watch_fd(L, L->sig_fd, &g_tag_signal, EPOLLIN, EPOLL_CTL_ADD);
    watch_fd(L, tls_fd, &g_tag_tls, EPOLLIN, EPOLL_CTL_ADD);
    if (metrics_fd >= 0)
        watch_fd(L, metrics_fd, &g_tag_metrics, EPOLLIN, EPOLL_CTL_ADD);
    return 1;
}

int serve_loop_run(int tls_fd, int metrics_fd, const struct serve_limits *lim,
                   const struct serve_hooks *h)
{
    struct loop L = {.lim = lim, .h = h, .ep = -1, .sig_fd = -1};
    int ok = loop_init(&L, tls_fd, metrics_fd);
    while (ok && !(L.draining && L.oldest == NULL)) {
        struct epoll_event ev[64];
        int n = epoll_wait(L.ep, ev, 64, SWEEP_MS);
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].data.ptr;
            if (tag == &g_tag_signal)
                on_signal(&L);
            else if (tag == &g_tag_tls && L.tls_fd >= 0)
                accept_all(&L, L.tls_fd, 1);
            else if (tag == &g_tag_metrics && L.metrics_fd >= 0)
                accept_all(&L, L.metrics_fd, 0);
            else if (tag != &g_tag_tls && tag != &g_tag_metrics)
                conn_io(&L, tag);
        }
        int64_t now = now_ms();
        if (now >= L.next_sweep || L.draining) {
            sweep(&L, now);
            L.next_sweep = now + SWEEP_MS;
        }
        free_dead(&L);
    }
    while (L.oldest != NULL)
        conn_close(&L, L.oldest);
    free_dead(&L);
    if (L.sig_fd >= 0)
        close(L.sig_fd);
    if (L.ep >= 0)
        close(L.ep);
    return ok ? 0 : 1;
}
