/*
 * Expiry watched over time. A published identity can expire while its
 * files stay unchanged: nothing reloads, so the load-time check never
 * runs again. The watcher calls ftls__source_check_expiry() on a timer
 * (and right after reloads); it sends `expiring` once the leaf is within
 * warn_before_expiry of its notAfter and `expired` once it is past it,
 * each once per generation, with one log line each.
 */
#include <stdio.h>

#include "base/fork.h"
#include "source/identity_internal.h"
#include "source/source_internal.h"

#define SENT_EXPIRING 1
#define SENT_EXPIRED 2

int64_t ftls__source_warn_seconds(const ftls_source *s)
{
    int64_t warn = s->opts.warn_before_expiry;
    if (warn == 0)
        warn = FTLS_WARN_EXPIRY_DEFAULT;
    return warn < 0 ? -1 : warn;
}

/* Which notice is due (under status_lock); records it as sent. */
static ftls_source_event_type due_notice(ftls_source *s, int64_t now,
                                         int64_t warn, int64_t *left)
{
    uint64_t gen = s->status.generation;
    if (gen != s->expiry_gen) {
        s->expiry_gen = gen;
        s->expiry_sent = 0;
    }
    *left = s->status.not_after - now;
    /* OpenSSL still accepts a certificate in its notAfter second. */
    if (*left < 0 && !(s->expiry_sent & SENT_EXPIRED)) {
        s->expiry_sent |= SENT_EXPIRED | SENT_EXPIRING;
        return FTLS_EVENT_EXPIRED;
    }
    if (*left >= 0 && warn >= 0 && *left <= warn &&
        !(s->expiry_sent & SENT_EXPIRING)) {
        s->expiry_sent |= SENT_EXPIRING;
        return FTLS_EVENT_EXPIRING;
    }
    return 0;
}

int64_t ftls__source_check_expiry(ftls_source *s, int64_t now)
{
    if (ftls__source_is_trust(s))
        return 0;
    int64_t warn = ftls__source_warn_seconds(s), left = 0, next = 0;
    ftls__lock(&s->status_lock);
    int64_t not_after = s->status.not_after;
    ftls_source_event_type t = s->status.generation == 0 || not_after == 0
                                   ? 0
                                   : due_notice(s, now, warn, &left);
    ftls__unlock(&s->status_lock);
    if (not_after == 0)
        return 0;
    if (t != 0) {
        struct ftls__pending_event pe = {.type = t};
        if (t == FTLS_EVENT_EXPIRED) {
            pe.code = FTLS_E_EXPIRED;
            ftls__str_message(pe.message, sizeof(pe.message),
                              "the served "
                              "certificate expired %lld seconds ago; reload a "
                              "new one",
                              (long long)-left);
        } else {
            ftls__str_message(pe.message, sizeof(pe.message),
                              "certificate "
                              "expires in %lld seconds",
                              (long long)left);
        }
        ftls__source_emit(s, &pe, 1);
    }
    if (warn >= 0 && now < not_after - warn)
        next = not_after - warn;
    else if (now <= not_after)
        next = not_after + 1;
    return next;
}
