/*
 * Sessions bound to the trust they were verified under (docs/design/ctx.md).
 *
 * A resumed handshake verifies no certificate, so a session established
 * under trust that has since been removed would keep the peer authenticated.
 *
 * - Client side: the session is tagged with the roots generation that
 *   verified the server, twice: in SSL_SESSION ex_data (copied into the
 *   sessions OpenSSL derives from it, e.g. TLS 1.3 tickets) and in the
 *   session's ticket application data, which a client never sends but
 *   i2d_SSL_SESSION keeps. Applications that cache sessions serialized
 *   (libcurl since 8.12 does) get back a session without ex_data; the
 *   serialized tag, bound to this process by a random nonce renewed in a
 *   fork child, still identifies it. Before a handshake offers a session,
 *   a session from another generation, or of unknown origin, is dropped,
 *   so the handshake is a full one.
 * - Server side: a ticket issued to an authenticated client carries the
 *   client-CA generation in its encrypted application data; a ticket from
 *   another generation is ignored (full handshake, new ticket). Tickets of
 *   clients that presented no certificate are unaffected.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "base/fork.h"

#include "ctx/ctx_internal.h"

static int g_sess_idx = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The serialized client tag: magic, this process's nonce, generation. */
#define TAG_MAGIC "ftls"
#define TAG_NONCE 16
#define TAG_LEN (4 + TAG_NONCE + 8)
static unsigned char g_nonce[TAG_NONCE];

/* Generations travel as 8 big-endian bytes (client tags, server tickets). */
static void put_be64(unsigned char *out, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const unsigned char *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

/* A child's generations diverge from its parent's: new nonce, so a
 * session tagged in one process is never taken as verified in the other. */
static void renew_nonce(void)
{
    if (RAND_bytes(g_nonce, sizeof(g_nonce)) != 1)
        memset(g_nonce, 0, sizeof(g_nonce)); /* all-zero: never matches */
}

static void init_once(void)
{
    g_sess_idx = SSL_SESSION_get_ex_new_index(0, "freshtls trust generation",
                                              NULL, NULL, NULL);
    renew_nonce();
    ftls__fork_on_child(renew_nonce);
}

static int nonce_usable(void)
{
    static const unsigned char zero[TAG_NONCE];
    return memcmp(g_nonce, zero, sizeof(zero)) != 0;
}

void ftls__session_tag(SSL *ssl, uint64_t generation)
{
    pthread_once(&g_once, init_once);
    SSL_SESSION *s = SSL_get_session(ssl);
    if (s == NULL)
        return;
    if (g_sess_idx >= 0)
        (void)SSL_SESSION_set_ex_data(s, g_sess_idx,
                                      (void *)(uintptr_t)generation);
    if (SSL_is_server(ssl) || !nonce_usable())
        return; /* server sessions carry their tag in the ticket (below) */
    unsigned char tag[TAG_LEN];
    memcpy(tag, TAG_MAGIC, 4);
    memcpy(tag + 4, g_nonce, TAG_NONCE);
    put_be64(tag + 4 + TAG_NONCE, generation);
    (void)SSL_SESSION_set1_ticket_appdata(s, tag, sizeof(tag));
}

/* The generation a client session was verified under; 0 when unknown. */
static uint64_t client_tag(SSL_SESSION *s)
{
    uintptr_t tag =
        g_sess_idx < 0 ? 0 : (uintptr_t)SSL_SESSION_get_ex_data(s, g_sess_idx);
    if (tag != 0)
        return tag;
    void *data = NULL;
    size_t len = 0;
    SSL_SESSION_get0_ticket_appdata(s, &data, &len);
    const unsigned char *d = data;
    if (d == NULL || len != TAG_LEN || memcmp(d, TAG_MAGIC, 4) != 0 ||
        !nonce_usable() || CRYPTO_memcmp(d + 4, g_nonce, TAG_NONCE) != 0)
        return 0;
    return get_be64(d + 4 + TAG_NONCE);
}

int ftls__session_offer_ok(SSL *ssl, uint64_t generation)
{
    pthread_once(&g_once, init_once);
    SSL_SESSION *s = SSL_get_session(ssl);
    if (s == NULL)
        return 1;
    uint64_t tag = client_tag(s);
    return tag != 0 && tag == generation;
}

void ftls__session_drop_stale(SSL *ssl, uint64_t generation)
{
    if (ftls__session_offer_ok(ssl, generation))
        return;
    ftls__log(FTLS_LOG_DEBUG, "session established under other trust: "
                              "not resuming it");
    (void)SSL_set_session(ssl, NULL);
}

int ftls__session_guard(SSL *ssl, unsigned int context, uint64_t generation,
                        int *al)
{
    SSL_SESSION *sess = SSL_get_session(ssl);
    if (!(context & SSL_EXT_CLIENT_HELLO) || sess == NULL ||
        !SSL_SESSION_is_resumable(sess) ||
        ftls__session_offer_ok(ssl, generation))
        return 0; /* add nothing */
    ftls__log(FTLS_LOG_ERROR,
              "refusing to resume a session verified under "
              "roots that are no longer current (a per-SSL info callback "
              "replaced the one that would have dropped it)");
    *al = SSL_AD_INTERNAL_ERROR;
    return -1;
}

/* ---- server tickets ---------------------------------------------------------- */

int ftls__ticket_gen(SSL *ssl, void *unused)
{
    (void)unused;
    pthread_once(&g_once, init_once);
    SSL_SESSION *s = SSL_get_session(ssl);
    if (s == NULL || SSL_SESSION_get0_peer(s) == NULL)
        return 1; /* no client certificate: nothing to bind */
    /* The generation that verified the client (0: not verified by us). */
    uint64_t generation =
        g_sess_idx < 0
            ? 0
            : (uint64_t)(uintptr_t)SSL_SESSION_get_ex_data(s, g_sess_idx);
    unsigned char buf[8];
    put_be64(buf, generation);
    return SSL_SESSION_set1_ticket_appdata(s, buf, sizeof(buf));
}

SSL_TICKET_RETURN ftls__ticket_dec(SSL_SESSION *s, SSL_TICKET_STATUS status,
                                   uint64_t generation)
{
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW: break;
    case SSL_TICKET_FATAL_ERR_MALLOC:
    case SSL_TICKET_FATAL_ERR_OTHER: return SSL_TICKET_RETURN_ABORT;
    default: /* no ticket, or not one of ours: a full handshake */
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
    if (SSL_SESSION_get0_peer(s) != NULL) {
        void *data = NULL;
        size_t len = 0;
        if (!SSL_SESSION_get0_ticket_appdata(s, &data, &len) || len != 8)
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        if (get_be64(data) != generation) {
            ftls__log(FTLS_LOG_DEBUG, "ticket of a client authenticated under "
                                      "other client CAs: full handshake");
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        }
    }
    return status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW
                                              : SSL_TICKET_RETURN_USE;
}
