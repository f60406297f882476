/* Attach mode: an application-owned SSL_CTX picks up the newest identity,
 * root CAs and client CAs on every handshake. */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "base/ossl_compat.h"
#include "ctx/ctx_internal.h"
#include "source/source_internal.h"

struct attach_identity {
    char *name; /* NULL: default */
    ftls_source *src;
};

struct attachment {
    SSL_CTX *ctx; /* the context this attachment belongs to (not a ref) */
    struct attach_identity *ids;
    size_t nids;
    ftls_source *roots_src, *cas_src;
    ftls_cell *roots_cell, *cas_cell;       /* ftls__trust_bundle snapshots */
    ftls_cell *derived_roots, *derived_cas; /* ftls__derived, built on use */
    void (*prev_info_cb)(const SSL *, int, int);
    int (*app_cert_cb)(SSL *, void *); /* the application's, chained */
    void *app_cert_arg;
};

static int g_idx = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static X509_STORE *g_empty_store; /* trusts nothing */

static void on_roots(ftls_source *src, void *arg);
static void on_cas(ftls_source *src, void *arg);

static void attachment_free(struct attachment *a)
{
    if (a == NULL)
        return;
    if (a->roots_src != NULL)
        ftls__source_remove_listener(a->roots_src, on_roots, a);
    if (a->cas_src != NULL)
        ftls__source_remove_listener(a->cas_src, on_cas, a);
    ftls_cell_free(a->roots_cell);
    ftls_cell_free(a->cas_cell);
    ftls_cell_free(a->derived_roots);
    ftls_cell_free(a->derived_cas);
    for (size_t i = 0; i < a->nids; i++)
        ftls__free(a->ids[i].name);
    ftls__free(a->ids);
    ftls__free(a);
}

static void exdata_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    attachment_free(ptr);
}

static void init_once(void)
{
    g_idx =
        SSL_CTX_get_ex_new_index(0, "freshtls attach", NULL, NULL, exdata_free);
    g_empty_store = X509_STORE_new();
}

/* Build and publish the bundle for a trust generation. */
static FTLS_NODISCARD ftls_code publish_bundle(ftls_cell *cell,
                                               ftls_roots *roots,
                                               ftls_error *err)
{
    struct ftls__trust_bundle *b = NULL;
    ftls_code rc = ftls__trust_bundle_new(roots, &b, err);
    if (rc == FTLS_OK &&
        (rc = ftls_cell_publish(cell, b, NULL, err)) != FTLS_OK)
        ftls__trust_bundle_free(b, NULL);
    return rc;
}

static void refresh_from(ftls_source *src, ftls_cell *cell)
{
    ftls_roots *roots = NULL;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        return;
    if (ftls_source_get1_roots(src, &roots, err) != FTLS_OK ||
        publish_bundle(cell, roots, err) != FTLS_OK)
        ftls__log(FTLS_LOG_ERROR,
                  "attach: cannot use new trust from %s; "
                  "keeping the previous one: %s",
                  ftls_source_describe(src), ftls_error_message(err));
    ftls_roots_free(roots);
    ftls_error_free(err);
}

static void on_roots(ftls_source *src, void *arg)
{
    refresh_from(src, ((struct attachment *)arg)->roots_cell);
}

static void on_cas(ftls_source *src, void *arg)
{
    struct attachment *a = arg;
    refresh_from(src, a->cas_cell);
    /* Cached server sessions were authenticated under the previous client
     * CAs; tickets are checked when they come back (ticket_dec). */
    ftls__ctx_flush_all_sessions(a->ctx);
}

/* Servers: advertise the newest client-CA names. Verification itself does
 * not depend on this callback (see cert_verify_cb). */
static void info_cb(const SSL *cssl, int where, int ret)
{
    SSL *ssl = (SSL *)cssl;
    struct attachment *a = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_idx);
    if (a == NULL)
        return;
    if ((where & SSL_CB_HANDSHAKE_START) && !SSL_is_server(ssl) &&
        a->roots_cell != NULL)
        ftls__session_drop_stale(ssl, ftls__bundle_cell_uid(a->roots_cell));
    if ((where & SSL_CB_HANDSHAKE_START) && a->cas_cell != NULL &&
        SSL_is_server(ssl)) {
        ftls_snapshot *snap = NULL;
        const struct ftls__trust_bundle *b = NULL;
        if (ftls_cell_get1_snapshot(a->cas_cell, &snap) == FTLS_OK)
            b = ftls_snapshot_get0_data(snap);
        STACK_OF(X509_NAME) *names =
            b ? SSL_dup_CA_list(b->names) : sk_X509_NAME_new_null();
        SSL_set_client_CA_list(ssl, names); /* takes ownership */
        ftls_snapshot_free(snap);
    }
    if (a->prev_info_cb != NULL)
        a->prev_info_cb(cssl, where, ret);
}

/* The derived store for the newest bundle and the application store `app`,
 * built on the first handshake that needs it. NULL when no trust has been
 * published or it cannot be built. */
static ftls_snapshot *get_derived(ftls_cell *bundles, ftls_cell *derived,
                                  X509_STORE *app)
{
    ftls_snapshot *bs = NULL, *ds = NULL;
    if (ftls_cell_get1_snapshot(bundles, &bs) != FTLS_OK)
        return NULL;
    uint64_t gen = ftls_snapshot_generation(bs);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (ftls_cell_get1_snapshot(derived, &ds) == FTLS_OK) {
            const struct ftls__derived *d = ftls_snapshot_get0_data(ds);
            if (ftls__derived_generation(d) == gen &&
                ftls__derived_app(d) == app)
                break;
            ftls_snapshot_free(ds);
            ds = NULL;
        }
        const struct ftls__trust_bundle *b = ftls_snapshot_get0_data(bs);
        struct ftls__derived *d = NULL;
        ftls_error *err = NULL;
        ftls_code rc = ftls_error_new(&err);
        if (rc == FTLS_OK &&
            (rc = ftls__derived_new(b->roots, gen, app, &d, err)) == FTLS_OK &&
            (rc = ftls_cell_publish(derived, d, NULL, err)) != FTLS_OK)
            ftls__derived_free(d, NULL);
        if (rc != FTLS_OK)
            ftls__log(FTLS_LOG_ERROR,
                      "attach: cannot prepare verification "
                      "for trust generation %llu; failing closed: %s",
                      (unsigned long long)gen,
                      err ? ftls_error_message(err) : "out of memory");
        ftls_error_free(err);
        if (rc != FTLS_OK)
            break;
    }
    ftls_snapshot_free(bs);
    return ds;
}

/* Every certificate verification of an attached context comes here in
 * place of X509_verify_cert(): no per-SSL setting can bypass it. */
static int cert_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
    struct attachment *a = arg;
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl == NULL)
        return X509_verify_cert(xctx);
    int server = SSL_is_server(ssl) && a->cas_cell != NULL;
    ftls_cell *bundles = server ? a->cas_cell : a->roots_cell;
    ftls_cell *derived = server ? a->derived_cas : a->derived_roots;
    X509_STORE *used = X509_STORE_CTX_get0_store(xctx);
    /* A verify store the application chose for this SSL or context is its
     * explicit decision: plain OpenSSL semantics. */
    if (bundles == NULL || used != SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)))
        return X509_verify_cert(xctx);
    ftls_snapshot *ds = get_derived(bundles, derived, used);
    if (ds == NULL) /* nothing trusted yet: no anchors, as OpenSSL would */
        return ftls__verify_with_store(xctx, g_empty_store, ssl);
    const struct ftls__derived *d = ftls_snapshot_get0_data(ds);
    int ok = ftls__verify_with(xctx, d, ssl);
    ftls__session_tag(ssl, ftls__derived_trust_uid(d));
    ftls_snapshot_free(ds);
    return ok;
}

/* Safety net for clients: a per-SSL info callback replaces ours, so the
 * stale-session check at handshake start did not run. A custom ClientHello
 * extension callback (context-wide, no per-SSL override, nothing put on
 * the wire) refuses to offer such a session: fail closed, never resume
 * past removed trust. */
static int guard_add(SSL *ssl, unsigned int type, unsigned int context,
                     const unsigned char **out, size_t *outlen, X509 *x,
                     size_t chainidx, int *al, void *arg)
{
    (void)type, (void)out, (void)outlen, (void)x, (void)chainidx, (void)arg;
    const struct attachment *a =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_idx);
    if (a == NULL || a->roots_cell == NULL)
        return 0;
    return ftls__session_guard(ssl, context,
                               ftls__bundle_cell_uid(a->roots_cell), al);
}

static SSL_TICKET_RETURN ticket_dec_cb(SSL *ssl, SSL_SESSION *sess,
                                       const unsigned char *keyname,
                                       size_t keyname_len,
                                       SSL_TICKET_STATUS status, void *arg)
{
    (void)ssl, (void)keyname, (void)keyname_len;
    struct attachment *a = arg;
    return ftls__ticket_dec(sess, status, ftls__bundle_cell_uid(a->cas_cell));
}

/* "*.example.com" matches exactly one label. */
static int name_matches(const char *pattern, const char *host)
{
    if (strcasecmp(pattern, host) == 0)
        return 1;
    if (pattern[0] != '*' || pattern[1] != '.')
        return 0;
    const char *dot = strchr(host, '.');
    return dot != NULL && dot != host && strcasecmp(dot, pattern + 1) == 0;
}

static int cert_cb(SSL *ssl, void *arg)
{
    struct attachment *a = arg;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    ftls_source *pick = NULL, *fallback = NULL;
    for (size_t i = 0; i < a->nids && pick == NULL; i++) {
        if (a->ids[i].name == NULL)
            fallback = fallback ? fallback : a->ids[i].src;
        else if (sni != NULL && name_matches(a->ids[i].name, sni))
            pick = a->ids[i].src;
    }
    if (pick == NULL)
        pick = fallback;
    ftls_identity *id = NULL;
    if (pick == NULL || ftls_source_get1_identity(pick, &id, NULL) != FTLS_OK)
        return 0; /* no identity for this name: fail the handshake */
    int ok = ftls_identity_use_ssl(id, ssl, NULL) == FTLS_OK;
    ftls_identity_free(id);
    if (ok && a->app_cert_cb != NULL) /* the application's, after ours */
        return a->app_cert_cb(ssl, a->app_cert_arg);
    return ok;
}

/* Prepare the cell for a trust source and fill it if the source has data. */
static FTLS_NODISCARD ftls_code
watch_trust(struct attachment *a, ftls_source *src, ftls_cell **cell,
            void (*listener)(ftls_source *, void *), ftls_error *err)
{
    ftls_code rc = ftls_cell_new(ftls__trust_bundle_free, NULL, cell, err);
    if (rc != FTLS_OK)
        return rc;
    if (ftls__source_add_listener(src, listener, a) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
    ftls_roots *roots = NULL;
    if (ftls_source_get1_roots(src, &roots, NULL) == FTLS_OK) {
        rc = publish_bundle(*cell, roots, err);
        ftls_roots_free(roots);
    }
    return rc;
}

static FTLS_NODISCARD ftls_code setup(struct attachment *a,
                                      const ftls_attach_config *cfg,
                                      ftls_error *err)
{
    ftls_code rc = FTLS_OK;
    a->app_cert_cb = cfg->app_cert_cb;
    a->app_cert_arg = cfg->app_cert_arg;
    if (cfg->n_identities > 0) {
        a->ids = ftls__calloc(cfg->n_identities, sizeof(*a->ids));
        if (a->ids == NULL)
            return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
        for (size_t i = 0; i < cfg->n_identities; i++) {
            const ftls_attach_identity *in = &cfg->identities[i];
            FTLS_GUARD_ARG(in->source != NULL, err, "identity source is NULL");
            a->ids[i].src = in->source;
            if (in->server_name != NULL &&
                (a->ids[i].name = ftls__strdup(in->server_name)) == NULL)
                return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
            a->nids = i + 1;
        }
    }
    if (cfg->roots != NULL) {
        a->roots_src = cfg->roots;
        rc = watch_trust(a, cfg->roots, &a->roots_cell, on_roots, err);
    } else if (cfg->fixed_roots != NULL &&
               (rc = ftls_cell_new(ftls__trust_bundle_free, NULL,
                                   &a->roots_cell, err)) == FTLS_OK) {
        rc = publish_bundle(a->roots_cell, cfg->fixed_roots, err);
    }
    if (rc == FTLS_OK && cfg->client_cas != NULL) {
        a->cas_src = cfg->client_cas;
        rc = watch_trust(a, cfg->client_cas, &a->cas_cell, on_cas, err);
    }
    if (rc == FTLS_OK && a->roots_cell != NULL)
        rc = ftls_cell_new(ftls__derived_free, NULL, &a->derived_roots, err);
    if (rc == FTLS_OK && a->cas_cell != NULL)
        rc = ftls_cell_new(ftls__derived_free, NULL, &a->derived_cas, err);
    return rc;
}

ftls_code ftls_ctx_attach(SSL_CTX *ctx, const ftls_attach_config *cfg,
                          ftls_error *err)
{
    FTLS_GUARD_ARG(ctx != NULL && cfg != NULL, err, "ctx or cfg is NULL");
    FTLS_GUARD_ARG(cfg->n_identities == 0 || cfg->identities != NULL, err,
                   "identities is NULL");
    pthread_once(&g_once, init_once);
    if (g_idx < 0 || g_empty_store == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
    if (SSL_CTX_get_ex_data(ctx, g_idx) != NULL)
        return ftls__err(err, FTLS_E_STATE, "attach: context already attached");
    struct attachment *a = ftls__calloc(1, sizeof(*a));
    if (a == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
    ftls_code rc = setup(a, cfg, err);
    if (rc == FTLS_OK && !SSL_CTX_set_ex_data(ctx, g_idx, a))
        rc = ftls__err(err, FTLS_E_OPENSSL, "attach: cannot attach data");
    /* The one step that can still fail, before any callback is set. Its
     * callback finds the attachment through the context's ex_data. */
    if (rc == FTLS_OK && a->roots_cell != NULL &&
        !SSL_CTX_add_custom_ext(ctx, FTLS_SESSION_GUARD_EXT,
                                SSL_EXT_CLIENT_HELLO, guard_add, NULL, NULL,
                                NULL, NULL)) {
        (void)SSL_CTX_set_ex_data(ctx, g_idx, NULL);
        rc = ftls__err(err, FTLS_E_OPENSSL,
                       "attach: cannot install the "
                       "session guard (extension type 0x%x in use?)",
                       FTLS_SESSION_GUARD_EXT);
    }
    if (rc != FTLS_OK) {
        attachment_free(a);
        return rc;
    }
    /* The context owns the attachment from here on. */
    a->ctx = ctx;
    if (a->nids > 0)
        SSL_CTX_set_cert_cb(ctx, cert_cb, a);
    if (a->roots_cell != NULL || a->cas_cell != NULL) {
        SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, a);
        a->prev_info_cb = SSL_CTX_get_info_callback(ctx);
        SSL_CTX_set_info_callback(ctx, info_cb);
    }
    if (a->cas_cell != NULL) /* (always succeeds) */
        (void)SSL_CTX_set_session_ticket_cb(ctx, ftls__ticket_gen,
                                            ticket_dec_cb, a);
    return FTLS_OK;
}
