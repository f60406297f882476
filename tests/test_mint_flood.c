/* A flood of random subdomains keeps memory bounded: every allocation
 * OpenSSL and freshtls make is counted, and after filling the cache the
 * live bytes stop growing however many more names arrive. */
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include <freshtls/freshtls.h>
#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FLOOD 5000 /* sanitizers are ~10x slower; the bound is the same */
#else
#define FLOOD 100000
#endif
#define CAPACITY 500

static atomic_llong g_live;

static void *c_malloc(size_t n, const char *f, int l)
{
    (void)f, (void)l;
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&g_live, (long long)malloc_usable_size(p));
    return p;
}
static void *c_realloc(void *p, size_t n, const char *f, int l)
{
    (void)f, (void)l;
    long long before = p ? (long long)malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q)
        atomic_fetch_add(&g_live, (long long)malloc_usable_size(q) - before);
    return q;
}
static void c_free(void *p, const char *f, int l)
{
    (void)f, (void)l;
    if (p)
        atomic_fetch_sub(&g_live, (long long)malloc_usable_size(p));
    free(p);
}
static void *f_malloc(size_t n)
{
    return c_malloc(n, NULL, 0);
}
static void *f_realloc(void *p, size_t n)
{
    return c_realloc(p, n, NULL, 0);
}
static void f_free(void *p)
{
    c_free(p, NULL, 0);
}

static void test_flood_is_bounded(void)
{
    ftls_ca *ca = NULL;
    REQUIRE(ftls_ca_generate(NULL, &ca, NULL) == FTLS_OK);
    ftls_leaf_cache_options o = {.capacity = CAPACITY};
    ftls_leaf_cache *c = NULL;
    REQUIRE(ftls_leaf_cache_new(ca, &o, &c, NULL) == FTLS_OK);
    long long at_capacity = 0, peak = 0;
    char host[80];
    unsigned seed = 12345;
    for (int i = 0; i < FLOOD; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(host, sizeof(host), "r%08x-%d.attacker.example", seed, i);
        ftls_leaf *l = NULL;
        REQUIRE(ftls_leaf_cache_get1(c, host, &l, NULL) == FTLS_OK);
        ftls_leaf_free(l);
        long long live = atomic_load(&g_live);
        if (i == 2 * CAPACITY)
            at_capacity = live;
        if (i > 2 * CAPACITY && live > peak)
            peak = live;
    }
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    printf(
        "# flood=%d capacity=%d size=%zu evictions=%llu live-at-capacity=%lld "
        "peak-after=%lld bytes\n",
        FLOOD, CAPACITY, st.size, (unsigned long long)st.evictions, at_capacity,
        peak);
    CHECK(st.size <= CAPACITY);
    CHECK_EQ_INT(st.evictions, FLOOD - CAPACITY);
    /* Bounded: the flood does not grow memory beyond the full cache (10%
     * slack for allocator rounding and OpenSSL's internal caches). */
    CHECK(at_capacity > 0 && peak <= at_capacity + at_capacity / 10);
    ftls_leaf_cache_free(c);
    ftls_ca_free(ca);
}

int main(void)
{
    REQUIRE(CRYPTO_set_mem_functions(c_malloc, c_realloc, c_free) == 1);
    REQUIRE(ftls_mem_set_functions(f_malloc, f_realloc, f_free) == FTLS_OK);
    RUN(test_flood_is_bounded);
    return TEST_SUMMARY();
}
