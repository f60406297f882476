/* The embedded Mozilla bundle as a root set, built once per process. */
#include <pthread.h>

#include "base/fork.h"
#include "roots/fallback_data.h"
#include "roots/roots_internal.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ftls_roots *g_fallback;

static FTLS_NODISCARD ftls_code build(ftls_roots **out, ftls_error *err)
{
    ftls_roots *r = NULL;
    ftls_code rc = ftls__roots_new(FTLS_ROOTS_FALLBACK, &r, err);
    if (rc != FTLS_OK)
        return rc;
    static const char source[] = "embedded:mozilla";
    if ((rc = ftls__roots_note_path(r, source)) != FTLS_OK) {
        rc = ftls__err(err, rc, "fallback roots: out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < ftls__fallback_count; i++) {
        const struct ftls__fallback_root *e = &ftls__fallback_roots[i];
        const char *why = NULL;
        rc = ftls__roots_add_der(r, e->der, e->der_len, FTLS__DER_STATIC,
                                 e->label, source, e->distrust_after, &why);
        if (rc != FTLS_OK) {
            rc = ftls__err(err, rc == FTLS_E_NOMEM ? rc : FTLS_E_INTERNAL,
                           "fallback root '%s': %s", e->label,
                           why ? why : "out of memory");
            goto fail;
        }
    }
    r->stats.files_read = 0;
    if ((rc = ftls__roots_finish(r, err)) != FTLS_OK)
        goto fail;
    *out = r;
    return FTLS_OK;
fail:
    ftls_roots_free(r);
    return rc;
}

ftls_code ftls__fallback_get1(ftls_roots **out, ftls_error *err)
{
    *out = NULL;
    /* The lock is only held while building (once, ~0.5 ms) and for a
     * reference increment afterwards. A failed build (out of memory) is
     * retried on the next call. */
    ftls__lock(&g_lock);
    ftls_code rc = FTLS_OK;
    if (g_fallback == NULL)
        rc = build(&g_fallback, err);
    if (rc == FTLS_OK) {
        *out = ftls__roots_ref(g_fallback);
    }
    ftls__unlock(&g_lock);
    return rc;
}
