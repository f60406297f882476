/**
 * @file identity.h
 * @brief The identity object: an immutable certificate, chain and private
 *        key, as published by a source (see source.h).
 *
 * Identities are refcounted and never change after publication; their
 * private keys are wiped by OpenSSL when the last reference goes, and the
 * raw key bytes freshtls read are wiped as soon as they are parsed.
 *
 * @par Thread-safety
 * Every function may be called from any thread on an identity the caller
 * holds a reference to; an identity is never modified after publication.
 */
#ifndef FRESHTLS_IDENTITY_H
#define FRESHTLS_IDENTITY_H

#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <freshtls/error.h>
#include <freshtls/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An immutable certificate, chain and private key. */
typedef struct ftls_identity ftls_identity;

/** @brief Drop a reference. NULL is a no-op. @since 0.1.0 */
FTLS_API void ftls_identity_free(ftls_identity *id);
/**
 * @brief Take a reference.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p id is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_identity_up_ref(ftls_identity *id);

/**
 * @brief The leaf certificate.
 * @warning Borrowed: valid while @p id is held. Do not modify.
 * @return the leaf, or NULL when @p id is NULL.
 * @since 0.1.0
 */
FTLS_API X509 *ftls_identity_get0_leaf(const ftls_identity *id);
/**
 * @brief The intermediates, leaf-first order, without the leaf; never NULL
 *        for a valid identity (may be empty).
 * @warning Borrowed: valid while @p id is held. Do not modify.
 * @since 0.1.0
 */
FTLS_API STACK_OF(X509) *ftls_identity_get0_chain(const ftls_identity *id);
/**
 * @brief The private key.
 * @warning Borrowed: valid while @p id is held. Do not modify or export.
 * @return the key, or NULL when @p id is NULL.
 * @since 0.1.0
 */
FTLS_API EVP_PKEY *ftls_identity_get0_key(const ftls_identity *id);
/**
 * @brief Generation this identity was published as.
 * @return the generation (1 for the first publish), or 0 for NULL.
 * @since 0.1.0
 */
FTLS_API uint64_t ftls_identity_generation(const ftls_identity *id);
/**
 * @brief SHA-256 of the leaf's DER into out[32].
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p id or @p out is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_identity_fingerprint(const ftls_identity *id, unsigned char out[32]);
/**
 * @brief Leaf notAfter as Unix time; 0 for NULL.
 * @return the leaf's notAfter as Unix time, or 0 for NULL.
 * @since 0.1.0
 */
FTLS_API int64_t ftls_identity_not_after(const ftls_identity *id);

/**
 * @brief Install the identity's certificate, chain and key on an SSL_CTX
 *        (SSL_CTX_use_cert_and_key with override).
 * @warning Only for a context not yet used by any connection, or for an
 *          SSL object (see ftls_identity_use_ssl()); changing a shared
 *          SSL_CTX under live connections is what freshtls exists to avoid.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_OPENSSL (OpenSSL
 *         refused the certificate, chain or key; its reason is in @p err).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_identity_use_ctx(const ftls_identity *id,
                                                        SSL_CTX *ctx,
                                                        ftls_error *err);
/**
 * @brief Same for one SSL (e.g. from a certificate callback).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_OPENSSL (OpenSSL
 *         refused the certificate, chain or key; its reason is in @p err).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_identity_use_ssl(const ftls_identity *id,
                                                        SSL *ssl,
                                                        ftls_error *err);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_IDENTITY_H */
