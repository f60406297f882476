/*
 * The event loop behind `freshtls serve`: one thread, epoll, non-blocking
 * TLS. Bounded under abuse: a connection cap (at capacity the oldest
 * connection that has not yet sent a request is closed to make room), a
 * whole-handshake deadline and a whole-request deadline (a byte now and
 * then does not extend either), accept back-off on EMFILE/ENFILE without
 * spinning, and memory handed back to the system when load ends. Signals
 * arrive through signalfd: SIGHUP calls the reload hook, SIGINT/SIGTERM
 * stop accepting and drain. An optional plain-HTTP listener serves
 * Prometheus metrics.
 */
#ifndef FTLS_CLI_SERVE_LOOP_H
#define FTLS_CLI_SERVE_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct serve_limits {
    long max_conns;    /* TLS connections at once */
    long handshake_ms; /* accept to finished handshake */
    long request_ms;   /* finished handshake to response sent */
    long drain_ms;     /* after SIGTERM: how long in-flight ones may take */
};

/* Counters the loop keeps (read by the metrics hook). */
struct serve_counters {
    uint64_t accepted, handshakes, handshake_failures, requests;
    uint64_t evicted, timed_out, accept_backoffs;
    long active, peak;
};

struct serve_hooks {
    void *ud;
    /* A new server SSL for an accepted connection; NULL refuses it. */
    SSL *(*new_ssl)(void *ud);
    /* The HTTP response for a request head received over `ssl`; returns
     * its length (at most cap). */
    size_t (*respond)(void *ud, SSL *ssl, const char *req, char *out,
                      size_t cap);
    /* The metrics page (Prometheus text) into out; returns its length. */
    size_t (*metrics)(void *ud, const struct serve_counters *c, char *out,
                      size_t cap);
    /* SIGHUP. */
    void (*reload)(void *ud);
};

/* Listen on "ADDR:PORT" ("[v6]:PORT"; port 0..65535, 0 = any free one).
 * Returns the socket and writes the bound address to `bound`, or -1 with
 * a reason in `why`. */
int serve_listen(const char *spec, char *bound, size_t n, const char **why);

/* "ADDR:PORT" ("[V6]:PORT") of a socket address, for logs. */
struct sockaddr_storage;
void serve_addr_text(const struct sockaddr_storage *ss, char *out, size_t n);

/* 1 when `spec` is a well-formed ADDR:PORT with the port in range; else
 * 0 with the reason in `why` (a usage error). */
int serve_check_spec(const char *spec, const char **why);

/* Run until SIGINT/SIGTERM and the drain are over. `metrics_fd` may be -1.
 * Returns 0 after a clean drain, 1 when the loop could not run. */
int serve_loop_run(int tls_fd, int metrics_fd, const struct serve_limits *l,
                   const struct serve_hooks *h);

/* systemd's sd_notify(3) protocol, without libsystemd: a datagram to
 * $NOTIFY_SOCKET when set (abstract when it starts with '@'). */
void serve_notify(const char *state);

#endif
