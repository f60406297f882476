/* Upstream session reuse: the proxy resumes its TLS session with a target
 * it has verified recently, as nginx's proxy_ssl_session_reuse does,
 * sparing both sides a full handshake. Safe by construction:
 *   - a session is only stored from a handshake that verified the target
 *     (name or IP) against the trust in force;
 *   - the store belongs to one upstream context: new system roots or new
 *     --upstream-ca files (SIGHUP) start an empty store, so removed trust
 *     takes effect on the next connection, resumed or not;
 *   - an entry is keyed by the target as verified (host:port) and is used
 *     for at most SESSION_MAX_AGE seconds, and never after the target's
 *     certificate expires. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "proxy.h"

#define SESSION_SLOTS 1024
#define SESSION_MAX_AGE 600

struct proxy_session_slot {
    char key[520]; /* "verified-name@host:port" */
    SSL_SESSION *sess;
    time_t stored; /* when the ticket arrived (our clock, any version) */
};

struct proxy_sessions {
    struct proxy_session_slot slot[SESSION_SLOTS];
};

static int g_sessions_idx = -1; /* SSL_CTX ex_data: its session store */

static size_t slot_of(const char *key)
{
    size_t h = 1469598103934665603ull;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return h % SESSION_SLOTS;
}

static void sessions_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                          long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct proxy_sessions *s = ptr;
    for (size_t i = 0; s != NULL && i < SESSION_SLOTS; i++)
        SSL_SESSION_free(s->slot[i].sess);
    free(s);
}

static void make_key(const struct pconn *c, char *out, size_t n)
{
    /* The name verified and where: a session for a name is not one for
     * another name at the same address. */
    snprintf(out, n, "%s@%s:%d", c->vname, c->host, c->port);
}

/* New tickets arrive after the handshake (TLS 1.3): keep the newest one
 * of each target, from verified handshakes only. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct pconn *c = SSL_get_app_data(ssl);
    struct proxy_sessions *s =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_sessions_idx);
    if (c == NULL || s == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
        !SSL_SESSION_is_resumable(sess))
        return 0;
    char key[520];
    make_key(c, key, sizeof(key));
    struct proxy_session_slot *sl = &s->slot[slot_of(key)];
    SSL_SESSION_free(sl->sess);
    snprintf(sl->key, sizeof(sl->key), "%s", key);
    sl->sess = sess;
    sl->stored = time(NULL);
    return 1; /* we keep the reference */
}

int proxy_sessions_enable(SSL_CTX *ctx)
{
    if (g_sessions_idx < 0)
        g_sessions_idx =
            SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sessions_free);
    struct proxy_sessions *s = calloc(1, sizeof(*s));
    if (g_sessions_idx < 0 || s == NULL ||
        !SSL_CTX_set_ex_data(ctx, g_sessions_idx, s)) {
        free(s);
        return 0;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    return 1;
}

void proxy_sessions_offer(SSL *ssl, const struct pconn *c)
{
    struct proxy_sessions *s =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_sessions_idx);
    char key[520];
    make_key(c, key, sizeof(key));
    struct proxy_session_slot *sl = s ? &s->slot[slot_of(key)] : NULL;
    if (sl == NULL || sl->sess == NULL || strcmp(sl->key, key) != 0)
        return;
    X509 *peer = SSL_SESSION_get0_peer(sl->sess);
    int days = 0, secs = 0; /* from now to the certificate's notAfter */
    int fresh = time(NULL) - sl->stored < SESSION_MAX_AGE && peer != NULL &&
                ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(peer)) &&
                (days > 0 || (days == 0 && secs > 0));
    if (!fresh) {
        SSL_SESSION_free(sl->sess);
        sl->sess = NULL;
        return;
    }
    SSL_set_session(ssl, sl->sess);
}
