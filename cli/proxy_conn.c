/* One proxied connection, from its CONNECT request to the relay
 * (phases in proxy.h). Every step is non-blocking: a step that cannot go
 * on records what it waits for in the endpoint's `want`. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "proxy.h"
#include "proxy_parse.h"
#include "serve_loop.h"

#define HEAD_MAX 8192

static const char R200[] = "HTTP/1.1 200 Connection established\r\n\r\n";
static const char R400[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n";
static const char R403[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n";
static const char R405[] = "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT"
                           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char R431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                           "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char R502[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                           "Connection: close\r\n\r\n";

void proxy_conn_fail(struct proxy *px, struct pconn *c, const char *reply,
                     const char *fmt, ...)
{
    if (c->error[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
    }
    if (reply != R403)
        px->c.failed++;
    if (reply != NULL && c->phase < PP_ACCEPT) {
        c->reply = reply;
        c->reply_off = 0;
        c->close_after_reply = 1;
        c->phase = PP_REPLY;
    } else {
        c->phase = PP_CLOSING;
    }
}

/* ---- HEAD: the CONNECT request ------------------------------------------- */

static void start_resolve(struct proxy *px, struct pconn *c);

static void on_head(struct proxy *px, struct pconn *c, size_t len)
{
    struct proxy_request r;
    enum proxy_head_status st = proxy_head_parse(c->head, len, &r);
    if (st == PH_METHOD) {
        proxy_conn_fail(px, c, R405, "method %s: only CONNECT is served",
                        r.method);
        return;
    }
    if (st != PH_OK) {
        proxy_conn_fail(px, c, R400, "%s",
                        r.method[0] ? "bad CONNECT target"
                                    : "malformed request");
        return;
    }
    memcpy(c->target, r.target, sizeof(c->target));
    memcpy(c->host, r.host, sizeof(c->host));
    c->port = r.port;
    c->is_ip = r.is_ip;
    memcpy(c->vname, r.host, sizeof(c->vname));
    c->v_is_ip = r.is_ip;
    free(c->head);
    c->head = NULL;
    const char *rule = NULL;
    c->action = proxy_rules_match(&px->rules, c->host, c->is_ip, &rule);
    snprintf(c->rule_text, sizeof(c->rule_text), "%s", rule ? rule : "");
    if (c->action == PA_DENY) {
        px->c.denied++;
        proxy_conn_fail(px, c, R403, "denied by %s%s",
                        rule ? "rule " : "the default policy",
                        rule ? rule : "");
        return;
    }
    start_resolve(px, c);
}

/* Peek, then consume exactly the head: bytes after it belong to the
 * tunnel, which starts only after our 200. */
static void step_head(struct proxy *px, struct pconn *c)
{
    char probe;
    /* The buffer only once bytes arrive: idle connections cost no 8 KiB. */
    ssize_t n = c->head ? 1 : recv(c->cl.fd, &probe, 1, MSG_PEEK);
    if (n > 0 && c->head == NULL && (c->head = malloc(HEAD_MAX)) == NULL) {
        proxy_conn_fail(px, c, NULL, "out of memory");
        return;
    }
    if (n > 0)
        n = recv(c->cl.fd, c->head + c->head_len, HEAD_MAX - c->head_len,
                 MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c->cl.want |= EP_RD;
        return;
    }
    if (n <= 0) {
        proxy_conn_fail(px, c, NULL,
                        n == 0 ? "client closed before CONNECT"
                               : "client read failed");
        return;
    }
    size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
    size_t end = proxy_head_end(c->head + from, c->head_len + (size_t)n - from);
    size_t take = end ? from + end - c->head_len : (size_t)n;
    if (recv(c->cl.fd, c->head + c->head_len, take, 0) != (ssize_t)take) {
        proxy_conn_fail(px, c, NULL, "client read failed");
        return;
    }
    c->head_len += take;
    if (end != 0)
        on_head(px, c, c->head_len);
    else if (c->head_len == HEAD_MAX)
        proxy_conn_fail(px, c, R431, "request head over %d bytes", HEAD_MAX);
    else
        c->cl.want |= EP_RD;
}

/* ---- RESOLVE, CONNECT ---------------------------------------------------- */

static void try_connect(struct proxy *px, struct pconn *c)
{
    for (; c->ai_next != NULL; c->ai_next = c->ai_next->ai_next) {
        struct addrinfo *a = c->ai_next;
        if (proxy_rules_denies_addr(&px->rules, a->ai_addr))
            continue;
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1; /* see conn_new() */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve_addr_text((const struct sockaddr_storage *)(void *)a->ai_addr,
                        c->upstream_addr, sizeof(c->upstream_addr));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            errno == EINPROGRESS) {
            c->up.fd = fd;
            c->up.want = EP_WR;
            c->phase = PP_CONNECT;
            return;
        }
        close(fd);
    }
    proxy_conn_fail(px, c, R502, "cannot connect to %s", c->target);
}

void proxy_conn_resolved(struct proxy *px, struct pconn *c, struct addrinfo *ai,
                         const char *error)
{
    c->lookup = NULL;
    if (ai == NULL) {
        proxy_conn_fail(px, c, R502, "cannot resolve %s: %s", c->host,
                        error ? error : "no address");
        return;
    }
    /* Deny rules on addresses hold for names that resolve into them:
     * try_connect() skips those addresses. */
    size_t allowed = 0;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next)
        allowed += !proxy_rules_denies_addr(&px->rules, a->ai_addr);
    c->ai = c->ai_next = ai;
    if (allowed == 0) {
        px->c.denied++;
        c->action = PA_DENY;
        proxy_conn_fail(px, c, R403, "every address of %s is denied", c->host);
        return;
    }
    try_connect(px, c);
}

static void start_resolve(struct proxy *px, struct pconn *c)
{
    struct addrinfo *ai =
        proxy_map_lookup(px->maps, px->nmaps, c->host, c->port);
    if (ai == NULL && c->is_ip) {
        char port[8];
        snprintf(port, sizeof(port), "%d", c->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
        if (getaddrinfo(c->host, port, &hints, &ai) != 0)
            ai = NULL;
    }
    if (ai != NULL || c->is_ip) {
        proxy_conn_resolved(px, c, ai, "not a usable address");
        return;
    }
    c->lookup = proxy_resolver_start(px->resolver, c->host, c->port, c);
    if (c->lookup == NULL)
        proxy_conn_fail(px, c, R502, "out of memory");
    else
        c->phase = PP_RESOLVE;
}

static void step_connect(struct proxy *px, struct pconn *c)
{
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
        e = errno;
    if (e == EINPROGRESS || e == EALREADY) {
        c->up.want = EP_WR;
        return;
    }
    if (e != 0) {        /* next address */
        close(c->up.fd); /* also leaves epoll: nothing else holds it */
        c->up.fd = -1;
        c->up.registered = 0;
        c->up.added = 0;
        c->ai_next = c->ai_next->ai_next;
        try_connect(px, c);
        return;
    }
    freeaddrinfo(c->ai);
    c->ai = c->ai_next = NULL;
    c->reply = R200;
    c->reply_off = 0;
    c->phase = PP_REPLY;
}

/* ---- REPLY ---------------------------------------------------------------- */

static void step_reply(struct proxy *px, struct pconn *c)
{
    size_t len = strlen(c->reply);
    while (c->reply_off < len) {
        ssize_t n = send(c->cl.fd, c->reply + c->reply_off, len - c->reply_off,
                         MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            c->cl.want |= EP_WR;
            return;
        }
        if (n <= 0) {
            proxy_conn_fail(px, c, NULL, "client gone during the reply");
            return;
        }
        c->reply_off += (size_t)n;
    }
    if (c->close_after_reply) {
        c->phase = PP_CLOSING;
    } else if (c->action == PA_TUNNEL) {
        px->c.tunnelled++;
        c->deadline_ms = 0;
        c->last_io_ms = proxy_now_ms();
        c->phase = PP_RELAY;
    } else if ((c->cl.ssl = proxy_tls_client_ssl(px, c)) == NULL ||
               !SSL_set_fd(c->cl.ssl, c->cl.fd)) {
        proxy_conn_fail(px, c, NULL, "cannot start client TLS");
    } else {
        c->phase = PP_ACCEPT;
    }
}

/* ---- ACCEPT, UPSTREAM, FINISH --------------------------------------------- */

/* Note what the handshake on `e` waits for; 0 when it failed. */
static int tls_want(struct ep *e, int rc)
{
    int err = SSL_get_error(e->ssl, rc);
    if (err == SSL_ERROR_WANT_READ)
        return e->want |= EP_RD, 1;
    if (err == SSL_ERROR_WANT_WRITE)
        return e->want |= EP_WR, 1;
    return 0;
}

static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "connection closed";
}

static void step_accept(struct proxy *px, struct pconn *c)
{
    ERR_clear_error();
    int rc = SSL_accept(c->cl.ssl);
    if (rc <= 0 &&
        SSL_get_error(c->cl.ssl, rc) == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
        c->up.ssl = proxy_tls_upstream_ssl(px, c);
        if (c->up.ssl == NULL || !SSL_set_fd(c->up.ssl, c->up.fd)) {
            proxy_conn_fail(px, c, NULL, "cannot start upstream TLS");
            return;
        }
        c->phase = PP_UPSTREAM;
        return;
    }
    if (rc <= 0 && tls_want(&c->cl, rc))
        return;
    proxy_conn_fail(px, c, NULL, "client handshake failed: %s", ossl_reason());
    ERR_clear_error();
}

static void step_upstream(struct proxy *px, struct pconn *c)
{
    (void)px;
    ERR_clear_error();
    int rc = SSL_connect(c->up.ssl);
    if (rc == 1) {
        const unsigned char *p = NULL;
        unsigned len = 0;
        SSL_get0_alpn_selected(c->up.ssl, &p, &len);
        if (len > 0 && len < sizeof(c->alpn)) {
            memcpy(c->alpn, p, len);
            c->alpn[len] = '\0';
        }
        c->upstream_ok = 1;
        snprintf(c->verify, sizeof(c->verify), "ok");
        c->phase = PP_FINISH;
        return;
    }
    if (tls_want(&c->up, rc))
        return;
    long v = SSL_get_verify_result(c->up.ssl);
    if (v != X509_V_OK)
        snprintf(c->verify, sizeof(c->verify), "%s",
                 X509_verify_cert_error_string(v));
    else
        snprintf(c->verify, sizeof(c->verify), "handshake failed: %s",
                 ossl_reason());
    snprintf(c->error, sizeof(c->error), "upstream %.90s not verified: %.80s",
             c->target, c->verify);
    ERR_clear_error();
    c->phase = PP_FINISH; /* the client gets a handshake_failure alert */
}

static void step_finish(struct proxy *px, struct pconn *c)
{
    ERR_clear_error();
    int rc = SSL_accept(c->cl.ssl);
    if (rc == 1) {
        px->c.intercepted++;
        c->deadline_ms = 0;
        c->last_io_ms = proxy_now_ms();
        c->phase = PP_RELAY;
        return;
    }
    if (tls_want(&c->cl, rc))
        return;
    proxy_conn_fail(px, c, NULL, "client handshake failed: %s", ossl_reason());
    ERR_clear_error();
}

void proxy_conn_step(struct proxy *px, struct pconn *c)
{
    if (c->phase == PP_CLOSING)
        return;
    c->cl.want = c->up.want = 0;
    enum pphase before;
    do {
        before = c->phase;
        switch (c->phase) {
        case PP_HEAD: step_head(px, c); break;
        case PP_RESOLVE: break;
        case PP_CONNECT: step_connect(px, c); break;
        case PP_REPLY: step_reply(px, c); break;
        case PP_ACCEPT: step_accept(px, c); break;
        case PP_UPSTREAM: step_upstream(px, c); break;
        case PP_FINISH: step_finish(px, c); break;
        case PP_RELAY: proxy_relay(px, c); break;
        case PP_CLOSING: break;
        }
    } while (c->phase != before && c->phase != PP_CLOSING);
    if (c->phase == PP_CLOSING)
        proxy_conn_close(px, c);
    else
        proxy_conn_watch(px, c);
}
