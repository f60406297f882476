/*
 * `freshtls proxy`: an intercepting HTTPS forward proxy (HTTP CONNECT) on
 * one epoll thread. Shared by the proxy_*.c files; design in
 * docs/design/proxy.md.
 *
 * A connection goes through these phases:
 *   HEAD     read the CONNECT request (bounded size and time)
 *   RESOLVE  the target's addresses (a resolver thread; --resolve first)
 *   CONNECT  TCP to the target (each address in turn)
 *   REPLY    "200 Connection established" (or an error answer, then close)
 *   ACCEPT   client TLS up to its ClientHello (SNI, ALPN), then paused
 *   UPSTREAM verified TLS to the target, offering the client's ALPN list
 *   FINISH   client TLS resumed with a minted leaf and upstream's ALPN
 *   RELAY    bytes both ways (TLS-TLS, or TCP-TCP for tunnels)
 * Nothing is tunnelled unless a rule says so; any failure before RELAY
 * closes the client (with an HTTP error or a TLS alert) and is audited.
 */
#ifndef FTLS_CLI_PROXY_H
#define FTLS_CLI_PROXY_H

#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include <freshtls/freshtls.h>

/* ---- policy (proxy_policy.c) ------------------------------------------- */

enum proxy_action { PA_INTERCEPT, PA_TUNNEL, PA_DENY };

struct proxy_rule {
    enum proxy_action action;
    char *text;  /* as written: a glob or a CIDR */
    int is_cidr; /* else a glob over the normalized host name */
    int family;  /* AF_INET / AF_INET6 (CIDR) */
    unsigned char addr[16];
    int prefix;
};

struct proxy_rules {
    struct proxy_rule *v;
    size_t n;
    enum proxy_action fallback; /* when nothing matches */
};

/* Append one rule; 0 with the reason in why when the pattern is bad. */
int proxy_rules_add(struct proxy_rules *r, enum proxy_action a,
                    const char *pattern, char *why, size_t n);
/* Append the rules of FILE ("intercept|tunnel|deny PATTERN" per line, '#'
 * comments); 0 with "FILE:LINE: reason" in why. */
int proxy_rules_load(struct proxy_rules *r, const char *path, char *why,
                     size_t n);
void proxy_rules_clear(struct proxy_rules *r);
/* The action for a normalized target (`is_ip`: canonical address text);
 * the first matching rule wins. *rule: its text, or NULL for the default. */
enum proxy_action proxy_rules_match(const struct proxy_rules *r,
                                    const char *host, int is_ip,
                                    const char **rule);
/* 1 when a deny CIDR rule covers `sa` (a resolved address). */
int proxy_rules_denies_addr(const struct proxy_rules *r,
                            const struct sockaddr *sa);
const char *proxy_action_name(enum proxy_action a);

/* ---- name resolution (proxy_resolve.c) --------------------------------- */

struct proxy_map { /* --resolve HOST:PORT:ADDR */
    char host[256];
    int port;
    char addr[64];
};

struct proxy_resolver;
struct proxy_lookup; /* one request in flight */

/* Threads answer lookups and write the finished request pointer to a pipe
 * the loop reads (proxy_resolver_fd). */
int proxy_resolver_new(struct proxy_resolver **out);
void proxy_resolver_free(struct proxy_resolver *r);
int proxy_resolver_fd(const struct proxy_resolver *r);
/* Start a lookup for `conn`; NULL when out of memory. */
struct proxy_lookup *proxy_resolver_start(struct proxy_resolver *r,
                                          const char *host, int port,
                                          void *conn);
/* Read one finished lookup: its conn (NULL when cancelled) and its result
 * (owned by the caller: freeaddrinfo), or the error text. Returns 0 when
 * nothing is ready. */
int proxy_resolver_take(struct proxy_resolver *r, void **conn,
                        struct addrinfo **ai, const char **error);
/* The connection went away: the answer will arrive with conn NULL. */
void proxy_lookup_cancel(struct proxy_lookup *l);
/* A --resolve entry for host:port as a numeric addrinfo; NULL if none. */
struct addrinfo *proxy_map_lookup(const struct proxy_map *m, size_t n,
                                  const char *host, int port);
int proxy_map_parse(const char *spec, struct proxy_map *out, char *why,
                    size_t n);

/* ---- configuration and shared state ----------------------------------- */

struct proxy_limits {
    long max_conns, handshake_ms, idle_ms, drain_ms;
};

struct proxy_counters {
    uint64_t accepted, refused_at_cap, evicted, timed_out, intercepted,
        tunnelled, denied, failed, accept_backoffs;
    long active, peak;
};

struct proxy {
    struct proxy_limits lim;
    struct proxy_counters c;
    struct proxy_rules rules;
    struct proxy_map *maps;
    size_t nmaps;
    int allow_ip, allow_sni_mismatch, no_resume;
    /* TLS (proxy_tls.c) */
    ftls_ca *ca;
    ftls_leaf_cache *cache;
    SSL_CTX *client_ctx;   /* faces clients: ClientHello callback */
    SSL_CTX *upstream_ctx; /* verifies targets; rebuilt per roots gen. */
    uint64_t upstream_gen; /* roots generation upstream_ctx was built on */
    char **upstream_ca;    /* --upstream-ca files */
    size_t n_upstream_ca;
    STACK_OF(X509) *extra; /* their certificates, read at start/SIGHUP */
    FILE *audit, *keylog;
    ftls_error *err;
    /* loop (proxy_loop.c) */
    int ep, listen_fd, sig_fd;
    struct proxy_resolver *resolver;
    struct pconn *oldest, *newest, *dead;
    int paused, draining;
    int64_t resume_at, drain_until;
    long child_pid;
    int child_status, child_done;
    void (*reload)(struct proxy *px);
    void *app;
    unsigned char scratch[16384]; /* relay reads land here first */
};

/* Endpoint: one side of a connection. */
enum { EP_RD = 1, EP_WR = 2 };
struct pconn;
struct ep {
    struct pconn *conn;
    int fd;
    SSL *ssl;            /* NULL: plain TCP (HEAD, tunnels) */
    unsigned want;       /* EP_RD|EP_WR the pending operations wait for */
    unsigned registered; /* the events epoll watches now */
    int added;           /* fd is in the epoll set */
    int eof, eof_clean;  /* peer finished sending (cleanly: close_notify) */
    int shut;            /* we finished sending to the peer */
};

/* One direction of the relay: bytes read but not yet written. */
struct pdir {
    unsigned char *buf;
    size_t len, off;
    uint64_t bytes;
};

enum pphase {
    PP_HEAD,
    PP_RESOLVE,
    PP_CONNECT,
    PP_REPLY,
    PP_ACCEPT,
    PP_UPSTREAM,
    PP_FINISH,
    PP_RELAY,
    PP_CLOSING
};

struct pconn {
    struct proxy *px;
    struct pconn *prev, *next; /* accept order */
    enum pphase phase;
    struct ep cl, up;
    struct pdir c2u, u2c;
    int64_t t_start_ms, deadline_ms, last_io_ms;
    char peer[64];
    /* request */
    char *head;
    size_t head_len;
    char target[300]; /* as in the CONNECT line (host:port) */
    char host[256];   /* normalized: lowercase, no root dot, canonical IP */
    int port, is_ip;
    char vname[256]; /* the name verified upstream: host, or the SNI */
    int v_is_ip;     /* under --allow-sni-mismatch */
    enum proxy_action action;
    const char *rule; /* borrowed from px->rules: copied to rule_text */
    char rule_text[128];
    /* reply */
    const char *reply; /* static text */
    size_t reply_off;
    int close_after_reply;
    /* resolution and connect */
    struct proxy_lookup *lookup;
    struct addrinfo *ai, *ai_next;
    char upstream_addr[64];
    /* TLS */
    char sni[256];
    unsigned char *alpn_offer; /* client's ALPN list (wire format) */
    size_t alpn_offer_len;
    char alpn[64]; /* what upstream selected */
    int hello_seen, upstream_ok;
    const char *leaf_state; /* "hit", "mint" or NULL */
    char verify[160];       /* upstream verification result */
    char error[200];
};

/* proxy_sessions.c: upstream session reuse, bound to one upstream
 * context (so to one trust generation). */
int proxy_sessions_enable(SSL_CTX *ctx);
void proxy_sessions_offer(SSL *ssl, const struct pconn *c);

/* proxy_tls.c */
int proxy_tls_init(struct proxy *px, char *why, size_t n);
void proxy_tls_free(struct proxy *px);
/* Re-read --upstream-ca (SIGHUP); the previous set stays on failure. */
int proxy_tls_reload_extra(struct proxy *px, char *why, size_t n);
/* A new SSL for the client side / the upstream side of `c`. */
SSL *proxy_tls_client_ssl(struct proxy *px, struct pconn *c);
SSL *proxy_tls_upstream_ssl(struct proxy *px, struct pconn *c);
/* Put the leaf for c's name on c->cl.ssl; 0 with c->error set. */
int proxy_tls_use_leaf(struct proxy *px, struct pconn *c);

/* proxy_conn.c: drive `c` as far as it can go now. */
void proxy_conn_step(struct proxy *px, struct pconn *c);
void proxy_conn_resolved(struct proxy *px, struct pconn *c, struct addrinfo *ai,
                         const char *error);
/* Fail `c` before RELAY: record `msg`, answer `reply` (NULL: just close). */
void proxy_conn_fail(struct proxy *px, struct pconn *c, const char *reply,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* proxy_relay.c */
void proxy_relay(struct proxy *px, struct pconn *c);
/* Read/write one endpoint: > 0 bytes, 0 end of stream, -1 would block
 * (ep->want updated), -2 error (c->error set). */
long proxy_ep_read(struct pconn *c, struct ep *e, void *buf, size_t n);
long proxy_ep_write(struct pconn *c, struct ep *e, const void *buf, size_t n);

/* proxy_loop.c */
int64_t proxy_now_ms(void);
void proxy_conn_close(struct proxy *px, struct pconn *c);
/* Make epoll watch what c's endpoints wait for. */
void proxy_conn_watch(struct proxy *px, struct pconn *c);
int proxy_loop_run(struct proxy *px);
/* The signals the loop takes through its signalfd (blocked elsewhere). */
void proxy_signal_set(sigset_t *set);

/* proxy_audit.c */
void proxy_audit(struct proxy *px, const struct pconn *c);
void proxy_keylog_cb(const SSL *ssl, const char *line);
void proxy_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
