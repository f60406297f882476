/* The SSL_CTX factory: build on publish, hand out the newest, refcounted. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/fork.h"
#include "ctx/ctx_internal.h"
#include "roots/roots_internal.h"
#include "source/source_internal.h"

struct ftls_ctx_factory {
    ftls_ctx_template t;
    char *ciphers, *ciphersuites, *groups;
    unsigned char *alpn;
    ftls_source *identity, *roots_src, *client_cas;
    ftls_source *own_system; /* set_system_roots(): ours, also roots_src */
    ftls_cell *cell;         /* SSL_CTX * snapshots */
    pthread_mutex_t build_lock;
    struct ftls__ctx_counter *counter;
    struct ftls__ticket_keys keys;
    unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    _Atomic uint64_t failures;
};

static void free_ctx(void *ctx, void *arg)
{
    (void)arg;
    SSL_CTX_free(ctx);
}

static void on_publish(ftls_source *src, void *arg)
{
    ftls_ctx_factory *f = arg;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        return;
    if (ftls_ctx_factory_build(f, err) != FTLS_OK)
        ftls__log(FTLS_LOG_ERROR,
                  "ctx factory: cannot rebuild after %s "
                  "changed; keeping the previous context: %s",
                  ftls_source_describe(src), ftls_error_message(err));
    ftls_error_free(err);
}

static char *dup_str(const char *s, int *ok)
{
    if (s == NULL)
        return NULL;
    char *d = ftls__strdup(s);
    if (d == NULL)
        *ok = 0;
    return d;
}

ftls_code ftls_ctx_factory_new(const ftls_ctx_template *t,
                               ftls_ctx_factory **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(t != NULL, err, "template is NULL");
    ftls_ctx_factory *f = ftls__calloc(1, sizeof(*f));
    if (f == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "ctx factory: out of memory");
    pthread_mutex_init(&f->build_lock, NULL);
    f->t = *t;
    int ok = 1;
    f->t.ciphers = f->ciphers = dup_str(t->ciphers, &ok);
    f->t.ciphersuites = f->ciphersuites = dup_str(t->ciphersuites, &ok);
    f->t.groups = f->groups = dup_str(t->groups, &ok);
    if (t->alpn != NULL && t->alpn_len > 0) {
        if ((f->alpn = ftls__malloc(t->alpn_len)) == NULL)
            ok = 0;
        else
            memcpy(f->alpn, t->alpn, t->alpn_len);
    }
    f->t.alpn = f->alpn;
    ftls_code rc = FTLS_OK;
    if (!ok || (f->counter = ftls__ctx_counter_new()) == NULL)
        rc = ftls__err(err, FTLS_E_NOMEM, "ctx factory: out of memory");
    else if (RAND_bytes((unsigned char *)&f->keys, sizeof(f->keys)) != 1 ||
             RAND_bytes(f->sid_ctx, sizeof(f->sid_ctx)) != 1)
        rc = ftls__err(err, FTLS_E_OPENSSL, "ctx factory: no randomness");
    else
        rc = ftls_cell_new(free_ctx, NULL, &f->cell, err);
    if (rc != FTLS_OK) {
        ftls_ctx_factory_free(f);
        return rc;
    }
    *out = f;
    return FTLS_OK;
}

void ftls_ctx_factory_free(ftls_ctx_factory *f)
{
    if (f == NULL)
        return;
    ftls_source *srcs[3] = {f->identity, f->roots_src, f->client_cas};
    for (int i = 0; i < 3; i++)
        if (srcs[i] != NULL)
            ftls__source_remove_listener(srcs[i], on_publish, f);
    ftls_source_free(f->own_system);
    ftls_cell_free(f->cell);
    ftls__ctx_counter_unref(f->counter);
    ftls__free(f->ciphers);
    ftls__free(f->ciphersuites);
    ftls__free(f->groups);
    ftls__free(f->alpn);
    pthread_mutex_destroy(&f->build_lock);
    ftls__free_secret(f, sizeof(*f)); /* wipes the ticket keys */
}

static FTLS_NODISCARD ftls_code set_source(ftls_ctx_factory *f,
                                           ftls_source **slot, ftls_source *src,
                                           ftls_error *err)
{
    FTLS_GUARD_ARG(f != NULL && src != NULL, err, "factory or source is NULL");
    if (*slot != NULL)
        return ftls__err(err, FTLS_E_STATE, "ctx factory: source already set");
    if (ftls__source_add_listener(src, on_publish, f) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "ctx factory: out of memory");
    *slot = src;
    return FTLS_OK;
}

ftls_code ftls_ctx_factory_set_identity(ftls_ctx_factory *f,
                                        ftls_source *identity, ftls_error *err)
{
    return set_source(f, f ? &f->identity : NULL, identity, err);
}

ftls_code ftls_ctx_factory_set_roots(ftls_ctx_factory *f, ftls_source *trust,
                                     ftls_error *err)
{
    return set_source(f, f ? &f->roots_src : NULL, trust, err);
}

ftls_code ftls_ctx_factory_set_client_cas(ftls_ctx_factory *f,
                                          ftls_source *trust, ftls_error *err)
{
    return set_source(f, f ? &f->client_cas : NULL, trust, err);
}

ftls_code ftls_ctx_factory_set_system_roots(ftls_ctx_factory *f,
                                            ftls_roots_origin which,
                                            ftls_error *err)
{
    FTLS_GUARD_ARG(f != NULL && (unsigned)which <= FTLS_ROOTS_BOTH, err,
                   "factory is NULL or source unknown");
    if (f->roots_src != NULL)
        return ftls__err(err, FTLS_E_STATE, "ctx factory: roots already set");
    /* A system-roots source of our own: refreshes rebuild the factory. */
    ftls_source *src = NULL;
    ftls_code rc = ftls_source_new_system_roots(which, &src, err);
    if (rc == FTLS_OK)
        rc = ftls_source_reload(src, err);
    if (rc == FTLS_OK)
        rc = set_source(f, &f->roots_src, src, err);
    if (rc != FTLS_OK) {
        ftls_source_free(src);
        return rc;
    }
    f->own_system = src;
    return FTLS_OK;
}

/* The verification store (and, for client CAs, the advertised names);
 * *uid names the root set used (0: none). */
static FTLS_NODISCARD ftls_code apply_trust(ftls_ctx_factory *f, SSL_CTX *ctx,
                                            uint64_t *uid, ftls_error *err)
{
    *uid = 0;
    ftls_roots *roots = NULL;
    int advertise = f->t.is_server && f->client_cas != NULL;
    ftls_source *src = advertise ? f->client_cas : f->roots_src;
    ftls_code rc = FTLS_OK;
    if (src != NULL)
        rc = ftls_source_get1_roots(src, &roots, err);
    else
        return FTLS_OK; /* nothing configured: an empty store, nothing trusted */
    struct ftls__trust_bundle *b = NULL;
    if (rc == FTLS_OK) {
        *uid = ftls__roots_uid(roots);
        rc = ftls__trust_bundle_new(roots, &b, err);
    }
    ftls_roots_free(roots);
    if (rc != FTLS_OK)
        return rc;
    SSL_CTX_set1_cert_store(ctx, b->store);
    if (advertise) {
        SSL_CTX_set_client_CA_list(ctx, b->names); /* takes ownership */
        b->names = NULL;
    }
    ftls__trust_bundle_free(b, NULL);
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code configure(ftls_ctx_factory *f, SSL_CTX *ctx,
                                          ftls_error *err)
{
    const ftls_ctx_template *t = &f->t;
    if (!SSL_CTX_set_min_proto_version(ctx, t->min_version ? t->min_version
                                                           : TLS1_2_VERSION) ||
        (t->max_version &&
         !SSL_CTX_set_max_proto_version(ctx, t->max_version)) ||
        (t->ciphers && !SSL_CTX_set_cipher_list(ctx, t->ciphers)) ||
        (t->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, t->ciphersuites)) ||
        (t->groups && !SSL_CTX_set1_groups_list(ctx, t->groups)) ||
        (t->alpn && !t->is_server &&
         SSL_CTX_set_alpn_protos(ctx, t->alpn, (unsigned)t->alpn_len) != 0))
        return ftls__err(err, FTLS_E_OPENSSL, "ctx factory: template rejected");
    int mode = t->verify_mode;
    if (mode == 0)
        mode = !t->is_server ? SSL_VERIFY_PEER
               : f->client_cas
                   ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                   : SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (t->verify_depth > 0)
        SSL_CTX_set_verify_depth(ctx, t->verify_depth);
    if (t->session_cache_mode != 0)
        SSL_CTX_set_session_cache_mode(ctx, t->session_cache_mode);
    if (t->is_server &&
        !SSL_CTX_set_session_id_context(ctx, f->sid_ctx, sizeof(f->sid_ctx)))
        return ftls__err(err, FTLS_E_OPENSSL,
                         "ctx factory: session id context");
    return FTLS_OK;
}

ftls_code ftls_ctx_factory_build(ftls_ctx_factory *f, ftls_error *err)
{
    FTLS_GUARD_ARG(f != NULL, err, "factory is NULL");
    if (f->t.is_server && f->identity == NULL)
        return ftls__err(err, FTLS_E_STATE,
                         "ctx factory: a server needs an "
                         "identity source");
    ftls__lock(&f->build_lock);
    ftls_identity *id = NULL;
    SSL_CTX *ctx =
        SSL_CTX_new(f->t.is_server ? TLS_server_method() : TLS_client_method());
    ftls_code rc = FTLS_OK;
    if (ctx == NULL)
        rc = ftls__err(err, FTLS_E_OPENSSL, "ctx factory: SSL_CTX_new failed");
    if (rc == FTLS_OK)
        rc = ftls__ctx_install(ctx, f->t.is_server,
                               f->t.is_server ? &f->keys : NULL, f->alpn,
                               f->t.alpn_len, f->counter, err);
    if (rc == FTLS_OK)
        rc = configure(f, ctx, err);
    if (rc == FTLS_OK && f->identity != NULL &&
        (rc = ftls_source_get1_identity(f->identity, &id, err)) == FTLS_OK)
        rc = ftls_identity_use_ctx(id, ctx, err);
    uint64_t trust_uid = 0;
    if (rc == FTLS_OK)
        rc = apply_trust(f, ctx, &trust_uid, err);
    /* Servers that verify no client have nothing to bind. */
    if (rc == FTLS_OK && (!f->t.is_server || f->client_cas != NULL))
        rc = ftls__ctx_bind_sessions(ctx, f->t.is_server, trust_uid, err);
    if (rc == FTLS_OK && f->t.setup != NULL && !f->t.setup(ctx, f->t.setup_arg))
        rc = ftls__err(err, FTLS_E_STATE,
                       "ctx factory: setup callback refused "
                       "the context");
    if (rc == FTLS_OK &&
        (rc = ftls_cell_publish(f->cell, ctx, NULL, err)) == FTLS_OK)
        ctx = NULL; /* the cell owns it */
    if (rc != FTLS_OK)
        atomic_fetch_add(&f->failures, 1);
    ftls__unlock(&f->build_lock);
    SSL_CTX_free(ctx);
    ftls_identity_free(id);
    return rc;
}

SSL_CTX *ftls_ctx_factory_get1_ctx(ftls_ctx_factory *f)
{
    ftls_snapshot *snap = NULL;
    if (f == NULL || ftls_cell_get1_snapshot(f->cell, &snap) != FTLS_OK)
        return NULL;
    SSL_CTX *ctx = ftls_snapshot_get0_data(snap);
    if (!SSL_CTX_up_ref(ctx))
        ctx = NULL;
    ftls_snapshot_free(snap);
    return ctx;
}

ftls_code ftls_ctx_factory_get_stats(const ftls_ctx_factory *f,
                                     ftls_ctx_stats *st)
{
    if (f == NULL || st == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    st->generation = ftls_cell_generation(f->cell);
    st->built = st->generation;
    st->live = atomic_load(&f->counter->live);
    st->failures = atomic_load(&((ftls_ctx_factory *)f)->failures);
    return FTLS_OK;
}
