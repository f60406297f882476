/*
 * A trust source over the process-wide system roots (roots_cache.c): its
 * reload takes the current set of ftls_roots_get1_shared(which), and every
 * successful ftls_roots_refresh() (by hand, or by the roots watcher when
 * the OS store changes) reloads it. So factories, attachments, events and
 * status follow the OS store through the same path as any trust file.
 */
#include "roots/roots_internal.h"
#include "source/source_internal.h"

static void refreshed(void *arg)
{
    ftls_source *s = arg;
    /* Failures are reported through the source's events and status, and
     * the previous set stays published. */
    if (ftls_source_reload(s, NULL) != FTLS_OK)
        return;
}

void ftls__source_system_detach(ftls_source *s)
{
    ftls__roots_unfollow(refreshed, s);
}

ftls_code ftls_source_new_system_roots(ftls_roots_origin which,
                                       ftls_source **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG((unsigned)which <= FTLS_ROOTS_BOTH, err, "unknown roots");
    ftls_source *s = NULL;
    ftls_code rc = ftls__source_new(FTLS__SRC_SYSTEM, NULL, &s, err);
    if (rc != FTLS_OK)
        return rc;
    s->system_which = which;
    static const char *const names[] = {"system", "fallback", "auto", "both"};
    if ((rc = ftls__source_describe_as(&s, err, "roots:%s", names[which])) !=
        FTLS_OK)
        return rc;
    if (ftls__roots_follow(refreshed, s) != FTLS_OK) {
        s->kind = FTLS__SRC_TRUST; /* nothing to detach */
        ftls_source_free(s);
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    }
    *out = s;
    return FTLS_OK;
}
