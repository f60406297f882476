/* The proxy's event loop: one thread, level-triggered epoll. Each wakeup
 * drives the connection as far as it can go (proxy_conn_step) and then
 * watches exactly what its endpoints wait for; an endpoint that waits for
 * nothing leaves the epoll set, so a peer's hang-up cannot spin the loop.
 * Bounded: a connection cap (at the cap the oldest connection that has not
 * finished its CONNECT request is closed), a deadline from accept to the
 * relay, an idle timeout in the relay, accept back-off on EMFILE, and a
 * drain on SIGTERM. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"
#include "serve_loop.h"

#define ACCEPT_PAUSE_MS 100
#define SWEEP_MS 100

static char g_tag_listen, g_tag_signal, g_tag_resolver;

int64_t proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ep_watch(struct proxy *px, struct ep *e)
{
    if (e->fd < 0)
        return;
    uint32_t ev =
        ((e->want & EP_RD) ? EPOLLIN : 0) | ((e->want & EP_WR) ? EPOLLOUT : 0);
    struct epoll_event ee = {.events = ev, .data.ptr = e};
    if (ev == 0) {
        if (e->added)
            (void)epoll_ctl(px->ep, EPOLL_CTL_DEL, e->fd, &ee);
        e->added = 0;
    } else if (!e->added) {
        if (epoll_ctl(px->ep, EPOLL_CTL_ADD, e->fd, &ee) == 0)
            e->added = 1;
    } else if (ev != e->registered) {
        (void)epoll_ctl(px->ep, EPOLL_CTL_MOD, e->fd, &ee);
    }
    e->registered = ev;
}

void proxy_conn_watch(struct proxy *px, struct pconn *c)
{
    ep_watch(px, &c->cl);
    ep_watch(px, &c->up);
}

static void ep_free(struct ep *e)
{
    SSL_free(e->ssl);
    if (e->fd >= 0)
        close(e->fd); /* also leaves the epoll set */
    e->ssl = NULL;
    e->fd = -1;
}

void proxy_conn_close(struct proxy *px, struct pconn *c)
{
    c->phase = PP_CLOSING;
    proxy_audit(px, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        px->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        px->newest = c->prev;
    px->c.active--;
    ep_free(&c->cl);
    ep_free(&c->up);
    if (c->lookup != NULL)
        proxy_lookup_cancel(c->lookup);
    if (c->ai != NULL)
        freeaddrinfo(c->ai);
    free(c->head);
    free(c->alpn_offer);
    free(c->c2u.buf);
    free(c->u2c.buf);
    /* Events for it may still be in this batch: free it afterwards. */
    c->next = px->dead;
    px->dead = c;
}

static void free_dead(struct proxy *px)
{
    while (px->dead != NULL) {
        struct pconn *c = px->dead;
        px->dead = c->next;
        free(c);
    }
}

static int evict_one(struct proxy *px)
{
    for (struct pconn *c = px->oldest; c != NULL; c = c->next)
        if (c->phase == PP_HEAD) {
            px->c.evicted++;
            proxy_conn_fail(px, c, NULL, "closed at the connection cap");
            proxy_conn_close(px, c);
            return 1;
        }
    return 0;
}

static void conn_new(struct proxy *px, int fd,
                     const struct sockaddr_storage *ss)
{
    struct pconn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    /* Handshake flights and relayed records go out at once (Nagle would
     * hold small writes for the peer's delayed ACK: 40 ms each time). */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->px = px;
    c->cl.conn = c->up.conn = c;
    c->cl.fd = fd;
    c->up.fd = -1;
    c->t_start_ms = proxy_now_ms();
    c->deadline_ms = c->t_start_ms + px->lim.handshake_ms;
    serve_addr_text(ss, c->peer, sizeof(c->peer));
    c->prev = px->newest;
    if (px->newest)
        px->newest->next = c;
    else
        px->oldest = c;
    px->newest = c;
    px->c.accepted++;
    if (++px->c.active > px->c.peak)
        px->c.peak = px->c.active;
    proxy_conn_step(px, c);
}

static void listen_watch(struct proxy *px, uint32_t ev)
{
    struct epoll_event ee = {.events = ev, .data.ptr = &g_tag_listen};
    (void)epoll_ctl(px->ep, EPOLL_CTL_MOD, px->listen_fd, &ee);
}

static void accept_all(struct proxy *px)
{
    while (!px->paused && !px->draining) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(px->listen_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                px->c.accept_backoffs++;
                evict_one(px);
                px->paused = 1;
                px->resume_at = proxy_now_ms() + ACCEPT_PAUSE_MS;
                listen_watch(px, 0);
            }
            return;
        }
        if (px->c.active >= px->lim.max_conns && !evict_one(px)) {
            px->c.refused_at_cap++;
            close(fd);
            continue;
        }
        conn_new(px, fd, &ss);
    }
}

static void sweep(struct proxy *px, int64_t now)
{
    for (struct pconn *c = px->oldest, *next; c != NULL; c = next) {
        next = c->next;
        int late = c->deadline_ms != 0 && now >= c->deadline_ms;
        int idle = c->phase == PP_RELAY && px->lim.idle_ms > 0 &&
                   now - c->last_io_ms >= px->lim.idle_ms;
        int drained = px->draining && now >= px->drain_until;
        if (!late && !idle && !drained)
            continue;
        px->c.timed_out += !drained;
        snprintf(c->error, sizeof(c->error), "%s",
                 drained ? "closed at shutdown"
                 : idle  ? "idle timeout"
                         : "handshake timeout");
        proxy_conn_close(px, c);
    }
}

static void start_drain(struct proxy *px)
{
    if (px->draining)
        return;
    px->draining = 1;
    px->drain_until = proxy_now_ms() + px->lim.drain_ms;
    if (px->listen_fd >= 0) {
        close(px->listen_fd);
        px->listen_fd = -1;
    }
}

static void on_signal(struct proxy *px)
{
    struct signalfd_siginfo si;
    while (read(px->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP && px->reload != NULL) {
            px->reload(px);
        } else if (si.ssi_signo == SIGCHLD) {
            int st;
            if (px->child_pid > 0 && waitpid((pid_t)px->child_pid, &st,
                                             WNOHANG) == (pid_t)px->child_pid) {
                px->child_done = 1;
                px->child_status = WIFEXITED(st)     ? WEXITSTATUS(st)
                                   : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                                     : 1;
                start_drain(px);
            }
        } else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            proxy_log("signal %u: no new connections; draining %ld open "
                      "ones",
                      si.ssi_signo, px->c.active);
            start_drain(px);
        }
    }
}

static void on_resolved(struct proxy *px)
{
    void *conn;
    struct addrinfo *ai;
    const char *error;
    while (proxy_resolver_take(px->resolver, &conn, &ai, &error)) {
        struct pconn *c = conn;
        if (c == NULL) { /* gone meanwhile */
            if (ai)
                freeaddrinfo(ai);
            continue;
        }
        proxy_conn_resolved(px, c, ai, error);
        proxy_conn_step(px, c);
    }
}

void proxy_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

static int loop_init(struct proxy *px)
{
    sigset_t set;
    proxy_signal_set(&set);
    px->ep = epoll_create1(EPOLL_CLOEXEC);
    px->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (px->ep < 0 || px->sig_fd < 0 || !proxy_resolver_new(&px->resolver))
        return 0;
    struct epoll_event a = {.events = EPOLLIN, .data.ptr = &g_tag_listen};
    struct epoll_event b = {.events = EPOLLIN, .data.ptr = &g_tag_signal};
    struct epoll_event r = {.events = EPOLLIN, .data.ptr = &g_tag_resolver};
    return epoll_ctl(px->ep, EPOLL_CTL_ADD, px->listen_fd, &a) == 0 &&
           epoll_ctl(px->ep, EPOLL_CTL_ADD, px->sig_fd, &b) == 0 &&
           epoll_ctl(px->ep, EPOLL_CTL_ADD, proxy_resolver_fd(px->resolver),
                     &r) == 0;
}

static void dispatch(struct proxy *px, const struct epoll_event *ev)
{
    void *tag = ev->data.ptr;
    if (tag == &g_tag_listen)
        accept_all(px);
    else if (tag == &g_tag_signal)
        on_signal(px);
    else if (tag == &g_tag_resolver)
        on_resolved(px);
    else
        proxy_conn_step(px, ((struct ep *)tag)->conn);
}

int proxy_loop_run(struct proxy *px)
{
    if (!loop_init(px)) {
        proxy_log("cannot start the event loop: %s", strerror(errno));
        return 1;
    }
    int64_t next_sweep = 0;
    struct epoll_event evs[64];
    for (;;) {
        int64_t now = proxy_now_ms();
        if (px->draining && (px->oldest == NULL || now >= px->drain_until))
            break;
        int n = epoll_wait(px->ep, evs, 64, SWEEP_MS);
        for (int i = 0; i < n; i++)
            dispatch(px, &evs[i]);
        free_dead(px);
        now = proxy_now_ms();
        if (px->paused && now >= px->resume_at && !px->draining) {
            px->paused = 0;
            listen_watch(px, EPOLLIN);
        }
        if (now >= next_sweep) {
            sweep(px, now);
            free_dead(px);
            next_sweep = now + SWEEP_MS;
        }
    }
    px->drain_until = 0;
    sweep(px, proxy_now_ms()); /* whatever outlived the drain */
    free_dead(px);
    proxy_resolver_free(px->resolver);
    px->resolver = NULL;
    close(px->sig_fd);
    close(px->ep);
    return 0;
}
