/* The leaf cache (bounded, LRU, expiry-aware, single-flight) and the
 * ClientHello resolver that serves a leaf per SNI name or fails closed. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/fork.h"
#include "mint/mint_internal.h"
#include "base/testhook.h"

#define CAPACITY_DEFAULT 10000
#define FRACTION_DEFAULT 0.5

struct entry {
    char name[FTLS_NAME_MAX + 1];
    int is_ip;
    uint64_t hash;
    ftls_leaf *leaf;   /* NULL until the first mint completes */
    int minting;       /* a mint for this name is in flight */
    int64_t remint_at; /* replace the leaf from this time on */
    struct entry *hnext, *prev, *next;
};

struct ftls_leaf_cache {
    pthread_mutex_t lock;
    pthread_cond_t minted;
    struct entry **buckets;
    size_t nbuckets;
    struct entry *head, *tail; /* LRU: most recent at head */
    size_t size, capacity;
    double fraction;
    ftls_mint_options mint;
    int64_t (*now)(void *);
    void *now_arg;
    ftls_ca *ca;
    ftls_leaf_cache_stats st;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

ftls_code ftls_leaf_cache_new(ftls_ca *ca, const ftls_leaf_cache_options *o,
                              ftls_leaf_cache **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(ca != NULL, err, "ca is NULL");
    double fraction =
        o && o->remint_fraction > 0 ? o->remint_fraction : FRACTION_DEFAULT;
    FTLS_GUARD_ARG(fraction <= 1.0, err, "remint_fraction must be in (0, 1]");
    ftls_leaf_cache *c = ftls__calloc(1, sizeof(*c));
    if (c == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "leaf cache: out of memory");
    c->capacity = o && o->capacity ? o->capacity : CAPACITY_DEFAULT;
    c->fraction = fraction;
    if (o != NULL) {
        c->mint = o->mint;
        c->now = o->now;
        c->now_arg = o->now_arg;
    }
    c->nbuckets = 64;
    while (c->nbuckets < 2 * c->capacity && c->nbuckets < (1u << 20))
        c->nbuckets *= 2;
    c->buckets = ftls__calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        ftls__free(c);
        return ftls__err(err, FTLS_E_NOMEM, "leaf cache: out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->minted, NULL);
    c->ca = ca;
    atomic_fetch_add(&ca->refs, 1);
    *out = c;
    return FTLS_OK;
}

void ftls_leaf_cache_free(ftls_leaf_cache *c)
{
    if (c == NULL)
        return;
    for (struct entry *e = c->head, *n; e != NULL; e = n) {
        n = e->next;
        ftls_leaf_free(e->leaf);
        ftls__free(e);
    }
    ftls__free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->minted);
    ftls_ca_free(c->ca);
    ftls__free(c);
}

static struct entry *find(ftls_leaf_cache *c, const char *name, uint64_t h)
{
    for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void lru_unlink(ftls_leaf_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(ftls_leaf_cache *c, struct entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

/* Unlink an entry from the hash and LRU; returns its leaf to free later. */
static ftls_leaf *drop(ftls_leaf_cache *c, struct entry *e)
{
    FTLS_ASSERT(!e->minting); /* a minting thread still points at it */
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->size--;
    ftls_leaf *leaf = e->leaf;
    ftls__free(e);
    return leaf;
}

/* Evict least recently used entries (never one being minted). Leaves are
 * collected and freed by the caller outside the lock. */
static void evict(ftls_leaf_cache *c, ftls_leaf **freed, int *nfreed, int max)
{
    struct entry *e = c->tail;
    while (c->size > c->capacity && e != NULL && *nfreed < max) {
        struct entry *prev = e->prev;
        if (!e->minting) {
            freed[(*nfreed)++] = drop(c, e);
            c->st.evictions++;
        }
        e = prev;
    }
}

static int64_t clock_now(const ftls_leaf_cache *c)
{
    return c->now ? c->now(c->now_arg) : (int64_t)time(NULL);
}

/* A new entry for `name`, linked in as most recently used and marked as
 * being minted by the caller, so that evict() cannot free it before the
 * mint completes (it skips entries in flight). */
static struct entry *insert_minting(ftls_leaf_cache *c, const char *name,
                                    uint64_t h, int is_ip)
{
    struct entry *e = ftls__calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    memcpy(e->name, name, strlen(name) + 1);
    e->hash = h;
    e->is_ip = is_ip;
    e->minting = 1;
    e->hnext = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    lru_front(c, e);
    c->size++;
    return e;
}

/* Under the lock: a cache hit sets *hit; otherwise returns the entry this
 * caller must mint (marked in flight), waiting out another caller's mint of
 * the same name. NULL with *hit unset means out of memory. */
static struct entry *claim(ftls_leaf_cache *c, const char *name, uint64_t h,
                           int is_ip, int64_t now, ftls_leaf **hit,
                           ftls_leaf **freed, int *nfreed, int max)
{
    for (;;) {
        struct entry *e = find(c, name, h);
        if (e == NULL) { /* first request for this name: we mint */
            if ((e = insert_minting(c, name, h, is_ip)) != NULL) {
                c->st.misses++;
                evict(c, freed, nfreed, max);
            }
            return e;
        }
        if (e->leaf != NULL && now < e->remint_at) {
            lru_unlink(c, e);
            lru_front(c, e);
            atomic_fetch_add_explicit(&e->leaf->refs, 1, memory_order_relaxed);
            *hit = e->leaf;
            c->st.hits++;
            return NULL;
        }
        if (!e->minting) { /* due for a re-mint: we do it */
            e->minting = 1;
            c->st.misses++;
            return e;
        }
        pthread_cond_wait(&c->minted, &c->lock); /* single flight */
    }
}

/* Under the lock: record the outcome of the mint of `e`; returns the
 * replaced leaf, to be freed outside the lock. */
static ftls_leaf *settle(ftls_leaf_cache *c, struct entry *e, ftls_code rc,
                         ftls_leaf *leaf, int64_t now, ftls_leaf **out)
{
    ftls_leaf *old = NULL;
    FTLS_ASSERT(e->minting); /* only the minting thread settles, once */
    e->minting = 0;
    if (rc == FTLS_OK) {
        old = e->leaf;
        e->leaf = leaf;
        e->remint_at =
            now + (int64_t)((double)(leaf->not_after - now) * c->fraction);
        atomic_fetch_add_explicit(&leaf->refs, 1, memory_order_relaxed);
        *out = leaf;
        c->st.mints++;
    } else {
        c->st.failures++;
        if (e->leaf == NULL)
            old = drop(c, e); /* nothing to keep; waiters will try again */
    }
    pthread_cond_broadcast(&c->minted);
    return old;
}

ftls_code ftls_leaf_cache_get1(ftls_leaf_cache *c, const char *host,
                               ftls_leaf **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(c != NULL && host != NULL, err, "cache or host is NULL");
    char name[FTLS_NAME_MAX + 1];
    int is_ip = 0;
    ftls_code rc = ftls_leaf_normalize_name(host, c->mint.allow_ip, name,
                                            sizeof(name), &is_ip, err);
    if (rc != FTLS_OK) {
        ftls__lock(&c->lock);
        c->st.failures++;
        ftls__unlock(&c->lock);
        return rc;
    }
    uint64_t h = fnv1a(name);
    int64_t now = clock_now(c);
    ftls_leaf *freed[8];
    int nfreed = 0;
    ftls__lock(&c->lock);
    struct entry *e = claim(c, name, h, is_ip, now, out, freed, &nfreed,
                            (int)FTLS_ARRAY_LEN(freed));
    ftls__unlock(&c->lock);
    for (int i = 0; i < nfreed; i++)
        ftls_leaf_free(freed[i]);
    if (*out != NULL)
        return FTLS_OK;
    if (e == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "leaf cache: out of memory");

    FTLS_TEST_HOOK(FTLS_HOOK_LEAF_MINT_BEGIN, name);
    ftls_leaf *leaf = NULL;
    rc = ftls__mint(c->ca, name, is_ip, &c->mint, now, &leaf, err);

    ftls__lock(&c->lock);
    nfreed = 0;
    freed[nfreed++] = settle(c, e, rc, leaf, now, out);
    /* Entries in flight are never evicted, so a burst of concurrent mints
     * can hold the cache above capacity until they settle. */
    evict(c, freed, &nfreed, (int)FTLS_ARRAY_LEN(freed));
    ftls__unlock(&c->lock);
    for (int i = 0; i < nfreed; i++)
        ftls_leaf_free(freed[i]);
    return rc;
}

ftls_code ftls_leaf_cache_get_stats(ftls_leaf_cache *c,
                                    ftls_leaf_cache_stats *st)
{
    if (c == NULL || st == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    ftls__lock(&c->lock);
    *st = c->st;
    st->size = c->size;
    ftls__unlock(&c->lock);
    return FTLS_OK;
}

/* ---- the resolver ---------------------------------------------------------- */

struct resolver {
    ftls_leaf_cache *cache;
    ftls_audit_fn audit;
    void *ud;
};

static int g_idx = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void resolver_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                          long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    ftls__free(ptr);
}

static void init_once(void)
{
    g_idx = SSL_CTX_get_ex_new_index(0, "freshtls resolver", NULL, NULL,
                                     resolver_free);
}

/* First host_name of a server_name extension; 0 when absent or malformed. */
static int sni_name(const unsigned char *p, size_t len, char *out, size_t n)
{
    if (len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return 0;
    p += 2, len -= 2;
    while (len >= 3) {
        size_t l = (size_t)((p[1] << 8) | p[2]);
        if (l > len - 3)
            return 0;
        if (p[0] == TLSEXT_NAMETYPE_host_name) {
            if (l == 0 || l >= n || memchr(p + 3, '\0', l) != NULL)
                return 0;
            memcpy(out, p + 3, l);
            out[l] = '\0';
            return 1;
        }
        p += 3 + l, len -= 3 + l;
    }
    return 0;
}

static int refuse(const struct resolver *r, const char *name, ftls_code why,
                  const char *msg, int *al, int alert)
{
    if (r->audit != NULL) {
        /* The name is the client's bytes: escape them for the record. */
        char safe[4 * 512 + 1]; /* every byte of a 511-byte name escaped */
        size_t n = strnlen(name, 511);
        memcpy(safe, name, n);
        safe[n] = '\0';
        ftls__escape(safe, sizeof(safe));
        r->audit(safe, why, msg, r->ud);
    }
    *al = alert;
    return SSL_CLIENT_HELLO_ERROR;
}

static int hello_cb(SSL *s, int *al, void *arg)
{
    const struct resolver *r = arg;
    const unsigned char *ext = NULL;
    size_t len = 0;
    char name[512];
    if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) ||
        !sni_name(ext, len, name, sizeof(name)))
        return refuse(r, "", FTLS_E_NAME_REJECTED,
                      "no SNI host name in the "
                      "ClientHello",
                      al, SSL_AD_UNRECOGNIZED_NAME);
    ftls_error *err = NULL;
    ftls_leaf *leaf = NULL;
    ftls_code rc = ftls_error_new(&err);
    if (rc == FTLS_OK)
        rc = ftls_leaf_cache_get1(r->cache, name, &leaf, err);
    if (rc != FTLS_OK) {
        int ret = refuse(r, name, rc,
                         err ? ftls_error_message(err) : "out of memory", al,
                         rc == FTLS_E_NAME_REJECTED ? SSL_AD_UNRECOGNIZED_NAME
                                                    : SSL_AD_INTERNAL_ERROR);
        ftls_error_free(err);
        return ret;
    }
    ftls_error_free(err);
    ftls__leaf_warm(leaf);
    int ok =
        SSL_use_cert_and_key(s, leaf->cert, leaf->key, leaf->chain, 1) == 1;
    ftls_leaf_free(leaf);
    if (!ok)
        return refuse(r, name, FTLS_E_OPENSSL, "cannot install the minted leaf",
                      al, SSL_AD_INTERNAL_ERROR);
    return SSL_CLIENT_HELLO_SUCCESS;
}

ftls_code ftls_leaf_cache_attach(SSL_CTX *ctx, ftls_leaf_cache *c,
                                 ftls_audit_fn audit, void *ud, ftls_error *err)
{
    FTLS_GUARD_ARG(ctx != NULL && c != NULL, err, "ctx or cache is NULL");
    pthread_once(&g_once, init_once);
    if (g_idx < 0)
        return ftls__err(err, FTLS_E_NOMEM, "resolver: out of memory");
    if (SSL_CTX_get_ex_data(ctx, g_idx) != NULL)
        return ftls__err(err, FTLS_E_STATE, "resolver: already attached");
    struct resolver *r = ftls__calloc(1, sizeof(*r));
    if (r == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "resolver: out of memory");
    r->cache = c;
    r->audit = audit;
    r->ud = ud;
    if (!SSL_CTX_set_ex_data(ctx, g_idx, r)) {
        ftls__free(r);
        return ftls__err(err, FTLS_E_OPENSSL, "resolver: cannot attach");
    }
    SSL_CTX_set_client_hello_cb(ctx, hello_cb, r);
    return FTLS_OK;
}
