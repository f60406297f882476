/* mTLS: rotating the client-CA set takes effect without a restart.
 * Rotation during continuous handshakes (factory and attach mode), meant
 * for TSan: no handshake fails, old contexts are freed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static char *g_dir;
static EVP_PKEY *kCA, *kCA2;
static X509 *CA, *CA2;

struct material {
    char *crt, *key;
    size_t ncrt, nkey;
    int purpose; /* FTLS_IDENTITY_CLIENT for clientAuth leaves */
};

static void make(const char *cn, const char *eku, X509 *iss, EVP_PKEY *ik,
                 struct material *m)
{
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {
        .cn = cn, .dns = cn, .eku = eku, .not_before_offset = -3600};
    X509 *x = tu_cert(&o, k, iss, ik);
    REQUIRE(x != NULL);
    m->crt = tu_pem_certs(&x, 1, &m->ncrt);
    m->key = tu_pem_key(k, &m->nkey);
    m->purpose = eku && strcmp(eku, "clientAuth") == 0 ? FTLS_IDENTITY_CLIENT
                                                       : FTLS_IDENTITY_SERVER;
    X509_free(x);
    EVP_PKEY_free(k);
}

static ftls_source *mem_source(const struct material *m)
{
    ftls_source *s = NULL;
    ftls_identity_options o = {.purpose = m->purpose};
    REQUIRE(ftls_source_new_identity_memory(&o, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_set_memory(s, m->crt, m->ncrt, m->key, m->nkey, NULL) ==
            FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    return s;
}

static int mtls(SSL_CTX *server, ftls_source *client_id, ftls_source *roots,
                char *ca_names, size_t n)
{
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    ftls_attach_identity id = {NULL, client_id};
    ftls_attach_config cfg = {
        .identities = &id, .n_identities = 1, .roots = roots};
    REQUIRE(ftls_ctx_attach(cc, &cfg, NULL) == FTLS_OK);
    SSL *c = SSL_new(cc), *s = SSL_new(server);
    SSL_set_tlsext_host_name(c, "server.example");
    int rc = tu_handshake(c, s);
    if (rc == 1) { /* TLS 1.3: the server judges the client after Finished */
        char b;
        if (SSL_read(s, &b, 1) <= 0 &&
            SSL_get_error(s, -1) != SSL_ERROR_WANT_READ)
            rc = -2;
        if (SSL_get_verify_result(s) != X509_V_OK)
            rc = -2;
    }
    ca_names[0] = '\0';
    const STACK_OF(X509_NAME) *names = SSL_get0_peer_CA_list(c);
    for (int i = 0; names && i < sk_X509_NAME_num(names); i++)
        X509_NAME_oneline(sk_X509_NAME_value(names, i), ca_names, (int)n);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cc);
    return rc;
}

static void test_client_ca_rotation(void)
{
    struct material srv, c1, c2;
    make("server.example", "serverAuth", CA, kCA, &srv);
    make("client-one", "clientAuth", CA, kCA, &c1);
    make("client-two", "clientAuth", CA2, kCA2, &c2);
    ftls_source *sid = mem_source(&srv), *cid1 = mem_source(&c1),
                *cid2 = mem_source(&c2);
    char roots_path[4200], cas_path[4200];
    snprintf(roots_path, sizeof(roots_path), "%s/server-roots.pem", g_dir);
    snprintf(cas_path, sizeof(cas_path), "%s/client-cas.pem", g_dir);
    REQUIRE(tu_write_certs(roots_path, "w", &CA, 1));
    REQUIRE(tu_write_certs(cas_path, "w", &CA, 1));
    ftls_source *roots = NULL, *cas = NULL;
    REQUIRE(ftls_source_new_trust(roots_path, NULL, &roots, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(roots, NULL) == FTLS_OK);
    REQUIRE(ftls_source_new_trust(cas_path, NULL, &cas, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(cas, NULL) == FTLS_OK);

    /* Attach mode on an application server context... */
    SSL_CTX *app = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_verify(app, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    ftls_attach_identity id = {NULL, sid};
    ftls_attach_config cfg = {
        .identities = &id, .n_identities = 1, .client_cas = cas};
    REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
    /* ...and a factory server, both fed by the same client-CA source. */
    ftls_ctx_template t = {.is_server = 1};
    ftls_ctx_factory *f = NULL;
    REQUIRE(ftls_ctx_factory_new(&t, &f, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_identity(f, sid, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_client_cas(f, cas, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(f, NULL) == FTLS_OK);

    char names[256];
    for (int round = 0; round < 2; round++) {
        SSL_CTX *server = round == 0 ? app : ftls_ctx_factory_get1_ctx(f);
        REQUIRE(tu_write_certs(cas_path, "w", &CA, 1));
        REQUIRE(ftls_source_reload(cas, NULL) == FTLS_OK);
        if (round == 1) {
            SSL_CTX_free(server);
            server = ftls_ctx_factory_get1_ctx(f);
        }
        CHECK_EQ_INT(mtls(server, cid1, roots, names, sizeof(names)), 1);
        CHECK_STR_CONTAINS(names, "CN=Client CA One");
        CHECK(mtls(server, cid2, roots, names, sizeof(names)) != 1);
        /* Rotate: only the second CA now, no restart. */
        REQUIRE(tu_write_certs(cas_path, "w", &CA2, 1));
        REQUIRE(ftls_source_reload(cas, NULL) == FTLS_OK);
        if (round == 1) {
            SSL_CTX_free(server);
            server = ftls_ctx_factory_get1_ctx(f);
        }
        CHECK(mtls(server, cid1, roots, names, sizeof(names)) != 1);
        CHECK_EQ_INT(mtls(server, cid2, roots, names, sizeof(names)), 1);
        CHECK_STR_CONTAINS(names, "CN=Client CA Two");
        if (round == 1)
            SSL_CTX_free(server);
    }
    SSL_CTX_free(app);
    ftls_ctx_factory_free(f);
    ftls_source *all[] = {sid, cid1, cid2, roots, cas};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        ftls_source_free(all[i]);
    struct material *ms[] = {&srv, &c1, &c2};
    for (int i = 0; i < 3; i++) {
        free(ms[i]->crt);
        free(ms[i]->key);
    }
}

/* ---- rotation during handshakes ----------------------------------------- */

#define ROTATIONS 150
#define HS_THREADS 2
static struct material g_m[2];
static ftls_source *g_id;
static ftls_ctx_factory *g_f;
static SSL_CTX *g_attached, *g_client;
static atomic_int g_stop, g_failures, g_handshakes;

static void *handshaker(void *arg)
{
    int use_factory = (int)(intptr_t)arg;
    while (!atomic_load(&g_stop)) {
        SSL_CTX *sc = use_factory ? ftls_ctx_factory_get1_ctx(g_f) : g_attached;
        SSL *s = SSL_new(sc), *c = tu_client_ssl(g_client, "rot.example");
        if (use_factory)
            SSL_CTX_free(sc);
        if (tu_handshake(c, s) != 1)
            atomic_fetch_add(&g_failures, 1);
        atomic_fetch_add(&g_handshakes, 1);
        SSL_free(c);
        SSL_free(s);
    }
    return NULL;
}

static void test_rotation_during_handshakes(void)
{
    make("rot.example", "serverAuth", CA, kCA, &g_m[0]);
    make("rot.example", "serverAuth", CA, kCA, &g_m[1]);
    g_id = mem_source(&g_m[0]);
    ftls_ctx_template t = {.is_server = 1};
    REQUIRE(ftls_ctx_factory_new(&t, &g_f, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_set_identity(g_f, g_id, NULL) == FTLS_OK);
    REQUIRE(ftls_ctx_factory_build(g_f, NULL) == FTLS_OK);
    g_attached = SSL_CTX_new(TLS_server_method());
    ftls_attach_identity id = {NULL, g_id};
    ftls_attach_config cfg = {.identities = &id, .n_identities = 1};
    REQUIRE(ftls_ctx_attach(g_attached, &cfg, NULL) == FTLS_OK);
    g_client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_client, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(g_client), CA);
    pthread_t th[HS_THREADS];
    for (intptr_t i = 0; i < HS_THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, handshaker,
                               (void *)(intptr_t)(i % 2 == 0)) == 0);
    for (int r = 1; r <= ROTATIONS; r++) {
        const struct material *m = &g_m[r % 2];
        REQUIRE(ftls_source_set_memory(g_id, m->crt, m->ncrt, m->key, m->nkey,
                                       NULL) == FTLS_OK);
        REQUIRE(ftls_source_reload(g_id, NULL) == FTLS_OK);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < HS_THREADS; i++)
        pthread_join(th[i], NULL);
    ftls_ctx_stats st;
    REQUIRE(ftls_ctx_factory_get_stats(g_f, &st) == FTLS_OK);
    printf("# rotations=%d handshakes=%d failures=%d built=%llu live=%llu\n",
           ROTATIONS, atomic_load(&g_handshakes), atomic_load(&g_failures),
           (unsigned long long)st.built, (unsigned long long)st.live);
    CHECK_EQ_INT(atomic_load(&g_failures), 0);
    CHECK(atomic_load(&g_handshakes) > 0);
    CHECK_EQ_INT(st.built, ROTATIONS + 1);
    CHECK_EQ_INT(st.live, 1); /* every old generation was freed */
    SSL_CTX_free(g_client);
    SSL_CTX_free(g_attached);
    ftls_ctx_factory_free(g_f);
    ftls_source_free(g_id);
    CHECK_EQ_INT(ftls_ctx_live_count(), 0);
    for (int i = 0; i < 2; i++) {
        free(g_m[i].crt);
        free(g_m[i].key);
    }
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    kCA = tu_key();
    kCA2 = tu_key();
    struct tu_cert_opts o1 = {.cn = "Client CA One", .ca = 1};
    struct tu_cert_opts o2 = {.cn = "Client CA Two", .ca = 1};
    REQUIRE((CA = tu_cert(&o1, kCA, NULL, NULL)) != NULL);
    REQUIRE((CA2 = tu_cert(&o2, kCA2, NULL, NULL)) != NULL);
    RUN(test_client_ca_rotation);
    RUN(test_rotation_during_handshakes);
    X509_free(CA);
    X509_free(CA2);
    EVP_PKEY_free(kCA);
    EVP_PKEY_free(kCA2);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
