/*
 * Attach-mode verification: the application's verification, whole, with
 * trust anchors from the newest freshtls generation (docs/design/ctx.md).
 *
 * OpenSSL builds the X509_STORE_CTX for a handshake from the SSL's verify
 * store (the SSL_CTX's cert store unless the application chose another),
 * then merges the SSL's verify parameters (host, purpose, depth, flags,
 * DANE) into it and hands it to the context's cert_verify_callback. There
 * we verify the same certificate and untrusted chain with the same merged
 * parameters and verify callback, against a *derived* store: the newest
 * anchors (lazily parsed, distrust-after enforced) plus everything the
 * application configured on its store: its callbacks (check_revocation is
 * chained after distrust-after), and its CRLs, looked up live through the
 * application's store, so CRLs it adds later and its own lookups (e.g. a
 * hashed CRL directory) apply too. The verdict, error, depth, current
 * certificate, verified chain and matched peer name go back to OpenSSL.
 *
 * A derived store is built once per (trust generation, application store)
 * and shared by every handshake of that generation.
 */
#include <pthread.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "ctx/ctx_internal.h"
#include "roots/roots_internal.h"

struct ftls__derived {
    uint64_t generation; /* of the trust bundle it was built from */
    uint64_t trust_uid;  /* ftls__roots_uid() of its anchors */
    X509_STORE *app;     /* the application's store (a reference) */
    X509_STORE *store;   /* anchors + the application's settings */
};

static X509_LOOKUP_METHOD *g_crl_method;
static int g_next_idx = -1; /* X509_STORE ex_data: chained check_revocation */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

struct next_check {
    X509_STORE_CTX_check_revocation_fn fn;
};

static void next_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                      long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    OPENSSL_free(ptr);
}

/* CRLs by issuer name, answered from the application's store: its cached
 * objects and its own lookup methods. Found CRLs are added to the derived
 * store's cache, where OpenSSL then picks the best (newest) one. */
static int app_crls(X509_LOOKUP *lu, X509_LOOKUP_TYPE type,
                    const X509_NAME *name, X509_OBJECT *ret)
{
    X509_STORE *app = X509_LOOKUP_get_method_data(lu);
    X509_STORE *mine = X509_LOOKUP_get_store(lu);
    if (type != X509_LU_CRL || app == NULL || mine == NULL || name == NULL)
        return 0;
    X509_STORE_CTX *c = X509_STORE_CTX_new();
    STACK_OF(X509_CRL) *crls = NULL;
    if (c != NULL && X509_STORE_CTX_init(c, app, NULL, NULL))
        crls = X509_STORE_CTX_get1_crls(c, (X509_NAME *)name);
    X509_STORE_CTX_free(c);
    int found = 0;
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        if (X509_STORE_add_crl(mine, crl) && !found &&
            X509_OBJECT_set1_X509_CRL(ret, crl))
            found = 1;
    }
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return found;
}

static void crl_lookup_free(X509_LOOKUP *lu)
{
    X509_STORE_free(X509_LOOKUP_get_method_data(lu));
}

static void init_once(void)
{
    g_next_idx = X509_STORE_get_ex_new_index(0, "freshtls next revocation",
                                             NULL, NULL, next_free);
    X509_LOOKUP_METHOD *m = X509_LOOKUP_meth_new("freshtls application CRLs");
    if (m != NULL && X509_LOOKUP_meth_set_get_by_subject(m, app_crls) &&
        X509_LOOKUP_meth_set_free(m, crl_lookup_free))
        g_crl_method = m;
    else
        X509_LOOKUP_meth_free(m);
}

/* Distrust-after first, then the application's own revocation check. */
static int chained_check_revocation(X509_STORE_CTX *ctx)
{
    const struct next_check *n =
        X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(ctx), g_next_idx);
    if (!ftls__roots_check_distrust(ctx))
        return 0;
    return n != NULL && n->fn != NULL ? n->fn(ctx) : 0;
}

/* Copy every callback the application set on its store (NULL: OpenSSL's
 * default, which the derived store has too). */
static int inherit_callbacks(X509_STORE *d, const X509_STORE *app)
{
#define COPY(what)                                                             \
    if (X509_STORE_get_##what(app) != NULL)                                    \
    X509_STORE_set_##what(d, X509_STORE_get_##what(app))
    COPY(verify_cb);
    COPY(verify);
    COPY(get_issuer);
    COPY(check_issued);
    COPY(get_crl);
    COPY(check_crl);
    COPY(cert_crl);
    COPY(check_policy);
    COPY(lookup_certs);
    COPY(lookup_crls);
#undef COPY
    X509_STORE_CTX_check_revocation_fn rev =
        X509_STORE_get_check_revocation(app);
    if (rev == NULL)
        return 1; /* the derived store's own: distrust-after + default */
    struct next_check *n = OPENSSL_zalloc(sizeof(*n));
    if (n == NULL || !X509_STORE_set_ex_data(d, g_next_idx, n)) {
        OPENSSL_free(n);
        return 0;
    }
    n->fn = rev;
    X509_STORE_set_check_revocation(d, chained_check_revocation);
    return 1;
}

void ftls__derived_free(void *p, void *arg)
{
    (void)arg;
    struct ftls__derived *d = p;
    if (d == NULL)
        return;
    X509_STORE_free(d->store);
    X509_STORE_free(d->app);
    ftls__free(d);
}

ftls_code ftls__derived_new(ftls_roots *roots, uint64_t generation,
                            X509_STORE *app, struct ftls__derived **out,
                            ftls_error *err)
{
    *out = NULL;
    pthread_once(&g_once, init_once);
    if (g_crl_method == NULL || g_next_idx < 0)
        return ftls__err(err, FTLS_E_NOMEM,
                         "attach: cannot set up the "
                         "application CRL lookup");
    struct ftls__derived *d = ftls__calloc(1, sizeof(*d));
    if (d == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
    d->generation = generation;
    d->trust_uid = ftls__roots_uid(roots);
    ftls_code rc = ftls_roots_new_store(roots, &d->store, err);
    if (rc != FTLS_OK)
        goto done;
    X509_LOOKUP *lu = X509_STORE_add_lookup(d->store, g_crl_method);
    if (lu == NULL || !X509_STORE_up_ref(app)) {
        rc = ftls__err(err, FTLS_E_NOMEM, "attach: cannot add the CRL lookup");
        goto done;
    }
    if (!X509_LOOKUP_set_method_data(lu, app)) {
        X509_STORE_free(app);
        rc = ftls__err(err, FTLS_E_NOMEM, "attach: cannot add the CRL lookup");
        goto done;
    }
    if (!X509_STORE_up_ref(app)) {
        rc = ftls__err(err, FTLS_E_NOMEM, "attach: out of memory");
        goto done;
    }
    d->app = app;
    if (!X509_STORE_set1_param(d->store, X509_STORE_get0_param(app)) ||
        !inherit_callbacks(d->store, app))
        rc = ftls__err(err, FTLS_E_NOMEM,
                       "attach: cannot copy the "
                       "application's store settings");
done:
    if (rc != FTLS_OK) {
        ftls__derived_free(d, NULL);
        return rc;
    }
    *out = d;
    return FTLS_OK;
}

uint64_t ftls__derived_generation(const struct ftls__derived *d)
{
    return d->generation;
}

uint64_t ftls__derived_trust_uid(const struct ftls__derived *d)
{
    return d->trust_uid;
}

const X509_STORE *ftls__derived_app(const struct ftls__derived *d)
{
    return d->app;
}

/* An exact copy of the merged parameters OpenSSL prepared. */
static X509_VERIFY_PARAM *param_copy(const X509_VERIFY_PARAM *from)
{
    X509_VERIFY_PARAM *p = X509_VERIFY_PARAM_new();
    if (p != NULL && !X509_VERIFY_PARAM_set1(p, from)) {
        X509_VERIFY_PARAM_free(p);
        p = NULL;
    }
    return p;
}

int ftls__verify_with(X509_STORE_CTX *orig, const struct ftls__derived *d,
                      SSL *ssl)
{
    return ftls__verify_with_store(orig, d->store, ssl);
}

int ftls__verify_with_store(X509_STORE_CTX *orig, X509_STORE *store, SSL *ssl)
{
    X509_STORE_CTX *n = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *p = param_copy(X509_STORE_CTX_get0_param(orig));
    int ok = -1;
    if (n == NULL || p == NULL ||
        !X509_STORE_CTX_init(n, store, X509_STORE_CTX_get0_cert(orig),
                             X509_STORE_CTX_get0_untrusted(orig)) ||
        !X509_STORE_CTX_set_ex_data(n, SSL_get_ex_data_X509_STORE_CTX_idx(),
                                    ssl)) {
        X509_VERIFY_PARAM_free(p);
        X509_STORE_CTX_set_error(orig, X509_V_ERR_OUT_OF_MEM);
        goto done;
    }
    X509_STORE_CTX_set0_param(n, p);
    X509_STORE_CTX_set_verify_cb(n, X509_STORE_CTX_get_verify_cb(orig));
    X509_STORE_CTX_set0_dane(n, SSL_get0_dane(ssl));
    ok = X509_verify_cert(n);
    X509_STORE_CTX_set_error(orig, X509_STORE_CTX_get_error(n));
    X509_STORE_CTX_set_error_depth(orig, X509_STORE_CTX_get_error_depth(n));
    X509_STORE_CTX_set_current_cert(orig, X509_STORE_CTX_get_current_cert(n));
    X509_STORE_CTX_set0_verified_chain(orig, X509_STORE_CTX_get1_chain(n));
    X509_VERIFY_PARAM_move_peername(X509_STORE_CTX_get0_param(orig),
                                    X509_STORE_CTX_get0_param(n));
done:
    X509_STORE_CTX_free(n);
    return ok;
}
