/*
 * Allocation failure on the paths that run in production: identity reload
 * (from files and from memory), trust reload, leaf minting, attach, and
 * factory build. Every allocation, freshtls's own and OpenSSL's, is failed
 * in turn: each attempt must return an error or succeed, never crash, never
 * leak (LSan under ASan), and a failed attempt leaves what was published
 * before in place.
 */
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static atomic_long g_countdown = -1; /* fail the allocation that finds 0 */
static atomic_long g_injected;

static int should_fail(void)
{
    if (atomic_load(&g_countdown) < 0)
        return 0;
    if (atomic_fetch_sub(&g_countdown, 1) != 0)
        return 0;
    atomic_fetch_add(&g_injected, 1);
    return 1;
}

static void *f_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}
static void *f_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}
static void *o_malloc(size_t n, const char *f, int l)
{
    (void)f, (void)l;
    return f_malloc(n);
}
static void *o_realloc(void *p, size_t n, const char *f, int l)
{
    (void)f, (void)l;
    return f_realloc(p, n);
}
static void o_free(void *p, const char *f, int l)
{
    (void)f, (void)l;
    free(p);
}

/*
 * Run step() with allocation n failed, for n = 0, 1, ... until a run
 * succeeds with nothing injected (every allocation of the path has been
 * failed once). After a failed run, check() must hold (the previous state
 * is still published); after any success, reset() restores the start.
 */
struct path {
    const char *name;
    ftls_code (*step)(void *);
    int (*check)(void *);
    void (*reset)(void *);
    void *arg;
};

static void inject_each(const struct path *p)
{
    long n = 0;
    for (; n < 100000; n++) {
        long before = atomic_load(&g_injected);
        atomic_store(&g_countdown, n);
        ftls_code rc = p->step(p->arg);
        atomic_store(&g_countdown, -1);
        int injected = atomic_load(&g_injected) != before;
        if (rc == FTLS_OK && !injected)
            break; /* n is past the path's last allocation */
        if (rc != FTLS_OK && !p->check(p->arg)) {
            fprintf(stderr, "%s: allocation %ld failed: previous state lost\n",
                    p->name, n);
            CHECK(0);
            return;
        }
        if (rc == FTLS_OK && p->reset != NULL)
            p->reset(p->arg);
    }
    printf("     %s: %ld allocations failed in turn\n", p->name, n);
    CHECK(n > 0 && n < 100000);
}

/* ---- material ---------------------------------------------------------------- */

static EVP_PKEY *g_cak;
static X509 *g_ca;
static char *g_cert[2], *g_key[2];
static size_t g_cert_len[2], g_key_len[2];

static void make_material(void)
{
    g_cak = tu_key();
    struct tu_cert_opts co = {.cn = "alloc CA", .ca = 1};
    g_ca = tu_cert(&co, g_cak, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *k = tu_key();
        X509 *x = tu_leaf(i ? "two.example" : "one.example",
                          i ? "two.example" : "one.example", NULL, "serverAuth",
                          -60, 86400, k, g_ca, g_cak);
        REQUIRE(k && x);
        g_cert[i] = tu_pem_certs(&x, 1, &g_cert_len[i]);
        g_key[i] = tu_pem_key(k, &g_key_len[i]);
        X509_free(x);
        EVP_PKEY_free(k);
    }
}

/* ---- identity reload from memory and from files ------------------------------ */

struct reload_ctx {
    ftls_source *src;
    uint64_t gen;
    char *dir;
};

static ftls_code reload_step(void *a)
{
    return ftls_source_reload(((struct reload_ctx *)a)->src, NULL);
}

static int reload_kept(void *a)
{
    struct reload_ctx *r = a;
    ftls_identity *id = NULL;
    int ok = ftls_source_generation(r->src) == r->gen &&
             ftls_source_get1_identity(r->src, &id, NULL) == FTLS_OK &&
             X509_check_host(ftls_identity_get0_leaf(id), "one.example", 0, 0,
                             NULL) == 1;
    ftls_identity_free(id);
    return ok;
}

static void set_mem(struct reload_ctx *r, int i)
{
    REQUIRE(ftls_source_set_memory(r->src, g_cert[i], g_cert_len[i], g_key[i],
                                   g_key_len[i], NULL) == FTLS_OK);
}

static void reload_mem_reset(void *a)
{
    struct reload_ctx *r = a;
    set_mem(r, 0);
    REQUIRE(ftls_source_reload(r->src, NULL) == FTLS_OK);
    r->gen = ftls_source_generation(r->src);
    set_mem(r, 1);
}

static void test_reload_memory_identity(void)
{
    struct reload_ctx r = {0};
    REQUIRE(ftls_source_new_identity_memory(NULL, &r.src, NULL) == FTLS_OK);
    reload_mem_reset(&r);
    struct path p = {"reload(memory)", reload_step, reload_kept,
                     reload_mem_reset, &r};
    inject_each(&p);
    ftls_source_free(r.src);
}

static void write_pair(const char *dir, int i)
{
    char c[512], k[512];
    snprintf(c, sizeof(c), "%s/tls.crt", dir);
    snprintf(k, sizeof(k), "%s/tls.key", dir);
    REQUIRE(tu_write_file(c, g_cert[i], g_cert_len[i]));
    REQUIRE(tu_write_file(k, g_key[i], g_key_len[i]));
}

static void reload_dir_reset(void *a)
{
    struct reload_ctx *r = a;
    write_pair(r->dir, 0);
    REQUIRE(ftls_source_reload(r->src, NULL) == FTLS_OK);
    r->gen = ftls_source_generation(r->src);
    write_pair(r->dir, 1);
}

static void test_reload_dir_identity(void)
{
    struct reload_ctx r = {.dir = tu_tmpdir()};
    REQUIRE(ftls_source_new_identity_dir(r.dir, NULL, &r.src, NULL) == FTLS_OK);
    reload_dir_reset(&r);
    struct path p = {"reload(dir)", reload_step, reload_kept, reload_dir_reset,
                     &r};
    inject_each(&p);
    ftls_source_free(r.src);
    tu_rmrf(r.dir);
    free(r.dir);
}

/* ---- minting through the cache ------------------------------------------------ */

static ftls_leaf_cache *g_cache;
static int g_mint_seq;

static ftls_code mint_step(void *a)
{
    (void)a;
    char name[64];
    snprintf(name, sizeof(name), "m%d.example", g_mint_seq++);
    ftls_leaf *leaf = NULL;
    ftls_code rc = ftls_leaf_cache_get1(g_cache, name, &leaf, NULL);
    ftls_leaf_free(leaf);
    return rc;
}

static int always(void *a)
{
    (void)a;
    return 1;
}

static void test_mint(void)
{
    ftls_ca *ca = NULL;
    REQUIRE(ftls_ca_generate(NULL, &ca, NULL) == FTLS_OK);
    REQUIRE(ftls_leaf_cache_new(ca, NULL, &g_cache, NULL) == FTLS_OK);
    ftls_ca_free(ca);
    REQUIRE(mint_step(NULL) == FTLS_OK); /* warm the one-time setup */
    struct path p = {"mint", mint_step, always, NULL, NULL};
    inject_each(&p);
    ftls_leaf_cache_free(g_cache);
}

/* ---- attach and factory build ------------------------------------------------- */

static ftls_source *g_id_src, *g_trust_src;

static ftls_code attach_step(void *a)
{
    (void)a;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL)
        return FTLS_E_NOMEM;
    ftls_attach_identity ids[] = {{NULL, g_id_src}};
    ftls_attach_config cfg = {.identities = ids,
                              .n_identities = 1,
                              .roots = g_trust_src,
                              .client_cas = g_trust_src};
    ftls_code rc = ftls_ctx_attach(ctx, &cfg, NULL);
    SSL_CTX_free(ctx);
    return rc;
}

static ftls_ctx_factory *g_factory;

static ftls_code build_step(void *a)
{
    (void)a;
    return ftls_ctx_factory_build(g_factory, NULL);
}

static int factory_kept(void *a)
{
    (void)a;
    SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(g_factory);
    int ok = ctx != NULL;
    SSL_CTX_free(ctx);
    return ok;
}

static void test_attach_and_build(void)
{
    REQUIRE(ftls_source_new_identity_memory(NULL, &g_id_src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(g_id_src, g_cert[0], g_cert_len[0], g_key[0],
                                   g_key_len[0], NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(g_id_src, NULL) == FTLS_OK);
    char *dir = tu_tmpdir(), bundle[600];
    REQUIRE(dir != NULL);
    snprintf(bundle, sizeof(bundle), "%s/ca.pem", dir);
    REQUIRE(tu_write_certs(bundle, "w", &g_ca, 1));
    REQUIRE(ftls_source_new_trust(bundle, NULL, &g_trust_src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(g_trust_src, NULL) == FTLS_OK);
    struct path pa = {"attach", attach_step, always, NULL, NULL};
    inject_each(&pa);

    ftls_ctx_template t = {.is_server = 1};
    REQUIRE(ftls_ctx_factory_new(&t, &g_factory, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_identity(g_factory, g_id_src, NULL) ==
            FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(g_factory, NULL) == FTLS_OK);
    struct path pb = {"factory build", build_step, factory_kept, NULL, NULL};
    inject_each(&pb);
    ftls_ctx_factory_free(g_factory);
    ftls_source_free(g_id_src);
    ftls_source_free(g_trust_src);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    /* Before OpenSSL allocates anything. */
    REQUIRE(CRYPTO_set_mem_functions(o_malloc, o_realloc, o_free) == 1);
    REQUIRE(ftls_mem_set_functions(f_malloc, f_realloc, free) == FTLS_OK);
    make_material();
    RUN(test_reload_memory_identity);
    RUN(test_reload_dir_identity);
    RUN(test_mint);
    RUN(test_attach_and_build);
    for (int i = 0; i < 2; i++)
        free(g_cert[i]), free(g_key[i]);
    X509_free(g_ca);
    EVP_PKEY_free(g_cak);
    return TEST_SUMMARY();
}
