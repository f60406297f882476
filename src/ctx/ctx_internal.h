/* Shared pieces of the factory and attach mode. */
#ifndef FTLS_CTX_INTERNAL_H
#define FTLS_CTX_INTERNAL_H

#include <stdatomic.h>

#include <freshtls/ctx.h>

#include "base/internal.h"

/* What one trust generation becomes for OpenSSL: a (lazy) verification
 * store and the CA names a server advertises. Immutable once built. */
struct ftls__trust_bundle {
    X509_STORE *store;
    STACK_OF(X509_NAME) *names;
    ftls_roots *roots; /* a reference, for stores derived from it */
};

FTLS_NODISCARD ftls_code ftls__trust_bundle_new(ftls_roots *roots,
                                                struct ftls__trust_bundle **out,
                                                ftls_error *err);
/* Snapshot-cell destructor. */
void ftls__trust_bundle_free(void *bundle, void *arg);

/* Attach-mode verification (ctx_verify.c): a store holding one trust
 * generation's anchors and the application store's settings, CRLs and
 * lookups. Immutable once built; a snapshot-cell payload. */
struct ftls__derived;
FTLS_NODISCARD ftls_code ftls__derived_new(ftls_roots *roots,
                                           uint64_t generation, X509_STORE *app,
                                           struct ftls__derived **out,
                                           ftls_error *err);
void ftls__derived_free(void *derived, void *arg);
uint64_t ftls__derived_generation(const struct ftls__derived *d);
uint64_t ftls__derived_trust_uid(const struct ftls__derived *d);
/* ftls__roots_uid() of the newest bundle in a cell of trust bundles; 0
 * when none is published. */
uint64_t ftls__bundle_cell_uid(ftls_cell *cell);
const X509_STORE *ftls__derived_app(const struct ftls__derived *d);
/* Verify what OpenSSL prepared in `orig` against the derived store, with
 * the same parameters, verify callback and DANE state; the outcome (error,
 * depth, chain, peer name) is copied back. X509_verify_cert's result. */
int ftls__verify_with(X509_STORE_CTX *orig, const struct ftls__derived *d,
                      SSL *ssl);
/* The same against any store (e.g. an empty one, to fail closed exactly as
 * OpenSSL does when it has no anchors). */
int ftls__verify_with_store(X509_STORE_CTX *orig, X509_STORE *store, SSL *ssl);

/* Sessions bound to the trust that verified them (ctx_session.c). A
 * "generation" here is the ftls__roots_uid() of the anchors, which is the
 * same for every context using the same published set, and never reused.
 * Tag the session being established with the one that verified the peer. */
void ftls__session_tag(SSL *ssl, uint64_t generation);
/* Client: 1 when the session about to be offered (if any) was verified
 * under `generation`; drop_stale() removes it otherwise. */
int ftls__session_offer_ok(SSL *ssl, uint64_t generation);
void ftls__session_drop_stale(SSL *ssl, uint64_t generation);
/* Body of the ClientHello custom-extension "add" callback that guards
 * clients whose per-SSL info callback replaced the drop above: 0 (add no
 * extension) unless a stale resumable session is about to be offered,
 * then -1 with *al set, failing the handshake. */
int ftls__session_guard(SSL *ssl, unsigned int context, uint64_t generation,
                        int *al);
/* Server tickets: put the verifying generation of an authenticated client
 * in the ticket; decide whether a decrypted ticket may be used under the
 * current client-CA `generation`. */
int ftls__ticket_gen(SSL *ssl,
                     void *unused); /* SSL_CTX_generate_session_ticket_fn */
SSL_TICKET_RETURN ftls__ticket_dec(SSL_SESSION *s, SSL_TICKET_STATUS status,
                                   uint64_t generation);

/* Session-ticket keys shared by every context of one factory. */
struct ftls__ticket_keys {
    unsigned char name[16], hmac[32], aes[32];
};

/* Counts the live contexts of one factory; shared by the factory and each
 * of its contexts, freed with the last of them. */
struct ftls__ctx_counter {
    _Atomic long refs;
    _Atomic uint64_t live;
};

/* Attach per-context data: ticket keys (servers), ALPN list, counters.
 * The data is freed, and the counters decremented, with the SSL_CTX. */
FTLS_NODISCARD ftls_code ftls__ctx_install(SSL_CTX *ctx, int is_server,
                                           const struct ftls__ticket_keys *keys,
                                           const unsigned char *alpn,
                                           size_t alpn_len,
                                           struct ftls__ctx_counter *counter,
                                           ftls_error *err);
/* Factory contexts: bind sessions to the root set `trust_uid` this context
 * verifies peers with (servers: client CAs), as attach mode does. After
 * ftls__ctx_install(). */
FTLS_NODISCARD ftls_code ftls__ctx_bind_sessions(SSL_CTX *ctx, int is_server,
                                                 uint64_t trust_uid,
                                                 ftls_error *err);
/* The custom ClientHello extension type of the stale-session guard
 * (never put on the wire). */
#define FTLS_SESSION_GUARD_EXT 0xfa17
struct ftls__ctx_counter *ftls__ctx_counter_new(void);
void ftls__ctx_counter_unref(struct ftls__ctx_counter *c);

#endif
