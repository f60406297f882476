/**
 * @file mint.h
 * @brief On-the-fly leaf certificates for TLS interception: a CA, one leaf
 *        minted per SNI host name, a bounded single-flight cache, and a
 *        resolver that fails the handshake (never a silent tunnel) when no
 *        leaf can be had.
 *
 * Leaves are built for strict verifiers: a fresh P-256 key per leaf (never
 * the CA key), a 128-bit CSPRNG serial on every mint, SAN dNSName (and a
 * CN only when the name fits in 64 characters), AKI keyid equal to the
 * CA's actual SKI, an SKI, basicConstraints CA:FALSE, keyUsage
 * digitalSignature (critical), extendedKeyUsage serverAuth, and a validity
 * backdated a few minutes for clock skew.
 *
 * @par Thread-safety
 * CAs and leaves are immutable and refcounted: use them from any thread.
 * ftls_leaf_mint() and ftls_leaf_cache_get1() are safe from any thread
 * (the cache mints each name once however many threads ask). Free an
 * object only after the last thread using it is done with it.
 */
#ifndef FRESHTLS_MINT_H
#define FRESHTLS_MINT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <freshtls/error.h>
#include <freshtls/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A signing CA (certificate and private key); immutable, refcounted. */
typedef struct ftls_ca ftls_ca;
/** A minted leaf: certificate, its private key and the chain; refcounted. */
typedef struct ftls_leaf ftls_leaf;
/** A bounded, expiry-aware, single-flight cache of leaves by host name. */
typedef struct ftls_leaf_cache ftls_leaf_cache;

typedef struct ftls_ca_options {
    const char *common_name; /**< NULL: "freshtls interception CA" */
    int64_t validity;        /**< seconds; 0: 365 days */
} ftls_ca_options;

/**
 * @brief Generate an ephemeral CA: P-256, self-signed, basicConstraints
 *        critical CA:TRUE pathlen:0, keyUsage critical keyCertSign and
 *        cRLSign, an SKI, a random 128-bit serial.
 * @param opts may be NULL.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (out NULL or options out of
 *         range); FTLS_E_NOMEM; FTLS_E_OPENSSL (key or certificate generation
 *         failed).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_generate(const ftls_ca_options *opts,
                                                   ftls_ca **out,
                                                   ftls_error *err);

/** How CA files are read and written; see ftls_ca_load_ex(). */
typedef struct ftls_ca_file_options {
    /** Passphrase of the CA key: read from this file (trailing newline
     *  dropped), or taken from this environment variable; NULL both: the
     *  key is not encrypted. The passphrase is wiped after use. */
    const char *passphrase_file;
    const char *passphrase_env;
    /** 1: skip the ownership and mode checks (not recommended). */
    int insecure_permissions;
} ftls_ca_file_options;

/**
 * @brief Load a CA from PEM files, with the checks a signing key needs.
 *
 * Never prompts: an encrypted key needs opts->passphrase_file or
 * opts->passphrase_env, and fails with a message saying so otherwise.
 * Unless opts->insecure_permissions: the key file (symlinks resolved) must
 * be owned by the effective user with no group or other permission bits,
 * in a directory owned by that user or root and writable by nobody else;
 * the failing check is named. The certificate must be CA:TRUE, allow
 * keyCertSign, carry an SKI, be valid now, and match the key.
 * @param opts may be NULL: unencrypted key, permission checks on.
 * @param[out] out set to NULL on entry; free with ftls_ca_free().
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_PERMISSION (unsafe
 *         owner or mode, named); FTLS_E_NOT_FOUND, FTLS_E_IO,
 *         FTLS_E_TOO_LARGE (reading a file); FTLS_E_PARSE (not a certificate
 *         or key, an encrypted key without a passphrase, a wrong
 *         passphrase); FTLS_E_KEY_MISMATCH (the key is not the
 *         certificate's); FTLS_E_KEY_POLICY (not a usable CA: no CA:TRUE,
 *         keyCertSign or SKI); FTLS_E_EXPIRED / FTLS_E_NOT_YET_VALID (the CA
 *         is outside its validity).
 * @par Thread-safety: safe from any thread.
 * @since 0.2.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_load_ex(
    const char *cert_path, const char *key_path,
    const ftls_ca_file_options *opts, ftls_ca **out, ftls_error *err);

/**
 * @brief ftls_ca_load_ex() with default options (unencrypted key,
 *        permission checks on).
 * @return as ftls_ca_load_ex().
 * @since 0.1.0 (permission and validity checks since 0.2.0)
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_load(const char *cert_path,
                                               const char *key_path,
                                               ftls_ca **out, ftls_error *err);

/**
 * @brief Write the certificate (mode 0644) and key (0600) atomically.
 *        Existing files are never overwritten (FTLS_E_EXISTS).
 *
 * Unless opts->insecure_permissions, each target directory must be owned
 * by the effective user or root and writable by nobody else (whoever can
 * write there could swap the CA). With a passphrase in @p opts the key is
 * written as encrypted PKCS#8 (AES-256-CBC).
 * @param opts may be NULL.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_PERMISSION (an unsafe
 *         directory, named; or writing); FTLS_E_EXISTS (a file is already
 *         there); FTLS_E_IO (writing); FTLS_E_NOMEM; FTLS_E_NOT_FOUND (a
 *         missing directory or passphrase variable); FTLS_E_OPENSSL
 *         (encoding). On failure neither file is left half-written.
 * @par Thread-safety: safe from any thread.
 * @since 0.2.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_export_ex(
    const ftls_ca *ca, const char *cert_path, const char *key_path,
    const ftls_ca_file_options *opts, ftls_error *err);

/**
 * @brief ftls_ca_export_ex() with default options.
 * @return as ftls_ca_export_ex().
 * @since 0.1.0 (directory checks since 0.2.0)
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_export(const ftls_ca *ca,
                                                 const char *cert_path,
                                                 const char *key_path,
                                                 ftls_error *err);

/** @brief Drop a reference; the key is wiped with the last. @since 0.1.0 */
FTLS_API void ftls_ca_free(ftls_ca *ca);
/**
 * @brief Take a reference.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p ca is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_up_ref(ftls_ca *ca);
/**
 * @brief The CA certificate.
 * @warning Borrowed: valid while @p ca is held. Do not modify.
 * @return the CA certificate (borrowed: valid while @p ca is held), or NULL
 *         for NULL.
 * @since 0.1.0
 */
FTLS_API X509 *ftls_ca_get0_cert(const ftls_ca *ca);

/**
 * @brief Keep up to @p n leaf keys ready: a background thread generates
 *        fresh P-256 keys ahead of time, so a mint with this CA takes one
 *        instead of generating a key while the client waits.
 *
 * Each prepared key is used for exactly one leaf; when none is ready the
 * mint generates its key inline, exactly as without this call. The
 * thread blocks every signal and sleeps while the pool is full; the last
 * ftls_ca_free() stops it (waiting for the key it may be generating, a
 * few microseconds) and wipes the unused keys. After fork() the child never
 * uses a key prepared before the fork (its parent may use the same one):
 * mints there generate inline; a fork waits for a key being generated.
 * @param n 1..1024 keys.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL, or @p n out of range);
 *         FTLS_E_STATE (already enabled on this CA); FTLS_E_NOMEM;
 *         FTLS_E_INTERNAL (the thread could not start).
 * @par Thread-safety: safe from any thread; the first call wins.
 * @since 0.2.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_ca_prepare_keys(ftls_ca *ca, size_t n,
                                                       ftls_error *err);

typedef struct ftls_mint_options {
    int64_t lifetime; /**< seconds; 0: 3600; capped at 180 days and at the
                           CA's notAfter (a leaf never outlives its CA) */
    int64_t backdate; /**< seconds before now; 0: 300 */
    int allow_ip;     /**< 1: mint an IP SAN for IP-literal targets */
} ftls_mint_options;

/**
 * @brief Normalize and check a host name: lowercase; a trailing root dot
 *        is kept (the leaf then names both forms). Rejects the empty name,
 *        IP literals (unless @p allow_ip; then *is_ip is set and @p out
 *        holds the canonical address), names over 253 characters (the dot
 *        included), empty labels or labels over 63, hyphens at either end
 *        of a label, characters outside [a-z0-9.-], wildcards, and a
 *        numeric last label. An IP literal is IPv6 (bracketed or not) or
 *        any form inet_aton() reads as IPv4: 127.1, 2130706433, 0x7f.1,
 *        010.0.0.1 (octal: 8.0.0.1), 1.2.3.
 * @param out at least 254 bytes.
 * @return FTLS_OK or FTLS_E_NAME_REJECTED with the reason.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_leaf_normalize_name(const char *in, int allow_ip, char *out,
                         size_t out_len, int *is_ip, ftls_error *err);

/**
 * @brief Mint one leaf for @p host now (no cache).
 * @param now Unix time the validity is based on; 0 for the current time.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL arguments or options out of
 *         range); FTLS_E_NAME_REJECTED (a name ftls_leaf_normalize_name()
 *         refuses); FTLS_E_NOMEM; FTLS_E_OPENSSL (key generation or signing
 *         failed); FTLS_E_EXPIRED (the CA has expired).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_leaf_mint(ftls_ca *ca, const char *host,
                                                 const ftls_mint_options *opts,
                                                 int64_t now, ftls_leaf **out,
                                                 ftls_error *err);

/** @brief Drop a reference; the key is wiped with the last. @since 0.1.0 */
FTLS_API void ftls_leaf_free(ftls_leaf *leaf);
/**
 * @brief Take a reference.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p leaf is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_leaf_up_ref(ftls_leaf *leaf);
/**
 * @warning Borrowed: valid while @p leaf is held.
 * @return the leaf certificate (borrowed: valid while @p leaf is held), or
 *         NULL for NULL.
 * @since 0.1.0
 */
FTLS_API X509 *ftls_leaf_get0_cert(const ftls_leaf *leaf);
/**
 * @warning Borrowed: valid while @p leaf is held.
 * @return the leaf's private key (borrowed: valid while @p leaf is held), or
 *         NULL for NULL.
 * @since 0.1.0
 */
FTLS_API EVP_PKEY *ftls_leaf_get0_key(const ftls_leaf *leaf);
/** @brief The chain to send after the leaf (the CA). @warning Borrowed. @since 0.1.0 */
FTLS_API STACK_OF(X509) *ftls_leaf_get0_chain(const ftls_leaf *leaf);
/**
 * @brief notAfter as Unix time.
 * @return the leaf's notAfter as Unix time, or 0 for NULL.
 * @since 0.1.0
 */
FTLS_API int64_t ftls_leaf_not_after(const ftls_leaf *leaf);

typedef struct ftls_leaf_cache_options {
    size_t capacity;        /**< most leaves kept; 0: 10000 */
    double remint_fraction; /**< re-mint after this share of the lifetime;
                                 0: 0.5 */
    ftls_mint_options mint;
    /** Clock for tests: returns Unix time. NULL: the real clock. */
    int64_t (*now)(void *arg);
    void *now_arg;
} ftls_leaf_cache_options;

typedef struct ftls_leaf_cache_stats {
    uint64_t hits, misses, mints, evictions, failures;
    size_t size; /**< leaves currently cached */
} ftls_leaf_cache_stats;

/**
 * @brief Create a cache minting with @p ca (a reference is kept).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL or options out of range);
 *         FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_leaf_cache_new(ftls_ca *ca, const ftls_leaf_cache_options *opts,
                    ftls_leaf_cache **out, ftls_error *err);

/**
 * @brief The leaf for @p host: cached, or minted once however many
 *        callers ask for a new name at the same time (they all receive the
 *        same leaf). A leaf older than remint_fraction of its lifetime is
 *        replaced. The least recently used leaf is evicted at capacity.
 * @return FTLS_OK, FTLS_E_NAME_REJECTED, or the mint's error.
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_leaf_cache_get1(ftls_leaf_cache *c,
                                                       const char *host,
                                                       ftls_leaf **out,
                                                       ftls_error *err);

/**
 * @brief Copy the counters.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when an argument is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_leaf_cache_get_stats(ftls_leaf_cache *c, ftls_leaf_cache_stats *st);

/** @brief Free the cache. Leaves held elsewhere stay valid. @since 0.1.0 */
FTLS_API void ftls_leaf_cache_free(ftls_leaf_cache *c);

/**
 * @brief Audit callback: a handshake was refused. @p name is the SNI
 *        ("" when absent) with every non-printable byte escaped as \xNN,
 *        so it is safe to write to a log or a terminal as it is;
 *        @p message says why (escaped the same way).
 */
typedef void (*ftls_audit_fn)(const char *name, ftls_code reason,
                              const char *message, void *userdata);

/**
 * @brief Make a server SSL_CTX present a leaf minted for each client's SNI.
 *
 * Installs a ClientHello callback. A missing SNI, a rejected name, or a
 * mint failure fails the handshake with an unrecognized_name (or
 * internal_error) alert and calls @p audit. There is no default
 * certificate and no fallback. The cache must outlive the SSL_CTX.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_STATE (the context already
 *         has a resolver); FTLS_E_NOMEM; FTLS_E_OPENSSL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_leaf_cache_attach(SSL_CTX *ctx,
                                                         ftls_leaf_cache *c,
                                                         ftls_audit_fn audit,
                                                         void *userdata,
                                                         ftls_error *err);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_MINT_H */
