/* Internal identity representation and helpers. */
#ifndef FTLS_IDENTITY_INTERNAL_H
#define FTLS_IDENTITY_INTERNAL_H

#include <stdatomic.h>

#include <freshtls/identity.h>

#include "base/internal.h"

struct ftls_identity {
    _Atomic long refs;
    X509 *leaf;
    STACK_OF(X509) *chain; /* intermediates, leaf-first, without the leaf */
    EVP_PKEY *key;
    unsigned char sha256[32];
    int64_t not_after;
    uint64_t generation;
};

/* Parse PEM: certificates in file order (first = leaf) and exactly one
 * private key, from `cert` and optionally a separate `key` buffer. A
 * passphrase (may be NULL) decrypts encrypted keys. `*_where` name the
 * inputs in messages. */
FTLS_NODISCARD ftls_code ftls__identity_from_pem(
    const unsigned char *cert, size_t cert_len, const char *cert_where,
    const unsigned char *key, size_t key_len, const char *key_where,
    const char *pass, ftls_identity **out, ftls_error *err);
/* Parse PKCS#12 DER; the chain is put in issuance order. */
/* 1 when the OpenSSL error queue says an algorithm was unsupported (as
 * PKCS12_parse() reports RC2/3DES without the legacy provider). Consumes
 * the entries above the one it finds. */
int ftls__p12_needs_legacy(void);
/* Decrypt a legacy PKCS#12 in a private library context with the legacy
 * provider (identity_p12_legacy.c); the key and every certificate, rebuilt
 * in the default context, into *key and `certs`. FTLS_E_UNSUPPORTED when
 * the legacy provider cannot be loaded (the message says what to do). */
FTLS_NODISCARD ftls_code ftls__p12_legacy_load(const unsigned char *der,
                                               size_t len, const char *where,
                                               const char *pass, EVP_PKEY **key,
                                               STACK_OF(X509) *certs,
                                               ftls_error *err);
FTLS_NODISCARD ftls_code ftls__identity_from_pkcs12(
    const unsigned char *der, size_t len, const char *where, const char *pass,
    ftls_identity **out, ftls_error *err);
/* All checks before publishing. `now` is Unix time. */
FTLS_NODISCARD ftls_code ftls__identity_validate(const ftls_identity *id,
                                                 const ftls_identity_options *o,
                                                 int64_t now, const char *where,
                                                 ftls_error *err);
/* Fill sha256/not_after from the leaf. */
FTLS_NODISCARD ftls_code ftls__identity_finish(ftls_identity *id,
                                               ftls_error *err);
/* Default most certificates after the leaf. */
#define FTLS_MAX_CHAIN_DEFAULT 10
/* Default warn-before-expiry, seconds. */
#define FTLS_WARN_EXPIRY_DEFAULT (7 * 86400)
#define FTLS_MIN_RSA_BITS_DEFAULT 2048

#endif
