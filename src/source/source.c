/* Sources: read a generation, validate it, publish it or keep the old. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/secret.h"
#include "base/fork.h"
#include "source/identity_internal.h"
#include "source/source_internal.h"
#include "source/source_read.h"

/* ---- reading --------------------------------------------------------------- */

/* The names a generation's two parts are reported under ("what failed"). */
struct names {
    char *a, *b;
};

static void names_free(struct names *n)
{
    ftls__free(n->a);
    ftls__free(n->b);
}

/* Name the parts of the generation about to be read. */
static FTLS_NODISCARD ftls_code name_parts(const ftls_source *s,
                                           struct names *n, ftls_error *err)
{
    ftls_code rc = FTLS_OK;
    memset(n, 0, sizeof(*n));
    if (s->dir != NULL) {
        rc = ftls__str_aprintf(&n->a, "%s/%s", s->dir, s->cert_name);
        if (rc == FTLS_OK)
            rc = ftls__str_aprintf(&n->b, "%s/%s", s->dir, s->key_name);
    } else if (s->kind == FTLS__SRC_MEM) {
        n->a = ftls__strdup("memory certificate");
        n->b = ftls__strdup("memory key");
    } else {
        const char *a = s->cert_path ? s->cert_path : s->path;
        const char *b = s->key_path ? s->key_path : s->path;
        n->a = ftls__strdup(a ? a : "?");
        n->b = ftls__strdup(b ? b : "?");
    }
    if (rc == FTLS_OK && (n->a == NULL || n->b == NULL))
        rc = FTLS_E_NOMEM;
    if (rc != FTLS_OK) {
        names_free(n);
        return ftls__err(err, rc, "%s: out of memory", s->desc);
    }
    return FTLS_OK;
}

/* Copy a memory source's material. */
static FTLS_NODISCARD ftls_code read_memory(ftls_source *s,
                                            struct ftls__generation *g,
                                            ftls_error *err)
{
    ftls_code rc = FTLS_OK;
    ftls__lock(&s->mem_lock);
    if (s->mem_cert.data == NULL)
        rc = ftls__err(err, FTLS_E_EMPTY, "memory source: no material set");
    else if (ftls__buf_copy(&g->a, s->mem_cert.data, s->mem_cert.len) !=
                 FTLS_OK ||
             ftls__buf_copy(&g->b, s->mem_key.data, s->mem_key.len) != FTLS_OK)
        rc = ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    ftls__unlock(&s->mem_lock);
    return rc;
}

/* Read the raw material of one generation. */
static FTLS_NODISCARD ftls_code read_raw(ftls_source *s,
                                         struct ftls__generation *g,
                                         ftls_error *err)
{
    ftls_code rc = FTLS_E_INTERNAL;
    memset(g, 0, sizeof(*g));
    switch (s->kind) {
    case FTLS__SRC_DIR:
    case FTLS__SRC_FILES:
        if (s->dir != NULL)
            return ftls__read_generation(s->dir, s->cert_name, s->key_name,
                                         FTLS_FILE_CAP_DEFAULT, g, err);
        rc = ftls__file_read(AT_FDCWD, s->cert_path, FTLS_FILE_CAP_DEFAULT,
                             &g->a, err);
        if (rc == FTLS_OK)
            rc = ftls__file_read(AT_FDCWD, s->key_path, FTLS_FILE_CAP_DEFAULT,
                                 &g->b, err);
        break;
    case FTLS__SRC_PEM:
    case FTLS__SRC_P12:
        return ftls__file_read(AT_FDCWD, s->path, FTLS_FILE_CAP_DEFAULT, &g->a,
                               err);
    case FTLS__SRC_MEM: rc = read_memory(s, g, err); break;
    case FTLS__SRC_TRUST:
    case FTLS__SRC_SYSTEM:
        rc = ftls__err(err, FTLS_E_INTERNAL, "source: not an identity source");
        break;
    }
    if (rc != FTLS_OK)
        ftls__generation_free(g);
    return rc;
}

static void hash_generation(const struct ftls__generation *g,
                            unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    if (c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return;
    }
    uint64_t la = g->a.len, lb = g->b.len;
    EVP_DigestUpdate(c, &la, sizeof(la));
    if (g->a.data)
        EVP_DigestUpdate(c, g->a.data, g->a.len);
    EVP_DigestUpdate(c, &lb, sizeof(lb));
    if (g->b.data)
        EVP_DigestUpdate(c, g->b.data, g->b.len);
    EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

static void hash_roots(const ftls_roots *r, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        for (size_t i = 0; i < ftls_roots_count(r); i++) {
            ftls_root_info info;
            if (ftls_roots_get0_info(r, i, &info) == FTLS_OK)
                EVP_DigestUpdate(c, info.sha256, 32);
        }
        EVP_DigestFinal_ex(c, out, &n);
    }
    EVP_MD_CTX_free(c);
}

/* Parse and validate an identity generation. */
static FTLS_NODISCARD ftls_code build_identity(ftls_source *s,
                                               struct ftls__generation *g,
                                               const char *wa, const char *wb,
                                               ftls_identity **out,
                                               ftls_error *err)
{
    struct ftls__buf pw;
    ftls_code rc =
        ftls__passphrase_get(s->pass_file, s->pass_env, "source", &pw, err);
    if (rc != FTLS_OK)
        return rc;
    const char *pass = (const char *)pw.data;
    if (s->kind == FTLS__SRC_P12)
        rc =
            ftls__identity_from_pkcs12(g->a.data, g->a.len, wa, pass, out, err);
    else if (s->kind == FTLS__SRC_PEM ||
             (s->kind == FTLS__SRC_MEM && g->b.data == NULL))
        rc = ftls__identity_from_pem(g->a.data, g->a.len, wa, NULL, 0, NULL,
                                     pass, out, err);
    else
        rc = ftls__identity_from_pem(g->a.data, g->a.len, wa, g->b.data,
                                     g->b.len, wb, pass, out, err);
    ftls__buf_free(&pw, 1);
    if (rc == FTLS_OK &&
        (rc = ftls__identity_validate(*out, &s->opts, (int64_t)time(NULL), wa,
                                      err)) != FTLS_OK) {
        ftls_identity_free(*out);
        *out = NULL;
    }
    return rc;
}

void ftls__source_emit(ftls_source *s, const struct ftls__pending_event *pe,
                       int n)
{
    for (int i = 0; i < n; i++) {
        ftls_source_event ev = {pe[i].type, s, ftls_source_generation(s),
                                pe[i].code, pe[i].message};
        if (s->cb != NULL) { /* once: the application reports it */
            s->cb(&ev, s->cb_ud);
            continue;
        }
        if (pe[i].type == FTLS_EVENT_REJECTED ||
            pe[i].type == FTLS_EVENT_EXPIRED)
            ftls__log(FTLS_LOG_ERROR, "%s: %s", s->desc, pe[i].message);
        else if (pe[i].type != FTLS_EVENT_UNCHANGED)
            ftls__log(pe[i].type == FTLS_EVENT_LOADED ? FTLS_LOG_INFO
                                                      : FTLS_LOG_WARN,
                      "%s: %s", s->desc, pe[i].message);
    }
}

/* What one reload read: the new content (identity or roots) and its hash. */
struct loaded {
    ftls_identity *id;
    ftls_roots *roots;
    unsigned char hash[32];
};

/* Read, and unless its bytes are unchanged parse and validate, the
 * source's current content. */
static FTLS_NODISCARD ftls_code load_content(ftls_source *s, struct loaded *l,
                                             ftls_error *err)
{
    memset(l, 0, sizeof(*l));
    if (ftls__source_is_trust(s)) {
        ftls_code rc =
            s->kind == FTLS__SRC_SYSTEM
                ? ftls_roots_get1_shared(s->system_which, &l->roots, err)
                : ftls_roots_load_paths(s->trust_files, s->trust_dirs,
                                        &l->roots, err);
        if (rc == FTLS_OK)
            hash_roots(l->roots, l->hash); /* equal sets are "unchanged" */
        return rc;
    }
    struct ftls__generation g;
    ftls_code rc = read_raw(s, &g, err);
    if (rc != FTLS_OK)
        return rc;
    hash_generation(&g, l->hash);
    if (!(s->have_hash && memcmp(l->hash, s->content_hash, 32) == 0)) {
        struct names n; /* only a parse reports which part failed */
        if ((rc = name_parts(s, &n, err)) == FTLS_OK) {
            rc = build_identity(s, &g, n.a, n.b, &l->id, err);
            names_free(&n);
        }
    }
    ftls__generation_free(&g);
    return rc;
}

/* Queue one event for after the unlock. */
static void queue_event(struct ftls__pending_event *pe, int *npe,
                        ftls_source_event_type type, ftls_code code,
                        const char *fmt, ...) FTLS_PRINTF(5, 6);
static void queue_event(struct ftls__pending_event *pe, int *npe,
                        ftls_source_event_type type, ftls_code code,
                        const char *fmt, ...)
{
    pe[*npe].type = type;
    pe[*npe].code = code;
    va_list ap;
    va_start(ap, fmt);
    ftls__str_vmessage(pe[*npe].message, sizeof(pe[*npe].message), fmt, ap);
    va_end(ap);
    (*npe)++;
}

/* Publish a new generation and record it in the status. */
static FTLS_NODISCARD ftls_code publish(ftls_source *s, struct loaded *l,
                                        int64_t now, uint64_t *gen,
                                        ftls_error *err)
{
    if (l->id != NULL)
        l->id->generation = ftls_cell_generation(s->cell) + 1;
    ftls_code rc = ftls_cell_publish(
        s->cell, l->id ? (void *)l->id : (void *)l->roots, gen, err);
    if (rc != FTLS_OK)
        return rc; /* the caller still owns l's content */
    memcpy(s->content_hash, l->hash, 32);
    s->have_hash = 1;
    ftls__lock(&s->status_lock);
    s->status.generation = *gen;
    s->status.last_success = now;
    if (l->id != NULL) {
        memcpy(s->status.sha256, l->id->sha256, 32);
        s->status.not_after = l->id->not_after;
    }
    ftls__unlock(&s->status_lock);
    return FTLS_OK;
}

/* Reload under load_lock; queues the events to emit after unlocking. */
static FTLS_NODISCARD ftls_code reload_locked(ftls_source *s,
                                              struct ftls__pending_event *pe,
                                              int *npe, ftls_error *err)
{
    int64_t now = (int64_t)time(NULL);
    struct loaded l;
    ftls_code rc = load_content(s, &l, err);
    ftls__lock(&s->status_lock);
    s->status.last_attempt = now;
    s->status.last_error = rc;
    ftls__str_message(s->status.last_error_message,
                      sizeof(s->status.last_error_message), "%s",
                      rc == FTLS_OK ? "" : ftls_error_message(err));
    ftls__unlock(&s->status_lock);
    if (rc != FTLS_OK) {
        queue_event(pe, npe, FTLS_EVENT_REJECTED, rc, "%s%s",
                    err ? ftls_error_message(err) : ftls_code_describe(rc),
                    ftls_source_generation(s)
                        ? "; keeping the previous generation"
                        : "");
        return rc;
    }
    if (s->have_hash && memcmp(l.hash, s->content_hash, 32) == 0) {
        ftls_roots_free(l.roots);
        queue_event(pe, npe, FTLS_EVENT_UNCHANGED, FTLS_OK, "unchanged");
        return FTLS_OK;
    }
    uint64_t gen = 0;
    if ((rc = publish(s, &l, now, &gen, err)) != FTLS_OK) {
        ftls_identity_free(l.id);
        ftls_roots_free(l.roots);
        return rc;
    }
    if (l.id != NULL) {
        char subj[256]; /* X509_NAME_oneline cuts long names: display only */
        X509_NAME_oneline(X509_get_subject_name(l.id->leaf), subj,
                          sizeof(subj));
        queue_event(pe, npe, FTLS_EVENT_LOADED, FTLS_OK,
                    "loaded generation %llu: %s", (unsigned long long)gen,
                    subj);
    } else {
        queue_event(pe, npe, FTLS_EVENT_LOADED, FTLS_OK,
                    "loaded generation %llu: %zu roots",
                    (unsigned long long)gen, ftls_roots_count(l.roots));
    }
    return FTLS_OK;
}

ftls_code ftls_source_reload(ftls_source *s, ftls_error *err)
{
    FTLS_GUARD_ARG(s != NULL, err, "src is NULL");
    ftls_error *local = NULL;
    if (err == NULL && ftls_error_new(&local) == FTLS_OK)
        err = local; /* the event needs a message even if the caller doesn't */
    struct ftls__pending_event pe[3];
    int npe = 0;
    ftls__lock(&s->load_lock);
    uint64_t before = ftls_cell_generation(s->cell);
    ftls_code rc = reload_locked(s, pe, &npe, err);
    int published = ftls_cell_generation(s->cell) != before;
    ftls__unlock(&s->load_lock);
    if (published) {
        ftls__lock(&s->listener_lock);
        for (int i = 0; i < s->nlisteners; i++)
            s->listeners[i].fn(s, s->listeners[i].arg);
        ftls__unlock(&s->listener_lock);
    }
    ftls__source_emit(s, pe, npe);
    if (published) /* expiring/expired at load, once for this generation */
        (void)ftls__source_check_expiry(s, (int64_t)time(NULL));
    ftls_error_free(local);
    return rc;
}

/* ---- reading the published state ------------------------------------------ */

static FTLS_NODISCARD ftls_code get1(ftls_source *s, int want_trust, void **out,
                                     ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(s != NULL, err, "src is NULL");
    if (ftls__source_is_trust(s) != want_trust)
        return ftls__err(err, FTLS_E_STATE, "%s: not %s source", s->desc,
                         want_trust ? "a trust" : "an identity");
    ftls_snapshot *snap = NULL;
    ftls_code rc = ftls_cell_get1_snapshot(s->cell, &snap);
    if (rc != FTLS_OK)
        return ftls__err(err, rc, "%s: %s", s->desc,
                         rc == FTLS_E_EMPTY ? "nothing loaded yet"
                                            : ftls_code_describe(rc));
    void *data = ftls_snapshot_get0_data(snap);
    if (want_trust)
        rc = ftls_roots_up_ref(data);
    else
        rc = ftls_identity_up_ref(data);
    if (rc == FTLS_OK)
        *out = data;
    ftls_snapshot_free(snap);
    return rc;
}

ftls_code ftls_source_get1_identity(ftls_source *s, ftls_identity **out,
                                    ftls_error *err)
{
    return get1(s, 0, (void **)out, err);
}

ftls_code ftls_source_get1_roots(ftls_source *s, ftls_roots **out,
                                 ftls_error *err)
{
    return get1(s, 1, (void **)out, err);
}

uint64_t ftls_source_generation(const ftls_source *s)
{
    return s ? ftls_cell_generation(s->cell) : 0;
}

ftls_code ftls_source_get_status(const ftls_source *s, ftls_source_status *st)
{
    if (s == NULL || st == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    ftls__lock((pthread_mutex_t *)&s->status_lock);
    *st = s->status;
    ftls__unlock((pthread_mutex_t *)&s->status_lock);
    int64_t now = (int64_t)time(NULL), warn = ftls__source_warn_seconds(s);
    st->seconds_left = st->not_after ? st->not_after - now : 0;
    if (st->generation == 0)
        st->health = FTLS_HEALTH_EMPTY;
    else if (st->not_after && st->seconds_left < 0)
        st->health = FTLS_HEALTH_EXPIRED;
    else if (st->last_error != FTLS_OK)
        st->health = FTLS_HEALTH_STALE;
    else if (st->not_after && warn >= 0 && st->seconds_left <= warn)
        st->health = FTLS_HEALTH_EXPIRING;
    else
        st->health = FTLS_HEALTH_OK;
    return FTLS_OK;
}

ftls_code ftls_source_set_event_callback(ftls_source *s,
                                         ftls_source_event_fn fn,
                                         void *userdata)
{
    if (s == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    s->cb = fn;
    s->cb_ud = userdata;
    return FTLS_OK;
}

const char *ftls_source_describe(const ftls_source *s)
{
    return s && s->desc ? s->desc : "";
}

const char *ftls_source_event_name(ftls_source_event_type t)
{
    switch (t) {
    case FTLS_EVENT_LOADED: return "loaded";
    case FTLS_EVENT_REJECTED: return "rejected";
    case FTLS_EVENT_UNCHANGED: return "unchanged";
    case FTLS_EVENT_EXPIRING: return "expiring";
    case FTLS_EVENT_DEGRADED: return "degraded";
    case FTLS_EVENT_EXPIRED: return "expired";
    }
    return "unknown";
}

ftls_code ftls__source_add_listener(ftls_source *s, ftls__source_listener_fn fn,
                                    void *arg)
{
    ftls__lock(&s->listener_lock);
    ftls_code rc = FTLS_E_NOMEM;
    if (s->nlisteners == s->caplisteners) {
        int ncap = s->caplisteners ? s->caplisteners * 2 : 4;
        struct ftls__listener *n =
            ftls__realloc(s->listeners, (size_t)ncap * sizeof(*n));
        if (n != NULL) {
            s->listeners = n;
            s->caplisteners = ncap;
        }
    }
    if (s->nlisteners < s->caplisteners) {
        s->listeners[s->nlisteners].fn = fn;
        s->listeners[s->nlisteners].arg = arg;
        s->nlisteners++;
        rc = FTLS_OK;
    }
    ftls__unlock(&s->listener_lock);
    return rc;
}

void ftls__source_remove_listener(ftls_source *s, ftls__source_listener_fn fn,
                                  void *arg)
{
    ftls__lock(&s->listener_lock);
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].fn == fn && s->listeners[i].arg == arg) {
            s->listeners[i] = s->listeners[--s->nlisteners];
            break;
        }
    ftls__unlock(&s->listener_lock);
}
