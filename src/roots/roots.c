/* The root set: building, deduplication, the subject index, accessors. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "base/der.h"
#include "base/pem.h"
#include "base/str.h"
#include "base/testhook.h"
#include "roots/roots_internal.h"

#define DEDUP_INITIAL 512

ftls_code ftls__roots_new(ftls_roots_origin kind, ftls_roots **out,
                          ftls_error *err)
{
    *out = NULL;
    ftls_roots *r = ftls__calloc(1, sizeof(*r));
    if (r == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    atomic_init(&r->refs, 1);
    static _Atomic uint64_t next_uid = 1;
    r->uid = atomic_fetch_add(&next_uid, 1);
    r->kind = kind;
    *out = r;
    return FTLS_OK;
}

uint64_t ftls__roots_uid(const ftls_roots *r)
{
    return r ? r->uid : 0;
}

/* Grow an array to hold one more element. */
static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = ftls__realloc(*v, ncap * elem);
    if (nv == NULL)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

const char *ftls__roots_intern(ftls_roots *r, const char *s)
{
    if (grow((void **)&r->strings, &r->capstrings, r->nstrings,
             sizeof(*r->strings)) != 0)
        return NULL;
    char *d = ftls__strdup(s);
    if (d != NULL)
        r->strings[r->nstrings++] = d;
    return d;
}

ftls_code ftls__roots_note_path(ftls_roots *r, const char *path)
{
    const char *s = ftls__roots_intern(r, path);
    if (s == NULL || grow((void **)&r->paths, &r->cappaths, r->npaths,
                          sizeof(*r->paths)) != 0)
        return FTLS_E_NOMEM;
    r->paths[r->npaths++] = (char *)s;
    r->stats.paths = r->npaths;
    return FTLS_OK;
}

ftls_code ftls__roots_add_problem(ftls_roots *r, const char *path,
                                  ftls_code code, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    ftls__str_vmessage(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (grow((void **)&r->problems, &r->capproblems, r->nproblems,
             sizeof(*r->problems)) != 0)
        return FTLS_E_NOMEM;
    struct ftls__problem *p = &r->problems[r->nproblems];
    p->path = ftls__strdup(path);
    p->reason = ftls__strdup(reason);
    p->code = code;
    if (p->path == NULL || p->reason == NULL) {
        ftls__free(p->path);
        ftls__free(p->reason);
        return FTLS_E_NOMEM;
    }
    r->nproblems++;
    return FTLS_OK;
}

/* Fetched once: an implicit fetch per digest costs about a microsecond. */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int sha256(const unsigned char *p, size_t n, unsigned char out[32])
{
    unsigned len = 0;
    pthread_once(&g_sha256_once, sha256_init);
    if (g_sha256 == NULL)
        return -1;
    return EVP_Digest(p, n, out, &len, g_sha256, NULL) == 1 ? 0 : -1;
}

long ftls__roots_find_sha256(const ftls_roots *r, const unsigned char h[32])
{
    if (r->dedup_cap == 0)
        return -1;
    uint64_t k;
    memcpy(&k, h, sizeof(k));
    for (size_t i = k & (r->dedup_cap - 1);; i = (i + 1) & (r->dedup_cap - 1)) {
        uint32_t slot = r->dedup[i];
        if (slot == 0)
            return -1;
        if (memcmp(r->v[slot - 1].sha256, h, 32) == 0)
            return (long)slot - 1;
    }
}

static int dedup_insert(ftls_roots *r, size_t idx)
{
    if ((r->n + 1) * 2 > r->dedup_cap) {
        size_t ncap = r->dedup_cap ? r->dedup_cap * 2 : DEDUP_INITIAL;
        uint32_t *nt = ftls__calloc(ncap, sizeof(*nt));
        if (nt == NULL)
            return -1;
        uint32_t *old = r->dedup;
        size_t ocap = r->dedup_cap;
        r->dedup = nt;
        r->dedup_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i] != 0) {
                uint64_t k;
                memcpy(&k, r->v[old[i] - 1].sha256, sizeof(k));
                size_t j = k & (ncap - 1);
                while (nt[j] != 0)
                    j = (j + 1) & (ncap - 1);
                nt[j] = old[i];
            }
        ftls__free(old);
    }
    uint64_t k;
    memcpy(&k, r->v[idx].sha256, sizeof(k));
    size_t j = k & (r->dedup_cap - 1);
    while (r->dedup[j] != 0)
        j = (j + 1) & (r->dedup_cap - 1);
    r->dedup[j] = (uint32_t)idx + 1;
    return 0;
}

/* The subject is parsed when a lookup first needs it; a name our walker
 * cannot vouch for is checked with OpenSSL now, so the set never holds a
 * root OpenSSL would refuse. */
static int subject_ok(const struct ftls__span *s)
{
    if (ftls__der_name_plain(s->p, s->len))
        return 1;
    const unsigned char *np = s->p;
    X509_NAME *name = d2i_X509_NAME(NULL, &np, (long)s->len);
    X509_NAME_free(name);
    ERR_clear_error();
    return name != NULL;
}

static ftls_code add_der(ftls_roots *r, const unsigned char *der, size_t len,
                         int der_mode, const char *label, const char *location,
                         int64_t distrust_after, const char **why)
{
    struct ftls__cert_fields f;
    *why = NULL;
    r->stats.certs_seen++;
    if (ftls__der_cert_fields(der, len, &f, why) != 0)
        return FTLS_E_PARSE;
    unsigned char h[32];
    if (sha256(der, len, h) != 0) {
        *why = "SHA-256 unavailable";
        return FTLS_E_OPENSSL;
    }
    if (ftls__roots_find_sha256(r, h) >= 0) {
        r->stats.duplicates++;
        return FTLS_OK;
    }
    if (!subject_ok(&f.subject)) {
        *why = "subject name rejected by OpenSSL";
        return FTLS_E_PARSE;
    }
    if (grow((void **)&r->v, &r->cap, r->n, sizeof(*r->v)) != 0)
        return FTLS_E_NOMEM;
    struct ftls__root *e = &r->v[r->n];
    memset(e, 0, sizeof(*e));
    if (der_mode != FTLS__DER_COPY) {
        e->der = (unsigned char *)der;
    } else if ((e->der = ftls__malloc(len)) != NULL) {
        memcpy(e->der, der, len);
    } else {
        return FTLS_E_NOMEM;
    }
    e->der_static = (unsigned char)(der_mode == FTLS__DER_STATIC);
    e->der_len = len;
    e->subject_der = e->der + (f.subject.p - der);
    e->subject_len = f.subject.len;
    e->label = label;
    e->location = location;
    e->not_before = f.not_before;
    e->not_after = f.not_after;
    e->distrust_after = distrust_after;
    memcpy(e->sha256, h, 32);
    if (f.ski.len > 0 && f.ski.len <= sizeof(e->ski)) {
        memcpy(e->ski, f.ski.p, f.ski.len);
        e->ski_len = (unsigned char)f.ski.len;
    }
    if (dedup_insert(r, r->n) != 0) {
        if (der_mode == FTLS__DER_COPY)
            ftls__free(e->der);
        return FTLS_E_NOMEM;
    }
    r->n++;
    return FTLS_OK;
}

ftls_code ftls__roots_add_der(ftls_roots *r, const unsigned char *der,
                              size_t len, int der_mode, const char *label,
                              const char *location, int64_t distrust_after,
                              const char **why)
{
    size_t before = r->n;
    ftls_code rc =
        add_der(r, der, len, der_mode, label, location, distrust_after, why);
    /* Taken but not kept (a duplicate, a refusal, no memory): free it. */
    if (der_mode == FTLS__DER_TAKE && r->n == before)
        ftls__free((void *)der);
    return rc;
}

static const char *pem_where(char *buf, size_t n, const char *location,
                             size_t line)
{
    ftls__str_message(buf, n, "%s:%zu", location, line);
    return buf;
}

ftls_code ftls__roots_add_pem(ftls_roots *r, const unsigned char *buf,
                              size_t len, const char *location)
{
    struct ftls__pem_scan sc;
    struct ftls__pem_block blk;
    int rc;
    char where[PATH_MAX + 32]; /* "<location>:<line>", display only */
    if (ftls__pem_has_bom(buf, len))
        ftls__log(FTLS_LOG_INFO,
                  "%s: skipped a UTF-8 byte order mark before the first PEM "
                  "block (as OpenSSL does)",
                  location);
    ftls__pem_scan_init(&sc, buf, len);
    while ((rc = ftls__pem_next(&sc, &blk)) != 0) {
        ftls_code prc = FTLS_OK;
        if (rc < 0) {
            prc = ftls__roots_add_problem(
                r, pem_where(where, sizeof(where), location, blk.line),
                FTLS_E_PARSE, "truncated PEM block (no END line)");
        } else if (ftls__pem_label_is(&blk, "CERTIFICATE") ||
                   ftls__pem_label_is(&blk, "X509 CERTIFICATE")) {
            unsigned char *der = NULL;
            size_t dlen = 0;
            const char *why = NULL;
            ftls_code dc = ftls__pem_decode(&blk, &der, &dlen);
            if (dc == FTLS_E_NOMEM)
                return FTLS_E_NOMEM;
            if (dc != FTLS_OK) {
                why = "corrupted base64";
                ftls__free(der);
            } else {
                dc = ftls__roots_add_der(r, der, dlen, FTLS__DER_TAKE, NULL,
                                         location, 0, &why);
            }
            if (dc == FTLS_E_NOMEM)
                return FTLS_E_NOMEM;
            if (dc != FTLS_OK)
                prc = ftls__roots_add_problem(
                    r, pem_where(where, sizeof(where), location, blk.line), dc,
                    "%s", why);
        } else {
            prc = ftls__roots_add_problem(
                r, pem_where(where, sizeof(where), location, blk.line),
                FTLS_E_PARSE, "PEM block '%.*s' is not a certificate%s",
                (int)(blk.label_len > 64 ? 64 : blk.label_len), blk.label,
                ftls__pem_label_is(&blk, "TRUSTED CERTIFICATE")
                    ? " (OpenSSL trust settings are not supported)"
                    : "");
        }
        if (prc != FTLS_OK)
            return prc;
    }
    return FTLS_OK;
}

static int cmp_subject(const void *a, const void *b, void *ctx)
{
    X509_NAME *const *names = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = X509_NAME_cmp(names[i], names[j]);
    /* Stable: keep load order among equal subjects. */
    return c != 0 ? c : (i > j) - (i < j);
}

ftls_code ftls__roots_finish(ftls_roots *r, ftls_error *err)
{
    (void)r, (void)err; /* the index is built lazily (ftls__roots_index) */
    return FTLS_OK;
}

static void index_free(struct ftls__subject_index *x, size_t n)
{
    if (x == NULL)
        return;
    for (size_t i = 0; x->names != NULL && i < n; i++)
        X509_NAME_free(x->names[i]);
    ftls__free(x->names);
    ftls__free(x->order);
    ftls__free(x);
}

static struct ftls__subject_index *index_build(const ftls_roots *r)
{
    struct ftls__subject_index *x = ftls__calloc(1, sizeof(*x));
    size_t n = r->n ? r->n : 1;
    if (x == NULL || (x->names = ftls__calloc(n, sizeof(*x->names))) == NULL ||
        (x->order = ftls__calloc(n, sizeof(*x->order))) == NULL) {
        index_free(x, 0);
        return NULL;
    }
    /* Every subject was vetted at load (ftls__roots_add_der): a failure
     * here is OpenSSL out of memory, and no index is better than one that
     * silently misses a root. */
    for (size_t i = 0; i < r->n; i++) {
        const unsigned char *p = r->v[i].subject_der;
        x->order[i] = i;
        if ((x->names[i] =
                 d2i_X509_NAME(NULL, &p, (long)r->v[i].subject_len)) == NULL) {
            ERR_clear_error();
            index_free(x, r->n);
            return NULL;
        }
    }
    qsort_r(x->order, r->n, sizeof(*x->order), cmp_subject, x->names);
    return x;
}

const struct ftls__subject_index *ftls__roots_index(const ftls_roots *r)
{
    ftls_roots *m = (ftls_roots *)r; /* the index is a cache: logically const */
    struct ftls__subject_index *x =
        atomic_load_explicit(&m->index, memory_order_acquire);
    if (x != NULL)
        return x;
    struct ftls__subject_index *mine = index_build(r), *none = NULL;
    if (mine == NULL)
        return NULL;
    FTLS_TEST_HOOK(FTLS_HOOK_ROOTS_INDEX_BUILT, r);
    if (atomic_compare_exchange_strong_explicit(
            &m->index, &none, mine, memory_order_acq_rel, memory_order_acquire))
        return mine;
    index_free(mine, r->n); /* another thread published first */
    return none;
}

size_t ftls__roots_lookup_subject(const ftls_roots *r, const X509_NAME *name,
                                  const size_t **match)
{
    const struct ftls__subject_index *x = ftls__roots_index(r);
    *match = NULL;
    if (x == NULL || name == NULL)
        return 0;
    size_t lo = 0, hi = r->n;
    while (lo < hi) { /* lower bound */
        size_t mid = lo + (hi - lo) / 2;
        if (X509_NAME_cmp(x->names[x->order[mid]], name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < r->n &&
           X509_NAME_cmp(x->names[x->order[lo + n]], name) == 0)
        n++;
    *match = x->order + lo;
    return n;
}

void ftls_roots_free(ftls_roots *r)
{
    if (r == NULL ||
        atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    index_free(atomic_load_explicit(&r->index, memory_order_acquire), r->n);
    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i].der_static)
            ftls__free(r->v[i].der);
    for (size_t i = 0; i < r->nproblems; i++) {
        ftls__free(r->problems[i].path);
        ftls__free(r->problems[i].reason);
    }
    for (size_t i = 0; i < r->nstrings; i++)
        ftls__free(r->strings[i]);
    ftls__free(r->v);
    ftls__free(r->dedup);
    ftls__free(r->problems);
    ftls__free(r->strings);
    ftls__free(r->paths);
    ftls__free(r);
}

ftls_code ftls_roots_up_ref(ftls_roots *r)
{
    if (r == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return FTLS_OK;
}

size_t ftls_roots_count(const ftls_roots *r)
{
    return r ? r->n : 0;
}

ftls_code ftls_roots_get0_info(const ftls_roots *r, size_t i,
                               ftls_root_info *info)
{
    if (r == NULL || info == NULL || i >= r->n)
        return FTLS_E_INVALID_ARGUMENT;
    const struct ftls__root *e = &r->v[i];
    const struct ftls__subject_index *x = ftls__roots_index(r);
    if (x == NULL)
        return FTLS_E_NOMEM;
    info->der = e->der;
    info->der_len = e->der_len;
    info->subject = x->names[i];
    info->label = e->label;
    info->location = e->location;
    info->not_before = e->not_before;
    info->not_after = e->not_after;
    info->distrust_after = e->distrust_after;
    memcpy(info->sha256, e->sha256, 32);
    return FTLS_OK;
}

size_t ftls_roots_problem_count(const ftls_roots *r)
{
    return r ? r->nproblems : 0;
}

ftls_code ftls_roots_problem(const ftls_roots *r, size_t i, const char **path,
                             const char **reason)
{
    if (path != NULL)
        *path = NULL;
    if (reason != NULL)
        *reason = NULL;
    if (r == NULL || i >= r->nproblems)
        return FTLS_E_INVALID_ARGUMENT;
    if (path != NULL)
        *path = r->problems[i].path;
    if (reason != NULL)
        *reason = r->problems[i].reason;
    return r->problems[i].code;
}

ftls_code ftls_roots_get_stats(const ftls_roots *r, ftls_roots_stats *stats)
{
    if (r == NULL || stats == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    *stats = r->stats;
    return FTLS_OK;
}

const char *ftls_roots_get0_path(const ftls_roots *r, size_t i)
{
    return (r != NULL && i < r->npaths) ? r->paths[i] : NULL;
}

static const char *const g_origin_names[] = {"system", "fallback", "auto",
                                             "both"};

const char *ftls_roots_origin_name(ftls_roots_origin s)
{
    return (unsigned)s < 4 ? g_origin_names[s] : "unknown";
}

ftls_code ftls_roots_origin_parse(const char *name, ftls_roots_origin *out)
{
    if (name == NULL || out == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(name, g_origin_names[i]) == 0) {
            *out = (ftls_roots_origin)i;
            return FTLS_OK;
        }
    return FTLS_E_INVALID_ARGUMENT;
}

ftls_code ftls__roots_union(ftls_roots_origin kind, const ftls_roots *a,
                            const ftls_roots *b, ftls_roots **out,
                            ftls_error *err)
{
    ftls_roots *r = NULL;
    ftls_code rc = ftls__roots_new(kind, &r, err);
    if (rc != FTLS_OK)
        return rc;
    const ftls_roots *parts[2] = {a, b};
    for (int p = 0; p < 2; p++) {
        if (parts[p] == NULL)
            continue;
        for (size_t i = 0; i < parts[p]->npaths; i++)
            if (ftls__roots_note_path(r, parts[p]->paths[i]) != FTLS_OK)
                goto nomem;
        for (size_t i = 0; i < parts[p]->n; i++) {
            const struct ftls__root *e = &parts[p]->v[i];
            const char *why, *label = NULL, *source = NULL;
            if ((e->label && !(label = ftls__roots_intern(r, e->label))) ||
                (e->location && !(source = ftls__roots_intern(r, e->location))))
                goto nomem;
            rc = ftls__roots_add_der(r, e->der, e->der_len,
                                     e->der_static ? FTLS__DER_STATIC
                                                   : FTLS__DER_COPY,
                                     label, source, e->distrust_after, &why);
            if (rc == FTLS_E_NOMEM)
                goto nomem;
            if (rc != FTLS_OK) { /* both inputs were validated already */
                rc = ftls__err(err, FTLS_E_INTERNAL, "roots: %s", why);
                goto fail;
            }
        }
        for (size_t i = 0; i < parts[p]->nproblems; i++)
            if (ftls__roots_add_problem(
                    r, parts[p]->problems[i].path, parts[p]->problems[i].code,
                    "%s", parts[p]->problems[i].reason) != FTLS_OK)
                goto nomem;
    }
    r->stats.certs_seen =
        (a ? a->stats.certs_seen : 0) + (b ? b->stats.certs_seen : 0);
    if ((rc = ftls__roots_finish(r, err)) != FTLS_OK)
        goto fail;
    *out = r;
    return FTLS_OK;
nomem:
    rc = ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
fail:
    ftls_roots_free(r);
    return rc;
}
