/* Internal representation of a root set, shared by the roots_*.c files. */
#ifndef FTLS_ROOTS_INTERNAL_H
#define FTLS_ROOTS_INTERNAL_H

#include <stdatomic.h>

#include <freshtls/roots.h>

#include "base/internal.h"

struct ftls__root {
    unsigned char *der;
    size_t der_len;
    const unsigned char *subject_der; /* the Name TLV inside der */
    size_t subject_len;
    const char *label;    /* owned by the set's string list, or static */
    const char *location; /* owned by the set's string list, or static */
    int64_t not_before, not_after, distrust_after;
    unsigned char sha256[32];
    unsigned char ski[32];
    unsigned char ski_len;
    unsigned char der_static; /* der points into embedded data */
};

/* names[i]: root i's subject as OpenSSL parses it; order: root indices
 * sorted by X509_NAME_cmp (load order among equals). */
struct ftls__subject_index {
    X509_NAME **names;
    size_t *order;
};

struct ftls__problem {
    char *path;
    char *reason;
    ftls_code code;
};

struct ftls_roots {
    _Atomic long refs;
    uint64_t uid; /* unique in the process: names this immutable set */
    ftls_roots_origin kind;
    struct ftls__root *v;
    size_t n, cap;
    /* Parsed subjects and their order, built on first need (a cold load
     * does not parse names: most sets answer few lookups). */
    struct ftls__subject_index *_Atomic index;
    uint32_t *dedup; /* open addressing by SHA-256; index+1, 0 empty */
    size_t dedup_cap;
    struct ftls__problem *problems;
    size_t nproblems, capproblems;
    char **strings; /* owned strings: sources, labels */
    size_t nstrings, capstrings;
    char **paths; /* borrowed from strings: sources consulted */
    size_t npaths, cappaths;
    ftls_roots_stats stats;
};

/* Take a reference on a set known to be non-NULL. */
static inline ftls_roots *ftls__roots_ref(ftls_roots *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

FTLS_NODISCARD ftls_code ftls__roots_new(ftls_roots_origin kind,
                                         ftls_roots **out, ftls_error *err);
/* Copy a string into the set; NULL on allocation failure. */
const char *ftls__roots_intern(ftls_roots *r, const char *s);
/* Record a source consulted (interned). */
FTLS_NODISCARD ftls_code ftls__roots_note_path(ftls_roots *r, const char *path);
/* Record a problem. Allocation failure here is reported as FTLS_E_NOMEM. */
FTLS_NODISCARD ftls_code ftls__roots_add_problem(ftls_roots *r,
                                                 const char *path,
                                                 ftls_code code,
                                                 const char *fmt, ...)
    FTLS_PRINTF(4, 5);
/*
 * How ftls__roots_add_der() holds the DER: copies it; keeps the pointer
 * (embedded data that outlives the set); or takes a malloc'd buffer (kept,
 * or freed at once when the certificate is not added).
 */
enum { FTLS__DER_COPY = 0, FTLS__DER_STATIC = 1, FTLS__DER_TAKE = 2 };
/*
 * Add one DER certificate. `der_mode` above; FTLS__DER_STATIC means der is embedded data that
 * outlives the set (not copied). Duplicates (by DER) are counted and
 * dropped. A malformed certificate is returned as FTLS_E_PARSE with *why
 * set, and the caller records it as a problem. label/location must already
 * be interned or static.
 */
FTLS_NODISCARD ftls_code
ftls__roots_add_der(ftls_roots *r, const unsigned char *der, size_t len,
                    int der_mode, const char *label, const char *location,
                    int64_t distrust_after, const char **why);
/* Decode every certificate block of a PEM buffer into the set; problems
 * are recorded against `location`. Returns FTLS_E_NOMEM or FTLS_OK. */
FTLS_NODISCARD ftls_code ftls__roots_add_pem(ftls_roots *r,
                                             const unsigned char *buf,
                                             size_t len, const char *location);
/* Loading is over. After this the set is immutable (its subject index is
 * built on first use, by whichever thread needs it first). */
FTLS_NODISCARD ftls_code ftls__roots_finish(ftls_roots *r, ftls_error *err);
/* The subject index, built now if needed; NULL when out of memory.
 * Lock-free: threads that race build one each and one wins, so neither a
 * lock nor fork() can leave it half-built. */
const struct ftls__subject_index *ftls__roots_index(const ftls_roots *r);
/* Index of a root with this DER hash, or -1. */
long ftls__roots_find_sha256(const ftls_roots *r, const unsigned char h[32]);
/* The roots with this subject: their indices in *match (borrowed from the
 * index) and their count; 0 when none (or out of memory). */
size_t ftls__roots_lookup_subject(const ftls_roots *r, const X509_NAME *name,
                                  const size_t **match);

/* The set's process-unique id (never reused, unlike its address): what a
 * session records as the trust that verified its peer. */
uint64_t ftls__roots_uid(const ftls_roots *r);

/* Called after every successful ftls_roots_refresh(), on the refreshing
 * thread, with no roots lock held (system-roots sources reload here). */
typedef void (*ftls__roots_follow_fn)(void *arg);
FTLS_NODISCARD ftls_code ftls__roots_follow(ftls__roots_follow_fn fn,
                                            void *arg);
/* Stop; waits for a notification in progress. */
void ftls__roots_unfollow(ftls__roots_follow_fn fn, void *arg);

/* The distrust-after check of stores made by ftls_roots_new_store(), for a
 * store that chains it before another check_revocation: 1 when the chain
 * passes (or the verify callback overrode), 0 to fail verification. */
int ftls__roots_check_distrust(X509_STORE_CTX *ctx);

/* The embedded fallback bundle (fallback.c), built once. */
FTLS_NODISCARD ftls_code ftls__fallback_get1(ftls_roots **out, ftls_error *err);
/* Loaders (roots_load.c). */
FTLS_NODISCARD ftls_code ftls__roots_load_system(ftls_roots **out,
                                                 ftls_error *err);
/* Combine: union of a and b (either may be NULL) as a new set. */
FTLS_NODISCARD ftls_code ftls__roots_union(ftls_roots_origin kind,
                                           const ftls_roots *a,
                                           const ftls_roots *b,
                                           ftls_roots **out, ftls_error *err);
/* 1 when SSL_CERT_FILE or SSL_CERT_DIR is set and non-empty; the values
 * (NULL when unset or empty) are stored through file and dir. */
int ftls__roots_env_override(const char **file, const char **dir);
/* Signature of the system sources for change detection (roots_load.c). */
FTLS_NODISCARD ftls_code ftls__roots_system_signature(unsigned char out[32],
                                                      ftls_error *err);

#endif
