/* Trust bundles, per-context data, ticket keys and live-context counts. */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include "ctx/ctx_internal.h"
#include "roots/roots_internal.h"

static _Atomic uint64_t g_live_total;

uint64_t ftls_ctx_live_count(void)
{
    return atomic_load(&g_live_total);
}

ftls_code ftls__trust_bundle_new(ftls_roots *roots,
                                 struct ftls__trust_bundle **out,
                                 ftls_error *err)
{
    *out = NULL;
    struct ftls__trust_bundle *b = ftls__calloc(1, sizeof(*b));
    if (b == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "ctx: out of memory");
    ftls_code rc = ftls_roots_up_ref(roots);
    if (rc != FTLS_OK) {
        ftls__free(b);
        return ftls__err(err, rc, "ctx: cannot hold the root set");
    }
    b->roots = roots;
    rc = ftls_roots_new_store(roots, &b->store, err);
    if (rc == FTLS_OK && (b->names = sk_X509_NAME_new_null()) == NULL)
        rc = ftls__err(err, FTLS_E_NOMEM, "ctx: out of memory");
    for (size_t i = 0; rc == FTLS_OK && i < ftls_roots_count(roots); i++) {
        ftls_root_info info;
        X509_NAME *n = NULL;
        if (ftls_roots_get0_info(roots, i, &info) != FTLS_OK ||
            (n = X509_NAME_dup(info.subject)) == NULL ||
            !sk_X509_NAME_push(b->names, n)) {
            X509_NAME_free(n);
            rc = ftls__err(err, FTLS_E_NOMEM, "ctx: out of memory");
        }
    }
    if (rc != FTLS_OK) {
        ftls__trust_bundle_free(b, NULL);
        return rc;
    }
    *out = b;
    return FTLS_OK;
}

uint64_t ftls__bundle_cell_uid(ftls_cell *cell)
{
    ftls_snapshot *snap = NULL;
    if (cell == NULL || ftls_cell_get1_snapshot(cell, &snap) != FTLS_OK)
        return 0;
    const struct ftls__trust_bundle *b = ftls_snapshot_get0_data(snap);
    uint64_t uid = ftls__roots_uid(b->roots);
    ftls_snapshot_free(snap);
    return uid;
}

void ftls__trust_bundle_free(void *bundle, void *arg)
{
    (void)arg;
    struct ftls__trust_bundle *b = bundle;
    if (b == NULL)
        return;
    X509_STORE_free(b->store);
    sk_X509_NAME_pop_free(b->names, X509_NAME_free);
    ftls_roots_free(b->roots);
    ftls__free(b);
}

struct ftls__ctx_counter *ftls__ctx_counter_new(void)
{
    struct ftls__ctx_counter *c = ftls__calloc(1, sizeof(*c));
    if (c != NULL)
        atomic_init(&c->refs, 1);
    return c;
}

void ftls__ctx_counter_unref(struct ftls__ctx_counter *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
        ftls__free(c);
}

struct ctx_info {
    struct ftls__ticket_keys keys;
    int has_keys;
    uint64_t trust_uid; /* the root set this context verifies peers with */
    unsigned char *alpn;
    size_t alpn_len;
    struct ftls__ctx_counter *counter;
};

static int g_idx = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void info_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                      long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct ctx_info *i = ptr;
    if (i == NULL)
        return;
    if (i->counter != NULL)
        atomic_fetch_sub(&i->counter->live, 1);
    ftls__ctx_counter_unref(i->counter);
    atomic_fetch_sub(&g_live_total, 1);
    ftls__free(i->alpn);
    ftls__free_secret(i, sizeof(*i)); /* wipes the ticket keys */
}

static void init_once(void)
{
    g_idx = SSL_CTX_get_ex_new_index(0, "freshtls ctx", NULL, NULL, info_free);
}

static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    const struct ctx_info *i = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), g_idx);
    if (i == NULL || !i->has_keys)
        return -1;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  (void *)i->keys.hmac, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(key_name, i->keys.name, 16);
        if (RAND_bytes(iv, 16) <= 0 ||
            !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, i->keys.aes,
                                iv) ||
            !EVP_MAC_CTX_set_params(hctx, params))
            return -1;
        return 1;
    }
    if (memcmp(key_name, i->keys.name, 16) != 0)
        return 0; /* not ours: do a full handshake */
    if (!EVP_MAC_CTX_set_params(hctx, params) ||
        !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, i->keys.aes, iv))
        return -1;
    return 1;
}

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    const struct ctx_info *i = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), g_idx);
    if (i == NULL || i->alpn == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, i->alpn, (unsigned)i->alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no common protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- factory contexts: sessions bound to the context's trust ---------- */

static const struct ctx_info *info_of(const SSL *ssl)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_idx);
}

static int bound_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
    (void)arg;
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    int ok = X509_verify_cert(xctx);
    const struct ctx_info *i = ssl ? info_of(ssl) : NULL;
    if (i != NULL)
        ftls__session_tag(ssl, i->trust_uid);
    return ok;
}

static void bound_info_cb(const SSL *cssl, int where, int ret)
{
    (void)ret;
    SSL *ssl = (SSL *)cssl;
    const struct ctx_info *i = info_of(ssl);
    if ((where & SSL_CB_HANDSHAKE_START) && i != NULL && !SSL_is_server(ssl))
        ftls__session_drop_stale(ssl, i->trust_uid);
}

static int bound_guard(SSL *ssl, unsigned int type, unsigned int context,
                       const unsigned char **out, size_t *outlen, X509 *x,
                       size_t chainidx, int *al, void *arg)
{
    (void)type, (void)out, (void)outlen, (void)x, (void)chainidx, (void)arg;
    const struct ctx_info *i = info_of(ssl);
    return i == NULL ? 0 : ftls__session_guard(ssl, context, i->trust_uid, al);
}

static SSL_TICKET_RETURN bound_ticket_dec(SSL *ssl, SSL_SESSION *sess,
                                          const unsigned char *keyname,
                                          size_t keyname_len,
                                          SSL_TICKET_STATUS status, void *arg)
{
    (void)keyname, (void)keyname_len, (void)arg;
    const struct ctx_info *i = info_of(ssl);
    return ftls__ticket_dec(sess, status, i ? i->trust_uid : 0);
}

ftls_code ftls__ctx_bind_sessions(SSL_CTX *ctx, int is_server,
                                  uint64_t trust_uid, ftls_error *err)
{
    struct ctx_info *i = SSL_CTX_get_ex_data(ctx, g_idx);
    if (i == NULL)
        return ftls__err(err, FTLS_E_INTERNAL, "ctx: not installed");
    i->trust_uid = trust_uid;
    SSL_CTX_set_cert_verify_callback(ctx, bound_verify_cb, NULL);
    if (is_server) {
        if (!SSL_CTX_set_session_ticket_cb(ctx, ftls__ticket_gen,
                                           bound_ticket_dec, NULL))
            return ftls__err(err, FTLS_E_OPENSSL, "ctx: cannot bind tickets");
        return FTLS_OK;
    }
    SSL_CTX_set_info_callback(ctx, bound_info_cb);
    if (!SSL_CTX_add_custom_ext(ctx, FTLS_SESSION_GUARD_EXT,
                                SSL_EXT_CLIENT_HELLO, bound_guard, NULL, NULL,
                                NULL, NULL))
        return ftls__err(err, FTLS_E_OPENSSL,
                         "ctx: cannot install the session "
                         "guard");
    return FTLS_OK;
}

ftls_code ftls__ctx_install(SSL_CTX *ctx, int is_server,
                            const struct ftls__ticket_keys *keys,
                            const unsigned char *alpn, size_t alpn_len,
                            struct ftls__ctx_counter *counter, ftls_error *err)
{
    pthread_once(&g_once, init_once);
    struct ctx_info *i = ftls__calloc(1, sizeof(*i));
    if (g_idx < 0 || i == NULL) {
        ftls__free(i);
        return ftls__err(err, FTLS_E_NOMEM, "ctx: out of memory");
    }
    if (alpn != NULL && alpn_len > 0) {
        if ((i->alpn = ftls__malloc(alpn_len)) == NULL) {
            ftls__free(i);
            return ftls__err(err, FTLS_E_NOMEM, "ctx: out of memory");
        }
        memcpy(i->alpn, alpn, alpn_len);
        i->alpn_len = alpn_len;
    }
    if (keys != NULL) {
        i->keys = *keys;
        i->has_keys = 1;
    }
    if (!SSL_CTX_set_ex_data(ctx, g_idx, i)) {
        ftls__free(i->alpn);
        ftls__free(i);
        return ftls__err(err, FTLS_E_OPENSSL, "ctx: cannot attach data");
    }
    /* From here on the context owns i; its free callback undoes this. */
    atomic_fetch_add(&g_live_total, 1);
    if (counter != NULL) {
        atomic_fetch_add(&counter->refs, 1);
        atomic_fetch_add(&counter->live, 1);
        i->counter = counter;
    }
    if (keys != NULL &&
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
        return ftls__err(err, FTLS_E_OPENSSL, "ctx: cannot set ticket keys");
    if (i->alpn != NULL && is_server)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return FTLS_OK;
}
