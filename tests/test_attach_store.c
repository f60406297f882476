/*
 * Attach never weakens what the application configured on its own store
 * or on an SSL: for each setting, the verdict and error of an attached
 * context (anchors from a freshtls trust source) equal those of plain
 * OpenSSL with the same anchors in the store, on the client side and on a
 * server verifying client certificates.
 */
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

static char *g_dir;
static EVP_PKEY *kA, *kB, *kI, *kL;
static X509 *A, *B, *I;       /* root A, other root B, intermediate I<-A */
static X509 *srv, *cli;       /* leaves under I: serverAuth, clientAuth */
static X509_CRL *crl_leaf_A;  /* I revokes srv and cli */
static X509_CRL *crl_int_A;   /* A revokes I */
static X509_CRL *crl_empty_I; /* I revokes nothing */
static X509_CRL *crl_empty_A; /* A revokes nothing */
static ftls_source *g_trust;  /* trust source holding A */
static char g_bundle[512];

static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *ik, X509 *const *revoked,
                          int n)
{
    X509_CRL *c = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    REQUIRE(c && t);
    REQUIRE(X509_CRL_set_version(c, 1));
    REQUIRE(X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer)));
    REQUIRE(X509_gmtime_adj(t, -3600) && X509_CRL_set1_lastUpdate(c, t));
    REQUIRE(X509_gmtime_adj(t, 86400) && X509_CRL_set1_nextUpdate(c, t));
    for (int i = 0; i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        REQUIRE(r != NULL);
        REQUIRE(X509_REVOKED_set_serialNumber(
            r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked[i])));
        REQUIRE(X509_gmtime_adj(t, -600) &&
                X509_REVOKED_set_revocationDate(r, t));
        REQUIRE(X509_CRL_add0_revoked(c, r));
    }
    REQUIRE(X509_CRL_sort(c));
    REQUIRE(X509_CRL_sign(c, ik, EVP_sha256()) > 0);
    ASN1_TIME_free(t);
    return c;
}

/* ---- one comparison ------------------------------------------------------- */

struct setting {
    const char *name;
    X509_CRL *crls[2];
    unsigned long flags; /* X509_V_FLAG_* on the context's store */
    int store_purpose;   /* X509_PURPOSE_* on the context's store */
    int ctx_purpose;     /* SSL_CTX_set_purpose */
    int ssl_purpose;     /* SSL_set_purpose */
    int store_cb;        /* 1: a store verify callback that rejects all
                            * 2: one that forgives revocation */
    int ssl_cb;          /* the same, set per SSL */
    int partial_chain;   /* trust I directly (store and source) */
    const char *host;    /* SSL_set1_host (client side only) */
    int info_cb;         /* a per-SSL info callback */
    int ssl_store;       /* a per-SSL verify store with B only */
    const char *email;   /* X509_VERIFY_PARAM_set1_email on the SSL */
    int depth;           /* SSL_set_verify_depth(depth - 1); 0: leave */
    const char *ip;      /* X509_VERIFY_PARAM_set1_ip_asc on the SSL */
};

static int reject_all(int ok, X509_STORE_CTX *ctx)
{
    (void)ok, (void)ctx;
    return 0;
}

static int forgive_revoked(int ok, X509_STORE_CTX *ctx)
{
    return ok || X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_REVOKED;
}

static X509_STORE_CTX_verify_cb pick_cb(int which)
{
    return which == 1 ? reject_all : which == 2 ? forgive_revoked : NULL;
}

static void info_noop(const SSL *s, int where, int ret)
{
    (void)s, (void)where, (void)ret;
}

static void configure_ctx(SSL_CTX *c, const struct setting *s, int attached,
                          int server)
{
    X509_STORE *st = SSL_CTX_get_cert_store(c);
    if (!attached)
        REQUIRE(X509_STORE_add_cert(st, s->partial_chain ? I : A));
    for (int i = 0; i < 2; i++)
        if (s->crls[i] != NULL)
            REQUIRE(X509_STORE_add_crl(st, s->crls[i]));
    if (s->flags)
        REQUIRE(X509_STORE_set_flags(st, s->flags));
    if (s->store_purpose)
        REQUIRE(X509_STORE_set_purpose(st, s->store_purpose));
    if (s->ctx_purpose)
        REQUIRE(SSL_CTX_set_purpose(c, s->ctx_purpose));
    if (s->store_cb)
        X509_STORE_set_verify_cb(st, pick_cb(s->store_cb));
    int mode = SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(c, mode, NULL);
}

static void configure_ssl(SSL *ssl, const struct setting *s)
{
    if (s->email)
        REQUIRE(X509_VERIFY_PARAM_set1_email(SSL_get0_param(ssl), s->email, 0));
    if (s->ip)
        REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), s->ip));
    if (s->depth > 0)
        SSL_set_verify_depth(ssl, s->depth - 1);
    if (s->ssl_purpose)
        REQUIRE(SSL_set_purpose(ssl, s->ssl_purpose));
    if (s->ssl_cb)
        SSL_set_verify(ssl, SSL_get_verify_mode(ssl), pick_cb(s->ssl_cb));
    if (s->info_cb)
        SSL_set_info_callback(ssl, info_noop);
    if (s->ssl_store) {
        X509_STORE *b = X509_STORE_new();
        REQUIRE(b && X509_STORE_add_cert(b, B));
        REQUIRE(SSL_set1_verify_cert_store(ssl, b));
        X509_STORE_free(b);
    }
}

static SSL_CTX *identity_ctx(int server, X509 *leaf)
{
    SSL_CTX *c =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    STACK_OF(X509) *chain = sk_X509_new_null();
    REQUIRE(c && chain && sk_X509_push(chain, I));
    REQUIRE(SSL_CTX_use_cert_and_key(c, leaf, kL, chain, 1) == 1);
    sk_X509_free(chain);
    return c;
}

static ftls_source *partial_source(void)
{
    static ftls_source *src;
    if (src == NULL) {
        char path[600];
        snprintf(path, sizeof(path), "%s/intermediate.pem", g_dir);
        REQUIRE(tu_write_certs(path, "w", &I, 1));
        REQUIRE(ftls_source_new_trust(path, NULL, &src, NULL) == FTLS_OK);
        REQUIRE(ftls_source_reload(src, NULL) == FTLS_OK);
    }
    return src;
}

/* The verifying side is the client (server == 0) or an mTLS server. */
static void verdict(const struct setting *s, int server, int attached, int *hs,
                    long *err)
{
    SSL_CTX *verifier =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    REQUIRE(verifier != NULL);
    if (server) {
        SSL_CTX_free(verifier);
        verifier = identity_ctx(1, srv);
    }
    configure_ctx(verifier, s, attached, server);
    if (s->partial_chain)
        REQUIRE(X509_STORE_set_flags(SSL_CTX_get_cert_store(verifier),
                                     X509_V_FLAG_PARTIAL_CHAIN));
    if (attached) {
        ftls_source *t = s->partial_chain ? partial_source() : g_trust;
        ftls_attach_config cfg = {.roots = server ? NULL : t,
                                  .client_cas = server ? t : NULL};
        REQUIRE(ftls_ctx_attach(verifier, &cfg, NULL) == FTLS_OK);
    }
    SSL_CTX *peer = server ? identity_ctx(0, cli) : identity_ctx(1, srv);
    SSL *v = SSL_new(verifier), *p = SSL_new(peer);
    REQUIRE(v && p);
    configure_ssl(v, s);
    SSL *client = server ? p : v, *srvssl = server ? v : p;
    SSL_set_tlsext_host_name(client, "good.example.com");
    if (!server && s->host)
        REQUIRE(tu_set_host(v, s->host));
    *hs = tu_handshake(client, srvssl);
    *err = SSL_get_verify_result(v);
    SSL_free(v);
    SSL_free(p);
    SSL_CTX_free(verifier);
    SSL_CTX_free(peer);
}

static void compare(const struct setting *s)
{
    for (int server = 0; server <= 1; server++) {
        int hp = 0, ha = 0;
        long ep = 0, ea = 0;
        verdict(s, server, 0, &hp, &ep);
        verdict(s, server, 1, &ha, &ea);
        if (hp != ha || ep != ea) {
            fprintf(stderr,
                    "%s (%s side): plain handshake %d verify %ld, "
                    "attached handshake %d verify %ld\n",
                    s->name, server ? "server" : "client", hp, ep, ha, ea);
            CHECK(0);
        }
    }
}

static void test_crl_settings(void)
{
    struct setting cases[] = {
        {.name = "no CRL checking"},
        {.name = "CRL revokes leaf",
         .crls = {crl_leaf_A, crl_empty_A},
         .flags = X509_V_FLAG_CRL_CHECK},
        {.name = "CRL_CHECK_ALL, intermediate revoked",
         .crls = {crl_empty_I, crl_int_A},
         .flags = X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL},
        {.name = "CRL_CHECK_ALL, nothing revoked",
         .crls = {crl_empty_I, crl_empty_A},
         .flags = X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL},
        {.name = "CRL_CHECK, CRL missing", .flags = X509_V_FLAG_CRL_CHECK},
        {.name = "revoked, forgiven by store callback",
         .crls = {crl_leaf_A},
         .flags = X509_V_FLAG_CRL_CHECK,
         .store_cb = 2},
        {.name = "revoked, forgiven by SSL callback",
         .crls = {crl_leaf_A},
         .flags = X509_V_FLAG_CRL_CHECK,
         .ssl_cb = 2},
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(cases); i++)
        compare(&cases[i]);
}

static void test_purpose_callback_and_flag_settings(void)
{
    struct setting cases[] = {
        {.name = "store purpose sslclient",
         .store_purpose = X509_PURPOSE_SSL_CLIENT},
        {.name = "store purpose sslserver",
         .store_purpose = X509_PURPOSE_SSL_SERVER},
        {.name = "ctx purpose sslclient",
         .ctx_purpose = X509_PURPOSE_SSL_CLIENT},
        {.name = "SSL purpose sslserver",
         .ssl_purpose = X509_PURPOSE_SSL_SERVER},
        {.name = "store callback rejects", .store_cb = 1},
        {.name = "SSL callback rejects", .ssl_cb = 1},
        {.name = "X509_STRICT", .flags = X509_V_FLAG_X509_STRICT},
        {.name = "policy check",
         .flags = X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_EXPLICIT_POLICY},
        {.name = "partial chain", .partial_chain = 1},
        {.name = "host matches", .host = "good.example.com"},
        {.name = "host mismatch", .host = "evil.example.net"},
        {.name = "per-SSL info callback", .info_cb = 1},
        {.name = "per-SSL verify store (other root)", .ssl_store = 1},
        {.name = "email mismatch", .email = "someone@example.com"},
        {.name = "IP mismatch", .ip = "192.0.2.7"},
        {.name = "depth 0 (chain too long)", .depth = 1},
        {.name = "depth 1 (enough)", .depth = 2},
        {.name = "depth 0, store callback forgives all",
         .depth = 1,
         .store_cb = 2},
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(cases); i++)
        compare(&cases[i]);
}

/* A trust source over one file that holds root A; tests rewrite it. */
static ftls_source *rotating_trust(const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", g_dir, name);
    REQUIRE(tu_write_certs(path, "w", &A, 1));
    ftls_source *t = NULL;
    REQUIRE(ftls_source_new_trust(path, NULL, &t, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(t, NULL) == FTLS_OK);
    return t;
}

/* A per-SSL info callback must not bring back removed trust. */
static void test_info_callback_keeps_freshness(void)
{
    char path[600];
    ftls_source *t = rotating_trust("rotating.pem", path, sizeof(path));
    SSL_CTX *app = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(app, SSL_VERIFY_PEER, NULL);
    REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(app), A)); /* stale */
    ftls_attach_config cfg = {.roots = t};
    REQUIRE(ftls_ctx_attach(app, &cfg, NULL) == FTLS_OK);
    SSL_CTX *sc = identity_ctx(1, srv);
    for (int round = 0; round < 2; round++) {
        if (round == 1) { /* A removed from the trusted set */
            REQUIRE(tu_write_certs(path, "w", &B, 1));
            REQUIRE(ftls_source_reload(t, NULL) == FTLS_OK);
        }
        SSL *c = SSL_new(app), *s = SSL_new(sc);
        SSL_set_info_callback(c, info_noop);
        CHECK_EQ_INT(tu_handshake(c, s), round == 0 ? 1 : -1);
        SSL_free(c);
        SSL_free(s);
    }
    SSL_CTX_free(sc);
    SSL_CTX_free(app);
    ftls_source_free(t);
}

/* ---- sessions bound to the trust that verified them ------------------------ */

struct resume_run {
    SSL_CTX *client, *server;
    SSL_SESSION *sess;
    int info_cb;    /* the client sets a per-SSL info callback */
    int serialized; /* the session is kept as DER, as libcurl >= 8.12 does */
};

/* i2d then d2i: what an application that caches sessions as bytes gets. */
static SSL_SESSION *round_trip(SSL_SESSION *in)
{
    unsigned char *der = NULL;
    int n = i2d_SSL_SESSION(in, &der);
    REQUIRE(n > 0);
    const unsigned char *p = der;
    SSL_SESSION *out = d2i_SSL_SESSION(NULL, &p, n);
    REQUIRE(out != NULL);
    OPENSSL_free(der);
    return out;
}

/* One handshake, offering r->sess if set; returns the handshake result and
 * whether the session was reused, and keeps the newest session. */
static int handshake_with_session(struct resume_run *r, int *reused)
{
    SSL *c = SSL_new(r->client), *s = SSL_new(r->server);
    REQUIRE(c && s);
    SSL_set_tlsext_host_name(c, "good.example.com");
    if (r->info_cb)
        SSL_set_info_callback(c, info_noop);
    if (r->sess != NULL)
        REQUIRE(SSL_set_session(c, r->sess));
    int hs = tu_handshake(c, s);
    *reused = hs == 1 && SSL_session_reused(c);
    if (hs == 1) {
        SSL_SESSION_free(r->sess);
        r->sess = SSL_get1_session(c);
        if (r->serialized) {
            SSL_SESSION *copy = round_trip(r->sess);
            SSL_SESSION_free(r->sess);
            r->sess = copy;
        }
        /* A clean close keeps the sessions resumable. */
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(c);
    SSL_free(s);
    return hs;
}

enum { RESUME_INFO_CB = 1, RESUME_SERIALIZED = 2 };

static void resume_case(int server_side, int max_version, int flags)
{
    char path[600];
    ftls_source *t = rotating_trust(server_side ? "cas.pem" : "roots.pem", path,
                                    sizeof(path));
    struct resume_run r = {.info_cb = flags & RESUME_INFO_CB,
                           .serialized = flags & RESUME_SERIALIZED};
    r.server = identity_ctx(1, srv);
    r.client =
        server_side ? identity_ctx(0, cli) : SSL_CTX_new(TLS_client_method());
    REQUIRE(r.client != NULL);
    SSL_CTX_set_max_proto_version(r.client, max_version);
    SSL_CTX_set_verify(r.client, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_id_context(r.server, (const unsigned char *)"t", 1);
    if (server_side) {
        REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(r.client), A));
        SSL_CTX_set_verify(
            r.server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        ftls_attach_config cfg = {.client_cas = t};
        REQUIRE(ftls_ctx_attach(r.server, &cfg, NULL) == FTLS_OK);
    } else {
        ftls_attach_config cfg = {.roots = t};
        REQUIRE(ftls_ctx_attach(r.client, &cfg, NULL) == FTLS_OK);
    }
    int reused = 0;
    CHECK_EQ_INT(handshake_with_session(&r, &reused), 1);
    CHECK_EQ_INT(handshake_with_session(&r, &reused), 1);
    CHECK_EQ_INT(reused, 1); /* unchanged trust: resumption works */
    REQUIRE(tu_write_certs(path, "w", &B, 1)); /* A is no longer trusted */
    REQUIRE(ftls_source_reload(t, NULL) == FTLS_OK);
    CHECK_EQ_INT(handshake_with_session(&r, &reused), server_side ? -2 : -1);
    CHECK_EQ_INT(reused, 0);
    SSL_SESSION_free(r.sess);
    SSL_CTX_free(r.client);
    SSL_CTX_free(r.server);
    ftls_source_free(t);
}

static void test_client_resumption_follows_roots(void)
{
    resume_case(0, TLS1_3_VERSION, 0);
    resume_case(0, TLS1_2_VERSION, 0);
    /* A per-SSL info callback cannot bring a stale session back. */
    resume_case(0, TLS1_3_VERSION, RESUME_INFO_CB);
    resume_case(0, TLS1_2_VERSION, RESUME_INFO_CB);
    /* Sessions cached as bytes lose ex_data; they still resume under the
     * trust that verified them, and only under it. */
    resume_case(0, TLS1_3_VERSION, RESUME_SERIALIZED);
    resume_case(0, TLS1_2_VERSION, RESUME_SERIALIZED);
    resume_case(0, TLS1_3_VERSION, RESUME_SERIALIZED | RESUME_INFO_CB);
}

static void test_server_resumption_follows_client_cas(void)
{
    resume_case(1, TLS1_3_VERSION, 0);
    resume_case(1, TLS1_2_VERSION, 0);
}

/* A client attached to trust from `path`, with a fresh trust source. */
static SSL_CTX *attached_client(const char *path, ftls_source **t)
{
    REQUIRE(ftls_source_new_trust(path, NULL, t, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(*t, NULL) == FTLS_OK);
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    REQUIRE(c != NULL);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    ftls_attach_config cfg = {.roots = *t};
    REQUIRE(ftls_ctx_attach(c, &cfg, NULL) == FTLS_OK);
    return c;
}

/* A fork child's trust generations are not its parent's, even when their
 * counters agree: a session the child verified under A and cached as bytes
 * is not resumed by the parent, whose newest trust (B) would refuse it. */
static void test_serialized_session_from_fork_child_not_resumed(void)
{
    char pa[600], pb[600];
    snprintf(pa, sizeof(pa), "%s/fork-a.pem", g_dir);
    snprintf(pb, sizeof(pb), "%s/fork-b.pem", g_dir);
    REQUIRE(tu_write_certs(pa, "w", &A, 1) && tu_write_certs(pb, "w", &B, 1));
    /* One server for both, as nginx's workers share their ticket keys. */
    struct resume_run r = {.server = identity_ctx(1, srv), .serialized = 1};
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    ftls_source *t = NULL;
    int reused = 0;
    if (pid == 0) { /* the child: one full handshake under A, session out */
        r.client = attached_client(pa, &t);
        unsigned char *der = NULL;
        int n = handshake_with_session(&r, &reused) == 1
                    ? i2d_SSL_SESSION(r.sess, &der)
                    : 0;
        _exit(n > 0 && write(fds[1], der, (size_t)n) == n ? 0 : 1);
    }
    close(fds[1]);
    unsigned char der[8192];
    ssize_t n = read(fds[0], der, sizeof(der));
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
            WEXITSTATUS(status) == 0 && n > 0);
    const unsigned char *p = der;
    REQUIRE((r.sess = d2i_SSL_SESSION(NULL, &p, n)) != NULL);
    r.client = attached_client(pb, &t);
    CHECK_EQ_INT(handshake_with_session(&r, &reused), -1);
    CHECK_EQ_INT(reused, 0);
    SSL_SESSION_free(r.sess);
    SSL_CTX_free(r.client);
    SSL_CTX_free(r.server);
    ftls_source_free(t);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    kA = tu_key(), kB = tu_key(), kI = tu_key(), kL = tu_key();
    long ten = 86400L * 3650;
    struct tu_cert_opts ra = {.cn = "Store Root",
                              .ca = 1,
                              .lifetime = ten,
                              .not_before_offset = -86400L * 100};
    struct tu_cert_opts rb = {
        .cn = "Other Store Root", .ca = 1, .lifetime = ten};
    struct tu_cert_opts ri = {.cn = "Store Intermediate",
                              .ca = 1,
                              .lifetime = ten,
                              .not_before_offset = -86400L * 90};
    REQUIRE((A = tu_cert(&ra, kA, NULL, NULL)) &&
            (B = tu_cert(&rb, kB, NULL, NULL)));
    REQUIRE((I = tu_cert(&ri, kI, A, kA)) != NULL);
    srv = tu_leaf("srv", "good.example.com", NULL, "serverAuth", -86400,
                  86400 * 30, kL, I, kI);
    cli = tu_leaf("cli", "client.example.com", NULL, "clientAuth", -86400,
                  86400 * 30, kL, I, kI);
    REQUIRE(srv && cli);
    X509 *leaves[] = {srv, cli};
    crl_leaf_A = make_crl(I, kI, leaves, 2);
    crl_empty_I = make_crl(I, kI, NULL, 0);
    crl_int_A = make_crl(A, kA, &I, 1);
    crl_empty_A = make_crl(A, kA, NULL, 0);
    snprintf(g_bundle, sizeof(g_bundle), "%s/roots.pem", g_dir);
    REQUIRE(tu_write_certs(g_bundle, "w", &A, 1));
    REQUIRE(ftls_source_new_trust(g_bundle, NULL, &g_trust, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(g_trust, NULL) == FTLS_OK);
    RUN(test_crl_settings);
    RUN(test_purpose_callback_and_flag_settings);
    RUN(test_info_callback_keeps_freshness);
    RUN(test_client_resumption_follows_roots);
    RUN(test_server_resumption_follows_client_cas);
    RUN(test_serialized_session_from_fork_child_not_resumed);
    ftls_source_free(g_trust);
    ftls_source_free(partial_source());
    X509_CRL *crls[] = {crl_leaf_A, crl_empty_I, crl_int_A, crl_empty_A};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(crls); i++)
        X509_CRL_free(crls[i]);
    X509 *xs[] = {A, B, I, srv, cli};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(xs); i++)
        X509_free(xs[i]);
    EVP_PKEY *ks[] = {kA, kB, kI, kL};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(ks); i++)
        EVP_PKEY_free(ks[i]);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
