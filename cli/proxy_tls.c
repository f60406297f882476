/* The proxy's two TLS faces: the context that meets clients (a ClientHello
 * callback that pauses until the target is verified, then presents a
 * minted leaf and the target's ALPN choice) and the context that verifies
 * targets against the newest system roots plus --upstream-ca. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "proxy.h"
#include "proxy_parse.h"

/* ---- client side ---------------------------------------------------------- */

/* The SNI host name from the ClientHello, copied to out; 0 when absent,
 * -1 when malformed or not a printable name. */
static int hello_sni(SSL *s, char *out, size_t n)
{
    const unsigned char *p = NULL;
    size_t len = 0;
    if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &len))
        return 0;
    return proxy_sni_parse(p, len, out, n);
}

/* The client's ALPN list (wire format, validated) into c->alpn_offer. */
static int hello_alpn(SSL *s, struct pconn *c)
{
    const unsigned char *p = NULL;
    size_t len = 0;
    if (!SSL_client_hello_get0_ext(
            s, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len))
        return 1;
    if (!proxy_alpn_valid(p, len) || (c->alpn_offer = malloc(len - 2)) == NULL)
        return 0;
    memcpy(c->alpn_offer, p + 2, len - 2);
    c->alpn_offer_len = len - 2;
    return 1;
}

static int same_host(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* The client's SNI, normalized (the root dot kept), into out; "" when it
 * sent none. 0 when it is malformed or not a host name. */
static int client_sni(SSL *s, char *out, size_t n)
{
    char raw[256];
    int is_ip = 0, got = hello_sni(s, raw, sizeof(raw));
    out[0] = '\0';
    return got == 0 ||
           (got > 0 &&
            ftls_leaf_normalize_name(raw, 0, out, n, &is_ip, NULL) == FTLS_OK);
}

static int refuse(struct pconn *c, int *al, int alert, const char *why)
{
    if (c->error[0] == '\0')
        snprintf(c->error, sizeof(c->error), "%s", why);
    *al = alert;
    return SSL_CLIENT_HELLO_ERROR;
}

/* An SNI other than the CONNECT host, allowed by --allow-sni-mismatch:
 * the SNI is then the name the policy, the upstream verification and the
 * leaf are about (the CONNECT target only says where to connect). */
static int sni_mismatch(struct proxy *px, struct pconn *c, int *al)
{
    if (!px->allow_sni_mismatch)
        return refuse(c, al, SSL_AD_ACCESS_DENIED,
                      "SNI differs from the CONNECT host");
    const char *rule = NULL;
    snprintf(c->vname, sizeof(c->vname), "%s", c->sni);
    proxy_host_drop_root_dot(c->vname);
    c->v_is_ip = 0;
    enum proxy_action a = proxy_rules_match(&px->rules, c->vname, 0, &rule);
    if (a != PA_INTERCEPT)
        return refuse(c, al, SSL_AD_ACCESS_DENIED,
                      a == PA_DENY ? "SNI denied by policy"
                                   : "SNI has a tunnel rule: CONNECT to it");
    return SSL_CLIENT_HELLO_RETRY;
}

/* First call: read SNI and ALPN, check them against the CONNECT target,
 * and pause (the loop connects upstream). Later calls: the same
 * ClientHello resumed, or a second one after a HelloRetryRequest, which
 * must name the same host; then present the leaf, or refuse when the
 * target could not be verified. */
static int on_hello(SSL *s, int *al, void *arg)
{
    struct proxy *px = arg;
    struct pconn *c = SSL_get_app_data(s);
    char again[256];
    if (c == NULL)
        return *al = SSL_AD_INTERNAL_ERROR, SSL_CLIENT_HELLO_ERROR;
    if (c->hello_seen) {
        if (!client_sni(s, again, sizeof(again)) || strcmp(again, c->sni))
            return refuse(c, al, SSL_AD_ILLEGAL_PARAMETER,
                          "SNI changed in a second ClientHello");
        if (!c->upstream_ok)
            return refuse(c, al, SSL_AD_HANDSHAKE_FAILURE, "not verified");
        if (!proxy_tls_use_leaf(px, c))
            return refuse(c, al, SSL_AD_INTERNAL_ERROR, "no leaf");
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    c->hello_seen = 1;
    if (!client_sni(s, c->sni, sizeof(c->sni)))
        return refuse(c, al, SSL_AD_UNRECOGNIZED_NAME, "client sent a bad SNI");
    if (!hello_alpn(s, c))
        return refuse(c, al, SSL_AD_DECODE_ERROR, "malformed ALPN offer");
    if (c->sni[0] != '\0' && !same_host(c->sni, c->host))
        return sni_mismatch(px, c, al);
    if (c->sni[0] == '\0' && c->is_ip && !px->allow_ip)
        return refuse(c, al, SSL_AD_UNRECOGNIZED_NAME,
                      "no SNI for an IP target (--allow-ip mints IP leaves)");
    return SSL_CLIENT_HELLO_RETRY;
}

/* Give the client what the target selected (it was offered the client's
 * own list, so it is in `in`); nothing when the target chose nothing. */
static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    struct pconn *c = SSL_get_app_data(s);
    size_t want = c ? strlen(c->alpn) : 0;
    if (want == 0)
        return SSL_TLSEXT_ERR_NOACK;
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == want && i + 1 + want <= inlen &&
            memcmp(in + i + 1, c->alpn, want) == 0) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int proxy_tls_use_leaf(struct proxy *px, struct pconn *c)
{
    ftls_leaf_cache_stats before, after;
    ftls_leaf *leaf = NULL;
    const char *name = c->sni[0] ? c->sni : c->host;
    int stats = ftls_leaf_cache_get_stats(px->cache, &before) == FTLS_OK;
    if (ftls_leaf_cache_get1(px->cache, name, &leaf, px->err) != FTLS_OK) {
        snprintf(c->error, sizeof(c->error), "no leaf for %.60s: %.120s", name,
                 ftls_error_message(px->err));
        return 0;
    }
    if (stats && ftls_leaf_cache_get_stats(px->cache, &after) == FTLS_OK)
        c->leaf_state = after.mints != before.mints ? "mint" : "hit";
    int ok = SSL_use_cert_and_key(c->cl.ssl, ftls_leaf_get0_cert(leaf),
                                  ftls_leaf_get0_key(leaf),
                                  ftls_leaf_get0_chain(leaf), 1) == 1;
    ftls_leaf_free(leaf);
    if (!ok)
        snprintf(c->error, sizeof(c->error), "cannot use the leaf");
    return ok;
}

static void common_modes(SSL_CTX *ctx, struct proxy *px)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Fewer reads per record: read ahead, several records at a time. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 65536);
    if (px->keylog != NULL)
        SSL_CTX_set_keylog_callback(ctx, proxy_keylog_cb);
}

/* ---- upstream side -------------------------------------------------------- */

static int read_extra(struct proxy *px, STACK_OF(X509) **out, char *why,
                      size_t n)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    int ok = sk != NULL;
    for (size_t i = 0; ok && i < px->n_upstream_ca; i++) {
        BIO *b = BIO_new_file(px->upstream_ca[i], "r");
        size_t before = (size_t)sk_X509_num(sk);
        X509 *x;
        while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
            if (!sk_X509_push(sk, x))
                X509_free(x);
        ERR_clear_error();
        if (b == NULL || (size_t)sk_X509_num(sk) == before) {
            snprintf(why, n, "--upstream-ca %s: %s", px->upstream_ca[i],
                     b == NULL ? "cannot read it" : "no certificate in it");
            ok = 0;
        }
        BIO_free(b);
    }
    if (!ok) {
        sk_X509_pop_free(sk, X509_free);
        return 0;
    }
    *out = sk;
    return 1;
}

int proxy_tls_reload_extra(struct proxy *px, char *why, size_t n)
{
    STACK_OF(X509) *sk = NULL;
    if (!read_extra(px, &sk, why, n))
        return 0;
    sk_X509_pop_free(px->extra, X509_free);
    px->extra = sk;
    px->upstream_gen = UINT64_MAX; /* rebuild at the next connection */
    return 1;
}

/* A client context trusting the newest system roots plus px->extra. */
static SSL_CTX *upstream_ctx_new(struct proxy *px)
{
    ftls_roots *roots = NULL;
    X509_STORE *store = NULL;
    SSL_CTX *ctx = NULL;
    if (ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &roots, px->err) != FTLS_OK ||
        ftls_roots_new_store(roots, &store, px->err) != FTLS_OK)
        goto done;
    for (int i = 0; i < sk_X509_num(px->extra); i++)
        if (!X509_STORE_add_cert(store, sk_X509_value(px->extra, i)))
            ERR_clear_error(); /* already there */
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        goto done;
    SSL_CTX_set_cert_store(ctx, store);
    store = NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    common_modes(ctx, px);
    if (!px->no_resume && !proxy_sessions_enable(ctx)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
done:
    X509_STORE_free(store);
    ftls_roots_free(roots);
    return ctx;
}

SSL *proxy_tls_upstream_ssl(struct proxy *px, struct pconn *c)
{
    uint64_t gen = ftls_roots_generation();
    if (px->upstream_ctx == NULL || gen != px->upstream_gen) {
        SSL_CTX *fresh = upstream_ctx_new(px);
        if (fresh != NULL) {
            SSL_CTX_free(px->upstream_ctx); /* SSLs keep it alive */
            px->upstream_ctx = fresh;
            px->upstream_gen = gen;
        } else if (px->upstream_ctx != NULL) {
            proxy_log("upstream trust not rebuilt (the previous roots stay): "
                      "%s",
                      ftls_error_message(px->err));
            px->upstream_gen = gen;
        }
    }
    SSL *s = px->upstream_ctx ? SSL_new(px->upstream_ctx) : NULL;
    if (s == NULL)
        return NULL;
    X509_VERIFY_PARAM *vp = SSL_get0_param(s);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = c->v_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->vname)
                        : X509_VERIFY_PARAM_set1_host(vp, c->vname, 0) &&
                              SSL_set_tlsext_host_name(s, c->vname);
    if (ok && c->alpn_offer_len > 0)
        ok = SSL_set_alpn_protos(s, c->alpn_offer,
                                 (unsigned)c->alpn_offer_len) == 0;
    SSL_set_app_data(s, c);
    if (ok && !px->no_resume)
        proxy_sessions_offer(s, c);
    if (!ok) {
        SSL_free(s);
        return NULL;
    }
    SSL_set_app_data(s, c);
    return s;
}

SSL *proxy_tls_client_ssl(struct proxy *px, struct pconn *c)
{
    SSL *s = SSL_new(px->client_ctx);
    if (s != NULL)
        SSL_set_app_data(s, c);
    return s;
}

int proxy_tls_init(struct proxy *px, char *why, size_t n)
{
    if (!read_extra(px, &px->extra, why, n))
        return 0;
    px->upstream_ctx = upstream_ctx_new(px);
    if (px->upstream_ctx == NULL) {
        snprintf(why, n, "upstream trust: %s", ftls_error_message(px->err));
        return 0;
    }
    px->upstream_gen = ftls_roots_generation();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(why, n, "cannot create the client-side context");
        return 0;
    }
    common_modes(ctx, px);
    /* Every connection verifies its target anew: no resumption. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_client_hello_cb(ctx, on_hello, px);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    px->client_ctx = ctx;
    return 1;
}

void proxy_tls_free(struct proxy *px)
{
    SSL_CTX_free(px->client_ctx);
    SSL_CTX_free(px->upstream_ctx);
    sk_X509_pop_free(px->extra, X509_free);
    px->client_ctx = px->upstream_ctx = NULL;
    px->extra = NULL;
}
