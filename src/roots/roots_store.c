/*
 * An X509_STORE over a root set that parses each root only when chain
 * building asks for its subject, and that enforces server distrust-after.
 *
 * Lookup: OpenSSL asks a store's lookup methods for certificates by subject
 * only when its own object cache has none for that subject. Like the
 * hashed-directory lookup, ours parses every root with that subject, adds
 * them all to the store's cache, and answers from the cache; from then on
 * OpenSSL finds them without calling us. Verification therefore sees
 * exactly the roots an eagerly loaded store would.
 *
 * Distrust-after: OpenSSL calls the store's check_revocation hook once per
 * verification, after the chain is built and before signatures are
 * checked, whatever the verify callback. Our hook reports violations
 * through the context's verify callback (so an application callback can
 * still override, as for any other error) and then runs OpenSSL's own
 * check_revocation, obtained from a scratch context at start-up.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "roots/roots_internal.h"

static X509_LOOKUP_METHOD *g_method;
static int g_exidx = -1;
static X509_STORE_CTX_check_revocation_fn g_default_check_revocation;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ex_data: a heap copy of the distrust-after time, freed with the X509. */
static void exdata_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    OPENSSL_free(ptr);
}

static int set_distrust(X509 *x, int64_t when)
{
    if (when <= 0)
        return 1;
    int64_t *p = OPENSSL_malloc(sizeof(*p));
    if (p == NULL)
        return 0;
    *p = when;
    if (!X509_set_ex_data(x, g_exidx, p)) {
        OPENSSL_free(p);
        return 0;
    }
    return 1;
}

int64_t ftls_roots_x509_distrust_after(const X509 *root)
{
    if (root == NULL || g_exidx < 0)
        return 0;
    const int64_t *p = X509_get_ex_data(root, g_exidx);
    return p ? *p : 0;
}

/* Answer a lookup from the store's cache, as OpenSSL's own lookups do: the
 * store holds the reference and the caller takes its own, so `ret` only
 * borrows the certificate. (X509_STORE_get0_objects is deprecated in 4.0
 * and X509_STORE_get1_objects is missing before 3.3; a store context's
 * cache query works on every version.) */
static int answer_from_cache(X509_STORE *store, const X509_NAME *name,
                             X509_OBJECT *ret)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_OBJECT *obj = NULL;
    int found = 0;
    if (ctx != NULL && X509_STORE_CTX_init(ctx, store, NULL, NULL) &&
        (obj = X509_STORE_CTX_get_obj_by_subject(ctx, X509_LU_X509, name)) !=
            NULL) {
        X509 *x = X509_OBJECT_get0_X509(obj);
        found = x != NULL && X509_OBJECT_set1_X509(ret, x);
        if (found)
            X509_free(x); /* the store's reference keeps it alive */
    }
    X509_OBJECT_free(obj);
    X509_STORE_CTX_free(ctx);
    return found;
}

static int lookup_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type,
                             const X509_NAME *name, X509_OBJECT *ret)
{
    const ftls_roots *r = X509_LOOKUP_get_method_data(lu);
    X509_STORE *store = X509_LOOKUP_get_store(lu);
    const size_t *match = NULL;
    size_t count;
    if (type != X509_LU_X509 || r == NULL || store == NULL || name == NULL)
        return 0;
    if ((count = ftls__roots_lookup_subject(r, name, &match)) == 0)
        return 0;
    ERR_set_mark();
    int added = 0;
    for (size_t k = 0; k < count; k++) {
        const struct ftls__root *e = &r->v[match[k]];
        const unsigned char *p = e->der;
        X509 *x = d2i_X509(NULL, &p, (long)e->der_len);
        if (x == NULL) /* indexed but rejected by OpenSSL: not a root */
            continue;
        /* Fill OpenSSL's extension cache while only this thread sees the
         * certificate: concurrent first use races inside OpenSSL
         * (openssl/openssl#32609). A root whose constraint cannot be
         * attached is not added: never trust it without its constraint. */
        X509_get_extension_flags(x);
        int ok =
            set_distrust(x, e->distrust_after) && X509_STORE_add_cert(store, x);
        X509_free(x);
        if (!ok) {
            ERR_clear_last_mark();
            return 0;
        }
        added++;
    }
    ERR_pop_to_mark(); /* d2i failures above are not the caller's */
    return added > 0 && answer_from_cache(store, name, ret);
}

static void lookup_free(X509_LOOKUP *lu)
{
    ftls_roots_free(X509_LOOKUP_get_method_data(lu));
}

/* Report a violation through the verify callback, as OpenSSL does for its
 * own errors. Returns the callback's verdict. */
static int report(X509_STORE_CTX *ctx, X509 *cert, int depth, int error)
{
    X509_STORE_CTX_verify_cb cb = X509_STORE_CTX_get_verify_cb(ctx);
    X509_STORE_CTX_set_error_depth(ctx, depth);
    X509_STORE_CTX_set_current_cert(ctx, cert);
    X509_STORE_CTX_set_error(ctx, error);
    return cb != NULL ? cb(0, ctx) : 0;
}

int ftls__roots_check_distrust(X509_STORE_CTX *ctx)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int n = chain ? sk_X509_num(chain) : 0;
    if (n < 2)
        return 1;
    int64_t until = ftls_roots_x509_distrust_after(sk_X509_value(chain, n - 1));
    if (until == 0)
        return 1;
    for (int i = 0; i < n - 1; i++) {
        X509 *c = sk_X509_value(chain, i);
        /* Rejected when notBefore is after the cutoff or cannot be read. */
        int cmp = ASN1_TIME_cmp_time_t(X509_get0_notBefore(c), (time_t)until);
        if (cmp > 0 || cmp == -2) {
            char when[16];
            time_t t = (time_t)until;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d", &tm);
            ftls__log(FTLS_LOG_WARN,
                      "chain rejected: root distrusts server certificates "
                      "issued after %s; certificate at depth %d has a later "
                      "notBefore",
                      when, i);
            if (!report(ctx, c, i, X509_V_ERR_CERT_REJECTED))
                return 0;
        }
    }
    return 1;
}

static int check_revocation(X509_STORE_CTX *ctx)
{
    if (!ftls__roots_check_distrust(ctx))
        return 0;
    return g_default_check_revocation(ctx);
}

static void init_once(void)
{
    g_exidx = X509_get_ex_new_index(0, "freshtls distrust-after", NULL, NULL,
                                    exdata_free);
    X509_LOOKUP_METHOD *m = X509_LOOKUP_meth_new("freshtls lazy roots");
    if (m == NULL ||
        !X509_LOOKUP_meth_set_get_by_subject(m, lookup_by_subject) ||
        !X509_LOOKUP_meth_set_free(m, lookup_free)) {
        X509_LOOKUP_meth_free(m);
        m = NULL;
    }
    /* OpenSSL's default check_revocation is not exported; a context made
     * from a plain store hands it out. */
    X509_STORE *s = X509_STORE_new();
    X509_STORE_CTX *c = X509_STORE_CTX_new();
    if (s != NULL && c != NULL && X509_STORE_CTX_init(c, s, NULL, NULL))
        g_default_check_revocation = X509_STORE_CTX_get_check_revocation(c);
    X509_STORE_CTX_free(c);
    X509_STORE_free(s);
    if (g_default_check_revocation != NULL && g_exidx >= 0)
        g_method = m;
    else
        X509_LOOKUP_meth_free(m);
}

ftls_code ftls_roots_new_store(ftls_roots *roots, X509_STORE **out,
                               ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(roots != NULL, err, "roots is NULL");
    pthread_once(&g_once, init_once);
    if (g_method == NULL)
        return ftls__err(err, FTLS_E_OPENSSL, "roots: cannot set up lookup");
    X509_STORE *store = X509_STORE_new();
    X509_LOOKUP *lu = store ? X509_STORE_add_lookup(store, g_method) : NULL;
    if (lu == NULL || ftls_roots_up_ref(roots) != FTLS_OK) {
        X509_STORE_free(store);
        return ftls__err(err, FTLS_E_OPENSSL, "roots: cannot create store");
    }
    if (!X509_LOOKUP_set_method_data(lu, roots)) {
        ftls_roots_free(roots);
        X509_STORE_free(store);
        return ftls__err(err, FTLS_E_OPENSSL, "roots: cannot create store");
    }
    X509_STORE_set_check_revocation(store, check_revocation);
    *out = store;
    return FTLS_OK;
}
