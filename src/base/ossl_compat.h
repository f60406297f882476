/*
 * Everything that differs between the OpenSSL versions freshtls supports
 * (3.0 to 4.x, with or without the deprecated API), in one place. Other
 * files test FTLS_HAVE_* or call these wrappers and never look at
 * OPENSSL_VERSION_NUMBER or OPENSSL_NO_DEPRECATED_* themselves
 * (tools/check_layers.py enforces it).
 */
#ifndef FTLS_OSSL_COMPAT_H
#define FTLS_OSSL_COMPAT_H

#include <openssl/opensslv.h>
#include <openssl/ssl.h>

/* The legacy EC_KEY API (deprecated in 3.0, still present in 4.0) is
 * available: the fastest way to give a certificate a fresh P-256 key on
 * every version measured (docs/design/mint.md). Without it (a build with
 * OPENSSL_NO_DEPRECATED or OPENSSL_API_COMPAT=30000 and no 3.0 API), the
 * provider path is used. */
#if defined(OPENSSL_NO_DEPRECATED_3_0) || defined(FTLS_NO_LEGACY_EC)
#define FTLS_HAVE_EC_KEY 0
#else
#define FTLS_HAVE_EC_KEY 1
#endif

/* Drop every cached session of a context. SSL_CTX_flush_sessions takes a
 * long (Y2038) and is deprecated in 3.4 for SSL_CTX_flush_sessions_ex. */
static inline void ftls__ctx_flush_all_sessions(SSL_CTX *ctx)
{
#if OPENSSL_VERSION_NUMBER >= 0x30400000L
    SSL_CTX_flush_sessions_ex(ctx, 0);
#else
    SSL_CTX_flush_sessions(ctx, 0);
#endif
}

#endif /* FTLS_OSSL_COMPAT_H */
