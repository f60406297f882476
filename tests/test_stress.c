/*
 * Concurrency stress, meant for TSan and ASan (CI repeats it under TSan):
 *  - the leaf cache at capacities 1, 2 and 64 with 4 to 200 threads asking
 *    for unique, repeated and expiring names;
 *  - a source reloaded by several threads while others read identities and
 *    check that leaf and key always belong together;
 *  - a factory rebuilt by several threads while others take contexts.
 * Every bound is a count, never a time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static ftls_ca *g_ca;

/* ---- leaf cache ------------------------------------------------------------ */

enum names { UNIQUE, REPEATED, EXPIRING };

struct cache_run {
    ftls_leaf_cache *cache;
    enum names names;
    int per_thread;
    atomic_int next_unique;
    atomic_llong clock;
    atomic_int failures, wrong_leaf;
};

static int64_t run_clock(void *arg)
{
    return atomic_load(&((struct cache_run *)arg)->clock);
}

static void *cache_worker(void *p)
{
    struct cache_run *r = p;
    char name[64];
    for (int i = 0; i < r->per_thread; i++) {
        if (r->names == UNIQUE)
            snprintf(name, sizeof(name), "u%d.example",
                     atomic_fetch_add(&r->next_unique, 1));
        else
            snprintf(name, sizeof(name), "r%d.example", i % 5);
        if (r->names == EXPIRING) /* leaves live 60 s; re-mint every 30 s */
            atomic_fetch_add(&r->clock, 7);
        ftls_leaf *leaf = NULL;
        if (ftls_leaf_cache_get1(r->cache, name, &leaf, NULL) != FTLS_OK) {
            atomic_fetch_add(&r->failures, 1);
            continue;
        }
        if (X509_check_host(ftls_leaf_get0_cert(leaf), name, 0, 0, NULL) != 1)
            atomic_fetch_add(&r->wrong_leaf, 1);
        ftls_leaf_free(leaf);
    }
    return NULL;
}

static void cache_case(size_t capacity, int threads, enum names names,
                       int per_thread)
{
    struct cache_run r = {.names = names, .per_thread = per_thread};
    atomic_store(&r.clock, 1700000000);
    ftls_leaf_cache_options o = {.capacity = capacity};
    if (names == EXPIRING) {
        o.now = run_clock;
        o.now_arg = &r;
        o.mint.lifetime = 60;
    }
    REQUIRE(ftls_leaf_cache_new(g_ca, &o, &r.cache, NULL) == FTLS_OK);
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    REQUIRE(th != NULL);
    for (int i = 0; i < threads; i++)
        REQUIRE(pthread_create(&th[i], NULL, cache_worker, &r) == 0);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    free(th);
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(r.cache, &st) == FTLS_OK);
    CHECK_EQ_INT(atomic_load(&r.failures), 0);
    CHECK_EQ_INT(atomic_load(&r.wrong_leaf), 0);
    CHECK(st.size <= capacity); /* in-flight overshoot settles back */
    CHECK_EQ_INT(st.hits + st.misses, (long long)threads * per_thread);
    if (names == UNIQUE)
        CHECK_EQ_INT(st.mints, (long long)threads * per_thread);
    ftls_leaf_cache_free(r.cache);
}

static void test_cache_capacity_1(void)
{
    cache_case(1, 4, UNIQUE, 40);
    cache_case(1, 64, UNIQUE, 4);
    cache_case(1, 8, REPEATED, 40);
    cache_case(1, 8, EXPIRING, 40);
}

static void test_cache_capacity_2(void)
{
    cache_case(2, 16, UNIQUE, 10);
    cache_case(2, 16, REPEATED, 40);
    cache_case(2, 16, EXPIRING, 20);
}

static void test_cache_capacity_64(void)
{
    cache_case(64, 200, UNIQUE, 2);
    cache_case(64, 160, REPEATED, 5);
    cache_case(64, 32, EXPIRING, 20);
}

/* ---- sources: concurrent reload and readers -------------------------------- */

struct pem_pair {
    char *cert, *key;
    size_t cert_len, key_len;
};

static void make_pair(struct pem_pair *p, const char *cn, X509 *ca,
                      EVP_PKEY *ck)
{
    EVP_PKEY *k = tu_key();
    X509 *x = tu_leaf(cn, cn, NULL, "serverAuth", -60, 86400, k, ca, ck);
    REQUIRE(k != NULL && x != NULL);
    p->cert = tu_pem_certs(&x, 1, &p->cert_len);
    p->key = tu_pem_key(k, &p->key_len);
    REQUIRE(p->cert && p->key);
    X509_free(x);
    EVP_PKEY_free(k);
}

struct source_run {
    ftls_source *src;
    struct pem_pair pairs[2];
    pthread_mutex_t set_lock; /* set_memory + reload as one step */
    atomic_int stop, reloads, mismatched, read_failures;
};

static void *reloader(void *p)
{
    struct source_run *r = p;
    for (int i = 0; i < 60; i++) {
        const struct pem_pair *pp = &r->pairs[i % 2];
        pthread_mutex_lock(&r->set_lock);
        if (ftls_source_set_memory(r->src, pp->cert, pp->cert_len, pp->key,
                                   pp->key_len, NULL) != FTLS_OK)
            atomic_fetch_add(&r->read_failures, 1);
        pthread_mutex_unlock(&r->set_lock);
        if (ftls_source_reload(r->src, NULL) == FTLS_OK)
            atomic_fetch_add(&r->reloads, 1);
    }
    return NULL;
}

static void *identity_reader(void *p)
{
    struct source_run *r = p;
    while (!atomic_load(&r->stop)) {
        ftls_identity *id = NULL;
        if (ftls_source_get1_identity(r->src, &id, NULL) != FTLS_OK) {
            atomic_fetch_add(&r->read_failures, 1);
            continue;
        }
        if (X509_check_private_key(ftls_identity_get0_leaf(id),
                                   ftls_identity_get0_key(id)) != 1)
            atomic_fetch_add(&r->mismatched, 1);
        ftls_identity_free(id);
    }
    return NULL;
}

static void test_source_reload_vs_readers(void)
{
    EVP_PKEY *ck = tu_key();
    struct tu_cert_opts co = {.cn = "stress CA", .ca = 1};
    X509 *ca = tu_cert(&co, ck, NULL, NULL);
    struct source_run r = {0};
    pthread_mutex_init(&r.set_lock, NULL);
    make_pair(&r.pairs[0], "one.example", ca, ck);
    make_pair(&r.pairs[1], "two.example", ca, ck);
    REQUIRE(ftls_source_new_identity_memory(NULL, &r.src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(r.src, r.pairs[0].cert, r.pairs[0].cert_len,
                                   r.pairs[0].key, r.pairs[0].key_len,
                                   NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(r.src, NULL) == FTLS_OK);
    pthread_t rd[3], rl[2];
    for (int i = 0; i < 3; i++)
        REQUIRE(pthread_create(&rd[i], NULL, identity_reader, &r) == 0);
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&rl[i], NULL, reloader, &r) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(rl[i], NULL);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(rd[i], NULL);
    CHECK_EQ_INT(atomic_load(&r.mismatched), 0);
    CHECK_EQ_INT(atomic_load(&r.read_failures), 0);
    CHECK_EQ_INT(atomic_load(&r.reloads), 120);
    ftls_source_free(r.src);
    for (int i = 0; i < 2; i++)
        free(r.pairs[i].cert), free(r.pairs[i].key);
    pthread_mutex_destroy(&r.set_lock);
    X509_free(ca);
    EVP_PKEY_free(ck);
}

/* ---- factory: concurrent builds and takers --------------------------------- */

struct factory_run {
    ftls_ctx_factory *f;
    atomic_int stop, build_failures, null_ctx;
};

static void *builder(void *p)
{
    struct factory_run *r = p;
    for (int i = 0; i < 50; i++)
        if (ftls_ctx_factory_build(r->f, NULL) != FTLS_OK)
            atomic_fetch_add(&r->build_failures, 1);
    return NULL;
}

static void *taker(void *p)
{
    struct factory_run *r = p;
    while (!atomic_load(&r->stop)) {
        SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(r->f);
        if (ctx == NULL) {
            atomic_fetch_add(&r->null_ctx, 1);
            continue;
        }
        SSL *s = SSL_new(ctx);
        SSL_CTX_free(ctx);
        SSL_free(s);
    }
    return NULL;
}

static void test_factory_concurrent_builds(void)
{
    EVP_PKEY *ck = tu_key();
    struct tu_cert_opts co = {.cn = "factory CA", .ca = 1};
    X509 *ca = tu_cert(&co, ck, NULL, NULL);
    struct pem_pair pp;
    make_pair(&pp, "factory.example", ca, ck);
    ftls_source *src = NULL;
    REQUIRE(ftls_source_new_identity_memory(NULL, &src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(src, pp.cert, pp.cert_len, pp.key,
                                   pp.key_len, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(src, NULL) == FTLS_OK);
    ftls_ctx_template t = {.is_server = 1};
    struct factory_run r = {0};
    REQUIRE(ftls_ctx_factory_new(&t, &r.f, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_identity(r.f, src, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(r.f, NULL) == FTLS_OK);
    pthread_t tk[2], bd[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&tk[i], NULL, taker, &r) == 0);
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&bd[i], NULL, builder, &r) == 0);
    for (int i = 0; i < 20; i++) /* and the source publishes meanwhile */
        CHECK_EQ_INT(ftls_source_reload(src, NULL), FTLS_OK);
    for (int i = 0; i < 2; i++)
        pthread_join(bd[i], NULL);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(tk[i], NULL);
    CHECK_EQ_INT(atomic_load(&r.build_failures), 0);
    CHECK_EQ_INT(atomic_load(&r.null_ctx), 0);
    ftls_ctx_factory_free(r.f);
    ftls_source_free(src);
    free(pp.cert), free(pp.key);
    X509_free(ca);
    EVP_PKEY_free(ck);
}

int main(void)
{
    REQUIRE(ftls_ca_generate(NULL, &g_ca, NULL) == FTLS_OK);
    RUN(test_cache_capacity_1);
    RUN(test_cache_capacity_2);
    RUN(test_cache_capacity_64);
    RUN(test_source_reload_vs_readers);
    RUN(test_factory_concurrent_builds);
    ftls_ca_free(g_ca);
    return TEST_SUMMARY();
}
