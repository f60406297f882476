/**
 * @file ctx.h
 * @brief Always-fresh SSL contexts.
 *
 * Two ways to use fresh material with OpenSSL:
 *
 * - **Factory.** An ::ftls_ctx_factory builds a complete SSL_CTX from a
 *   template plus identity and trust sources whenever one of them publishes
 *   a new generation (never on the handshake path), and
 *   ftls_ctx_factory_get1_ctx() hands out the newest one, refcounted. An old
 *   SSL_CTX is freed when its last holder and its last SSL are gone.
 *   Session-ticket keys stay the same across generations, so sessions
 *   resume across rotations.
 *
 * - **Attach.** ftls_ctx_attach() installs callbacks on an SSL_CTX the
 *   application already owns (and may keep forever), so that every new
 *   handshake uses the newest identity (chosen by SNI), verifies peers
 *   against the newest root CAs, and, on a server, verifies client
 *   certificates against and advertises the newest client CAs. OpenSSL's
 *   verification is otherwise untouched: host and IP checks set with
 *   SSL_set1_host()/SSL_set1_ip(), purpose and depth, the application's
 *   verify callback, SSL_get_verify_result() and the verified chain, DANE,
 *   and the distrust-after constraints of freshtls root sets. If a source
 *   has nothing published, the handshake fails; there is never an
 *   insecure fallback.
 *
 * @par Thread-safety
 * Configure a factory (ftls_ctx_factory_set_*, ftls_ctx_factory_build())
 * and attach a context before sharing them; afterwards
 * ftls_ctx_factory_get1_ctx() and every handshake on an attached context
 * are safe from any thread and lock-free, and rebuilds happen on the
 * publishing thread. ftls_ctx_factory_free() must not race with other
 * calls on the same factory.
 */
#ifndef FRESHTLS_CTX_H
#define FRESHTLS_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <freshtls/error.h>
#include <freshtls/export.h>
#include <freshtls/source.h>
#include <freshtls/roots.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Settings every context built by a factory gets. Zero means default. */
typedef struct ftls_ctx_template {
    int is_server;            /**< server (1) or client (0) method */
    int min_version;          /**< e.g. TLS1_2_VERSION; 0: TLS 1.2 */
    int max_version;          /**< 0: highest supported */
    const char *ciphers;      /**< TLS <= 1.2 cipher list, or NULL */
    const char *ciphersuites; /**< TLS 1.3 suites, or NULL */
    const char *groups;       /**< e.g. "X25519:P-256", or NULL */
    /** ALPN protocols in wire format (length-prefixed), or NULL. A server
     *  selects the first of these the client also offers. */
    const unsigned char *alpn;
    size_t alpn_len;
    /** SSL_VERIFY_* flags; 0 means SSL_VERIFY_PEER for clients and none
     *  for servers (SSL_VERIFY_PEER|SSL_VERIFY_FAIL_IF_NO_PEER_CERT when
     *  client CAs are set). */
    int verify_mode;
    int verify_depth; /**< 0: OpenSSL's default */
    /** SSL_SESS_CACHE_* for SSL_CTX_set_session_cache_mode; 0: OpenSSL's
     *  default. Stateless tickets are on unless setup disables them. */
    long session_cache_mode;
    /** Called on every new context before it is published; return 1 to
     *  accept, 0 to fail that build (the previous context stays). */
    int (*setup)(SSL_CTX *ctx, void *arg);
    void *setup_arg;
} ftls_ctx_template;

typedef struct ftls_ctx_factory ftls_ctx_factory;

/** Build statistics; see ftls_ctx_factory_get_stats(). */
typedef struct ftls_ctx_stats {
    uint64_t built;      /**< contexts published so far */
    uint64_t live;       /**< contexts built by this factory not yet freed */
    uint64_t failures;   /**< rebuilds that failed (previous context kept) */
    uint64_t generation; /**< generation of the newest context */
} ftls_ctx_stats;

/**
 * @brief Create a factory. Configure its sources, then call
 *        ftls_ctx_factory_build() once; afterwards it rebuilds by itself
 *        whenever a source publishes.
 * @param t copied (strings and ALPN included).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (t or out NULL); FTLS_E_NOMEM;
 *         FTLS_E_OPENSSL (ticket keys could not be generated).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_new(
    const ftls_ctx_template *t, ftls_ctx_factory **out, ftls_error *err);

/**
 * @brief Free the factory. Contexts handed out stay valid until their
 *        holders free them. NULL is a no-op.
 * @warning The factory's sources must outlive it.
 * @since 0.1.0
 */
FTLS_API void ftls_ctx_factory_free(ftls_ctx_factory *f);

/**
 * @brief The certificate/key to present (required for servers).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_STATE (already
 *         set); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_set_identity(
    ftls_ctx_factory *f, ftls_source *identity, ftls_error *err);
/**
 * @brief Roots to verify peers against, from a trust source.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_STATE (roots
 *         already set); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_set_roots(
    ftls_ctx_factory *f, ftls_source *trust, ftls_error *err);
/**
 * @brief Roots from the process-wide store (ftls_roots_get1_shared(@p which)),
 *        followed: every successful ftls_roots_refresh() (by hand or by
 *        the roots watcher) rebuilds the factory's context, with no
 *        ftls_ctx_factory_build() by the caller. Loads the roots now if
 *        needed (an internal ftls_source_new_system_roots() source).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_STATE (roots already
 *         set); the load's error (e.g. FTLS_E_NO_ROOTS).
 * @par Thread-safety: before the factory is shared.
 * @since 0.1.0 (follows refreshes: 0.2.0)
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_set_system_roots(
    ftls_ctx_factory *f, ftls_roots_origin which, ftls_error *err);
/**
 * @brief Server: CAs for client certificates (verified and advertised).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_STATE (already
 *         set); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_set_client_cas(
    ftls_ctx_factory *f, ftls_source *trust, ftls_error *err);

/**
 * @brief Build and publish a context from the current generations now.
 * @return FTLS_OK, or why not (then the previous context stays).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_factory_build(ftls_ctx_factory *f,
                                                         ftls_error *err);

/**
 * @brief The newest context, with a reference for the caller.
 * @return the SSL_CTX, or NULL before the first successful build.
 * @par Ownership: release with SSL_CTX_free(); SSLs made from it keep it
 *      alive on their own.
 * @par Thread-safety: lock-free; safe from any thread.
 * @since 0.1.0
 */
FTLS_API SSL_CTX *ftls_ctx_factory_get1_ctx(ftls_ctx_factory *f);

/**
 * @brief Copy build statistics.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p f or @p st is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_ctx_factory_get_stats(const ftls_ctx_factory *f, ftls_ctx_stats *st);

/* ---- attach mode ----------------------------------------------------------- */

/** One identity, chosen when the client's SNI matches. */
typedef struct ftls_attach_identity {
    /** "host.example", "*.example.com" (one label), or NULL for the
     *  default used when no name matches or no SNI was sent. */
    const char *server_name;
    ftls_source *source;
} ftls_attach_identity;

/** What ftls_ctx_attach() installs. Unset members are left alone. */
typedef struct ftls_attach_config {
    const ftls_attach_identity *identities; /**< may be NULL */
    size_t n_identities;
    ftls_source *roots; /**< trust source to verify the peer against */
    /** Or a fixed root set (e.g. from ftls_roots_get1_shared()); ignored when
     *  @c roots is set. The attachment keeps a reference. */
    ftls_roots *fixed_roots;
    ftls_source *client_cas; /**< server: verify and advertise these */
    /** Server: the application's own certificate callback, which attaching
     *  would otherwise replace (OpenSSL keeps one per SSL_CTX). Called
     *  after freshtls installed the newest identity, with @c app_cert_arg;
     *  its return value is the callback's (1 go on, 0 fail the handshake,
     *  -1 suspend), so it can still inspect or override the choice.
     *  @since 0.2.0 */
    int (*app_cert_cb)(SSL *ssl, void *arg);
    void *app_cert_arg;
} ftls_attach_config;

/**
 * @brief Make an existing SSL_CTX use the newest material on every new
 *        handshake.
 *
 * Installs, on the context:
 * - a certificate callback that serves the newest identity by SNI;
 * - a certificate verification callback (SSL_CTX_set_cert_verify_callback)
 *   that verifies every peer against the newest roots (clients) or client
 *   CAs (servers) *with the application's own verification*: the SSL's
 *   merged parameters (host, IP, email, purpose, depth, flags, DANE), its
 *   verify callback, and everything set on the context's X509_STORE (CRLs,
 *   looked up live, CRL and other flags, purpose, trust, store callbacks,
 *   lookups). A verify store the application set explicitly
 *   (SSL_set1_verify_cert_store, SSL_CTX_set1_verify_cert_store) is used
 *   as plain OpenSSL would, untouched. Before any trust is published,
 *   verification fails as with an empty store;
 * - session binding: a client resumes a session only while the roots that
 *   verified it are the newest; a server ignores the ticket of a client
 *   authenticated under other client CAs and flushes its session cache
 *   when they change;
 * - an info callback (the application's previous one is still called)
 *   for the client-CA names and the client-side session check, and on
 *   clients a ClientHello callback (custom extension type 0xfa17, never
 *   sent) that fails the handshake rather than resume a stale session
 *   when a per-SSL info callback replaced freshtls's.
 *
 * Per-SSL settings cannot bypass any of this. The attachment lives as long
 * as the SSL_CTX (freed with it) and holds references to its sources'
 * published state; the sources themselves must outlive the SSL_CTX.
 * Attaching twice is an error. Design: docs/design/ctx.md.
 *
 * @warning OpenSSL keeps one certificate callback, one certificate
 *          verification callback and one session-ticket callback per
 *          SSL_CTX: freshtls replaces any the application set (pass a
 *          certificate callback as cfg->app_cert_cb to keep it running),
 *          and setting one after attaching turns that part of freshness
 *          off. A per-SSL
 *          certificate callback (SSL_set_cert_cb) likewise replaces the
 *          identity selection for that SSL.
 * @warning A verify callback that reaches its store through
 *          X509_STORE_CTX_get0_store() sees freshtls's derived store.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_STATE (already
 *         attached); FTLS_E_NOMEM; FTLS_E_OPENSSL (e.g. extension type
 *         0xfa17 already registered). On failure the context is unchanged.
 * @par Thread-safety: call before the SSL_CTX is used by other threads.
 * @since 0.1.0 (verification, session binding: 0.2.0)
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ctx_attach(SSL_CTX *ctx,
                                                  const ftls_attach_config *cfg,
                                                  ftls_error *err);

/**
 * @brief Number of SSL_CTXs built by all factories that are still alive.
 * @return the number of SSL_CTX objects built by freshtls factories and not
 *         yet freed, process-wide.
 * @since 0.1.0
 */
FTLS_API uint64_t ftls_ctx_live_count(void);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_CTX_H */
