/* The relay: bytes both ways between the two endpoints of a connection,
 * TLS or plain. Back-pressure: a direction holds at most one read's worth
 * of bytes its destination has not taken, and reads nothing more until
 * they are written, so a slow reader costs at most 16 KiB per direction.
 * The end of a stream is passed on as it came: after a close_notify the
 * other side gets one; after a bare TCP close (a possible truncation) it
 * gets a bare close too, never a clean-looking one. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "proxy.h"

static const char *side(const struct pconn *c, const struct ep *e)
{
    return e == &c->cl ? "client" : "upstream";
}

static long tls_fail(struct pconn *c, struct ep *e, int rc, const char *op)
{
    int err = SSL_get_error(e->ssl, rc);
    if (err == SSL_ERROR_WANT_READ)
        return e->want |= EP_RD, -1;
    if (err == SSL_ERROR_WANT_WRITE)
        return e->want |= EP_WR, -1;
    unsigned long le = ERR_peek_last_error();
    if (op[0] == 'r' &&
        (err == SSL_ERROR_ZERO_RETURN ||
         (err == SSL_ERROR_SYSCALL && le == 0) ||
         (ERR_GET_LIB(le) == ERR_LIB_SSL &&
          ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING))) {
        e->eof = 1;
        e->eof_clean = err == SSL_ERROR_ZERO_RETURN;
        ERR_clear_error();
        return 0;
    }
    const char *why = le ? ERR_reason_error_string(le) : NULL;
    if (c->error[0] == '\0')
        snprintf(c->error, sizeof(c->error), "%s %s failed: %s", side(c, e), op,
                 why ? why : (errno ? strerror(errno) : "closed"));
    ERR_clear_error();
    return -2;
}

long proxy_ep_read(struct pconn *c, struct ep *e, void *buf, size_t n)
{
    int len = n > INT_MAX ? INT_MAX : (int)n;
    if (e->ssl != NULL) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_read(e->ssl, buf, len);
        return rc > 0 ? rc : tls_fail(c, e, rc, "read");
    }
    ssize_t r = recv(e->fd, buf, (size_t)len, 0);
    if (r > 0)
        return r;
    if (r == 0) {
        e->eof = e->eof_clean = 1;
        return 0;
    }
    if (errno == EAGAIN || errno == EINTR)
        return e->want |= EP_RD, -1;
    if (c->error[0] == '\0')
        snprintf(c->error, sizeof(c->error), "%s read failed: %s", side(c, e),
                 strerror(errno));
    return -2;
}

long proxy_ep_write(struct pconn *c, struct ep *e, const void *buf, size_t n)
{
    int len = n > INT_MAX ? INT_MAX : (int)n;
    if (e->ssl != NULL) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_write(e->ssl, buf, len);
        return rc > 0 ? rc : tls_fail(c, e, rc, "write");
    }
    ssize_t r = send(e->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EINTR)
        return e->want |= EP_WR, -1;
    if (c->error[0] == '\0')
        snprintf(c->error, sizeof(c->error), "%s write failed: %s", side(c, e),
                 strerror(errno));
    return -2;
}

/* The source ended: end the destination the same way. */
static void finish(struct ep *src, struct ep *dst)
{
    if (dst->ssl != NULL && src->eof_clean) {
        ERR_clear_error();
        int rc = SSL_shutdown(dst->ssl);
        if (rc < 0 && SSL_get_error(dst->ssl, rc) == SSL_ERROR_WANT_WRITE) {
            dst->want |= EP_WR;
            return;
        }
        ERR_clear_error();
    }
    shutdown(dst->fd, SHUT_WR);
    dst->shut = 1;
}

/* Move what can be moved from src to dst: 1 when bytes moved, 0 when
 * none, -1 on an error (c->error set). */
static int pump(struct proxy *px, struct pconn *c, struct ep *src,
                struct ep *dst, struct pdir *d)
{
    int moved = 0;
    for (;;) {
        if (d->len > d->off) {
            long w = proxy_ep_write(c, dst, d->buf + d->off, d->len - d->off);
            if (w == -2)
                return -1;
            if (w < 0)
                return moved;
            d->off += (size_t)w;
            d->bytes += (uint64_t)w;
            moved = 1;
            if (d->off == d->len) {
                free(d->buf);
                d->buf = NULL;
                d->len = d->off = 0;
            }
            continue;
        }
        if (src->eof) {
            if (!dst->shut)
                finish(src, dst);
            return moved;
        }
        long r = proxy_ep_read(c, src, px->scratch, sizeof(px->scratch));
        if (r == -2)
            return -1;
        if (r < 0)
            return moved;
        if (r == 0)
            continue;
        moved = 1;
        long w = proxy_ep_write(c, dst, px->scratch, (size_t)r);
        if (w == -2)
            return -1;
        size_t done = w > 0 ? (size_t)w : 0;
        d->bytes += done;
        if (done < (size_t)r) { /* keep the rest; retry it as it is */
            d->buf = malloc((size_t)r - done);
            if (d->buf == NULL) {
                snprintf(c->error, sizeof(c->error), "out of memory");
                return -1;
            }
            memcpy(d->buf, px->scratch + done, (size_t)r - done);
            d->len = (size_t)r - done;
            d->off = 0;
        }
    }
}

void proxy_relay(struct proxy *px, struct pconn *c)
{
    int a = pump(px, c, &c->cl, &c->up, &c->c2u);
    int b = a < 0 ? -1 : pump(px, c, &c->up, &c->cl, &c->u2c);
    if (a < 0 || b < 0) {
        c->phase = PP_CLOSING;
        return;
    }
    if (a > 0 || b > 0)
        c->last_io_ms = proxy_now_ms();
    if (c->cl.eof && c->up.eof && c->cl.shut && c->up.shut)
        c->phase = PP_CLOSING;
}
