/* The leaf cache: single flight, expiry-aware re-mint, LRU bound, stats;
 * and the resolver failing closed with an audit record. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static ftls_ca *g_ca;

#define FLIGHT 16
static ftls_leaf_cache *g_cache;
static ftls_leaf *g_got[FLIGHT];
static pthread_barrier_t g_start;

static void *requester(void *arg)
{
    int i = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_start);
    if (ftls_leaf_cache_get1(g_cache, "flight.example", &g_got[i], NULL) !=
        FTLS_OK)
        g_got[i] = NULL;
    return NULL;
}

static void test_single_flight(void)
{
    REQUIRE(ftls_leaf_cache_new(g_ca, NULL, &g_cache, NULL) == FTLS_OK);
    pthread_barrier_init(&g_start, NULL, FLIGHT);
    pthread_t th[FLIGHT];
    for (intptr_t i = 0; i < FLIGHT; i++)
        REQUIRE(pthread_create(&th[i], NULL, requester, (void *)i) == 0);
    for (int i = 0; i < FLIGHT; i++)
        pthread_join(th[i], NULL);
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(g_cache, &st) == FTLS_OK);
    CHECK_EQ_INT(st.mints, 1);
    CHECK_EQ_INT(st.misses, 1);
    CHECK_EQ_INT(st.hits, FLIGHT - 1);
    for (int i = 0; i < FLIGHT; i++) {
        CHECK(g_got[i] != NULL && g_got[i] == g_got[0]); /* all got that leaf */
        ftls_leaf_free(g_got[i]);
    }
    pthread_barrier_destroy(&g_start);
    ftls_leaf_cache_free(g_cache);
}

static int64_t g_clock;
static int64_t fake_now(void *arg)
{
    (void)arg;
    return g_clock;
}

static void test_expiry_remint(void)
{
    g_clock = (int64_t)time(NULL);
    ftls_leaf_cache_options o = {
        .remint_fraction = 0.5, .now = fake_now, .mint = {.lifetime = 3600}};
    ftls_leaf_cache *c = NULL;
    REQUIRE(ftls_leaf_cache_new(g_ca, &o, &c, NULL) == FTLS_OK);
    ftls_leaf *a = NULL, *b = NULL, *d = NULL;
    REQUIRE(ftls_leaf_cache_get1(c, "exp.example", &a, NULL) == FTLS_OK);
    g_clock += 1799; /* just under half the lifetime: still cached */
    REQUIRE(ftls_leaf_cache_get1(c, "exp.example", &b, NULL) == FTLS_OK);
    CHECK(a == b);
    g_clock += 2; /* past half: re-minted, new serial, later notAfter */
    REQUIRE(ftls_leaf_cache_get1(c, "exp.example", &d, NULL) == FTLS_OK);
    CHECK(d != a);
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(ftls_leaf_get0_cert(a)),
                           X509_get0_serialNumber(ftls_leaf_get0_cert(d))) !=
          0);
    CHECK(ftls_leaf_not_after(d) > ftls_leaf_not_after(a));
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK_EQ_INT(st.mints, 2);
    CHECK_EQ_INT(st.hits, 1);
    CHECK_EQ_INT(st.size, 1);
    /* The replaced leaf stays valid for its holders. */
    CHECK(X509_check_private_key(ftls_leaf_get0_cert(a),
                                 ftls_leaf_get0_key(a)) == 1);
    ftls_leaf_free(a);
    ftls_leaf_free(b);
    ftls_leaf_free(d);
    ftls_leaf_cache_free(c);
}

static void test_lru_bound(void)
{
    ftls_leaf_cache_options o = {.capacity = 20};
    ftls_leaf_cache *c = NULL;
    REQUIRE(ftls_leaf_cache_new(g_ca, &o, &c, NULL) == FTLS_OK);
    char host[64];
    for (int i = 0; i < 500; i++) {
        snprintf(host, sizeof(host), "n%d.flood.example", i);
        ftls_leaf *l = NULL;
        REQUIRE(ftls_leaf_cache_get1(c, host, &l, NULL) == FTLS_OK);
        ftls_leaf_free(l);
        /* keep one name hot: it must survive the flood */
        REQUIRE(ftls_leaf_cache_get1(c, "hot.example", &l, NULL) == FTLS_OK);
        ftls_leaf_free(l);
    }
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK(st.size <= 20);
    CHECK_EQ_INT(st.evictions, 501 - 20);
    CHECK_EQ_INT(st.mints, 501); /* hot.example minted once */
    /* Rejected names count as failures and are never cached. */
    ftls_leaf *l = NULL;
    CHECK_EQ_INT(ftls_leaf_cache_get1(c, "bad_name", &l, NULL),
                 FTLS_E_NAME_REJECTED);
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK_EQ_INT(st.failures, 1);
    ftls_leaf_cache_free(c);
}

/* ---- resolver ------------------------------------------------------------ */

struct audit_rec {
    int calls;
    ftls_code last;
    char name[256], msg[512];
};

static void audit(const char *name, ftls_code why, const char *msg, void *ud)
{
    struct audit_rec *a = ud;
    a->calls++;
    a->last = why;
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->msg, sizeof(a->msg), "%s", msg);
}

static int handshake_for(SSL_CTX *server, SSL_CTX *client, const char *sni)
{
    SSL *s = SSL_new(server), *c = SSL_new(client);
    if (sni) {
        SSL_set_tlsext_host_name(c, sni);
        tu_set_host(c, sni);
    }
    int rc = tu_handshake(c, s);
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void test_resolver(void)
{
    ftls_leaf_cache *c = NULL;
    ftls_leaf_cache_options o = {.mint = {.allow_ip = 0}};
    REQUIRE(ftls_leaf_cache_new(g_ca, &o, &c, NULL) == FTLS_OK);
    SSL_CTX *server = SSL_CTX_new(TLS_server_method());
    SSL_CTX *client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client),
                        ftls_ca_get0_cert(g_ca));
    X509_STORE_set_flags(SSL_CTX_get_cert_store(client),
                         X509_V_FLAG_X509_STRICT);
    struct audit_rec a = {0};
    REQUIRE(ftls_leaf_cache_attach(server, c, audit, &a, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_leaf_cache_attach(server, c, audit, &a, NULL),
                 FTLS_E_STATE);

    CHECK_EQ_INT(handshake_for(server, client, "Shop.Example.com"), 1);
    CHECK_EQ_INT(handshake_for(server, client, "shop.example.com"), 1);
    CHECK_EQ_INT(a.calls, 0);
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK_EQ_INT(st.mints, 1); /* same normalized name */
    /* No SNI: refused, never a default certificate. */
    CHECK(handshake_for(server, client, NULL) != 1);
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(a.last, FTLS_E_NAME_REJECTED);
    CHECK_STR_CONTAINS(a.msg, "no SNI");
    /* A refused name. */
    CHECK(handshake_for(server, client, "under_score.example") != 1);
    CHECK_EQ_INT(a.calls, 2);
    CHECK(strcmp(a.name, "under_score.example") == 0);
    CHECK_STR_CONTAINS(a.msg, "'_' is not allowed");
    /* Hostile bytes in the SNI reach the audit record, and the error
     * message, escaped: no line breaks or terminal escapes. */
    CHECK(handshake_for(server, client,
                        "evil\n2026 loaded generation 9\x1b[31m") != 1);
    CHECK_EQ_INT(a.calls, 3);
    CHECK(strchr(a.name, '\n') == NULL && strchr(a.name, '\x1b') == NULL);
    CHECK_STR_CONTAINS(a.name, "evil\\x0a2026 loaded generation 9\\x1b[31m");
    CHECK(strchr(a.msg, '\n') == NULL && strchr(a.msg, '\x1b') == NULL);
    /* A mint failure (lifetime beyond the cap) also fails closed. */
    ftls_leaf_cache *broken = NULL;
    ftls_leaf_cache_options bo = {.mint = {.lifetime = 400LL * 86400}};
    REQUIRE(ftls_leaf_cache_new(g_ca, &bo, &broken, NULL) == FTLS_OK);
    SSL_CTX *bs = SSL_CTX_new(TLS_server_method());
    REQUIRE(ftls_leaf_cache_attach(bs, broken, audit, &a, NULL) == FTLS_OK);
    CHECK(handshake_for(bs, client, "fine.example") != 1);
    CHECK_EQ_INT(a.last, FTLS_E_INVALID_ARGUMENT);
    SSL_CTX_free(bs);
    ftls_leaf_cache_free(broken);
    SSL_CTX_free(server);
    SSL_CTX_free(client);
    ftls_leaf_cache_free(c);
}

/* Concurrent handshakes for a few shared names through the resolver:
 * single flight per name, and (under TSan) no race on first use. */
static SSL_CTX *g_srv, *g_cli;
static atomic_int g_next_hs, g_hs_fail;

static void *storm(void *arg)
{
    (void)arg;
    int i;
    while ((i = atomic_fetch_add(&g_next_hs, 1)) < 200) {
        char host[64];
        snprintf(host, sizeof(host), "h%d.storm.example", i % 8);
        if (handshake_for(g_srv, g_cli, host) != 1)
            atomic_fetch_add(&g_hs_fail, 1);
    }
    return NULL;
}

static void test_concurrent_resolver_storm(void)
{
    ftls_leaf_cache *c = NULL;
    REQUIRE(ftls_leaf_cache_new(g_ca, NULL, &c, NULL) == FTLS_OK);
    g_srv = SSL_CTX_new(TLS_server_method());
    g_cli = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_cli, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(g_cli), ftls_ca_get0_cert(g_ca));
    X509_STORE_set_flags(SSL_CTX_get_cert_store(g_cli),
                         X509_V_FLAG_X509_STRICT);
    REQUIRE(ftls_leaf_cache_attach(g_srv, c, NULL, NULL, NULL) == FTLS_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, storm, NULL) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ftls_leaf_cache_stats st;
    REQUIRE(ftls_leaf_cache_get_stats(c, &st) == FTLS_OK);
    CHECK_EQ_INT(atomic_load(&g_hs_fail), 0);
    CHECK_EQ_INT(st.mints, 8); /* one per name, however many raced */
    CHECK_EQ_INT(st.size, 8);
    SSL_CTX_free(g_srv);
    SSL_CTX_free(g_cli);
    ftls_leaf_cache_free(c);
}

int main(void)
{
    REQUIRE(ftls_ca_generate(NULL, &g_ca, NULL) == FTLS_OK);
    RUN(test_single_flight);
    RUN(test_expiry_remint);
    RUN(test_lru_bound);
    RUN(test_resolver);
    RUN(test_concurrent_resolver_storm);
    ftls_ca_free(g_ca);
    return TEST_SUMMARY();
}
