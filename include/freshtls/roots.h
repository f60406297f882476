/**
 * @file roots.h
 * @brief Trust anchors: the OS root store found and loaded once per
 *        process, refreshed by atomic swap, and an embedded Mozilla
 *        fallback bundle with server distrust-after constraints.
 *
 * An ::ftls_roots is an immutable, refcounted set of root certificates plus
 * the problems met while loading it. Roots are indexed by subject on first
 * use and parsed in full only when a chain needs them, through an
 * X509_STORE from ftls_roots_new_store(); verification results are those
 * of an eagerly loaded store, plus the distrust-after rule below.
 *
 * Distrust-after: Mozilla stops trusting some roots for server
 * certificates issued after a date. A chain that ends in such a root is
 * rejected (X509_V_ERR_CERT_REJECTED, at the depth of the offending
 * certificate) when the leaf or any intermediate has a notBefore after
 * that date. The date travels with the root in the fallback bundle, and
 * system roots byte-identical to a constrained bundle root inherit it.
 *
 * @par Thread-safety
 * Every function is safe from any thread. Root sets are immutable and
 * refcounted; the process-wide store (ftls_roots_get1_shared()) is loaded
 * once under concurrent first calls and read lock-free afterwards.
 */
#ifndef FRESHTLS_ROOTS_H
#define FRESHTLS_ROOTS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include <freshtls/error.h>
#include <freshtls/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where roots come from (the origin of a root set). */
typedef enum ftls_roots_origin {
    FTLS_ROOTS_SYSTEM = 0,   /**< the OS store (see ftls_roots_load()) */
    FTLS_ROOTS_FALLBACK = 1, /**< the embedded Mozilla bundle */
    FTLS_ROOTS_AUTO = 2,     /**< system; fallback only if it has no roots */
    FTLS_ROOTS_BOTH = 3      /**< union of system and fallback */
} ftls_roots_origin;

/** An immutable, refcounted set of trust anchors. */
typedef struct ftls_roots ftls_roots;

/** Read-only description of one root; see ftls_roots_get0_info(). */
typedef struct ftls_root_info {
    const unsigned char *der; /**< DER certificate */
    size_t der_len;
    const X509_NAME *subject; /**< parsed subject name */
    const char *label;        /**< NSS label for bundle roots, else NULL */
    const char *location;     /**< file it came from, or "embedded:mozilla" */
    int64_t not_before;       /**< seconds since the epoch */
    int64_t not_after;
    int64_t distrust_after;   /**< server distrust-after, 0 when none */
    unsigned char sha256[32]; /**< SHA-256 of the DER */
} ftls_root_info;

/**
 * @brief Load roots now, without the process-wide cache.
 *
 * System discovery: when SSL_CERT_FILE or SSL_CERT_DIR is set (each a
 * colon-separated list; empty entries skipped) only those are used, and an
 * entry that does not exist or cannot be read is an error, never a silent
 * fallback. Otherwise: the first readable file of
 * /etc/ssl/certs/ca-certificates.crt, /etc/pki/ca-trust/extracted/pem/
 * tls-ca-bundle.pem, /etc/pki/tls/certs/ca-bundle.crt,
 * /etc/ssl/ca-bundle.pem, /etc/pki/tls/cacert.pem, /etc/ssl/cert.pem, plus
 * OpenSSL's compiled-in default file, plus every file of /etc/ssl/certs,
 * /etc/pki/tls/certs and OpenSSL's default directory. Symlinks are
 * followed, dangling ones skipped, a file reached twice is read once, and
 * certificates are deduplicated by DER.
 *
 * One unreadable file or bad PEM block does not fail the load: it is
 * recorded (ftls_roots_problem()) and the other roots are kept.
 *
 * @param origin which roots.
 * @param[out] out receives the set; set to NULL on entry.
 * @param err optional.
 * @return FTLS_OK (check ftls_roots_problem_count() for partial
 *         problems); FTLS_E_NO_ROOTS when nothing usable was found (the
 *         message lists each problem); FTLS_E_NOT_FOUND/FTLS_E_PERMISSION/
 *         FTLS_E_IO for an unusable SSL_CERT_FILE/SSL_CERT_DIR entry;
 *         FTLS_E_NOMEM; FTLS_E_INVALID_ARGUMENT.
 * @par Ownership: free *out with ftls_roots_free().
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_load(ftls_roots_origin origin,
                                                  ftls_roots **out,
                                                  ftls_error *err);

/**
 * @brief Load roots from explicit PEM files and directories.
 *
 * @param files colon-separated PEM files, or NULL.
 * @param dirs  colon-separated directories whose files are all read, or
 *              NULL. At least one of the two must name something.
 * @return as ftls_roots_load(); each named path must be usable.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_load_paths(const char *files,
                                                        const char *dirs,
                                                        ftls_roots **out,
                                                        ftls_error *err);

/**
 * @brief Load roots from PEM in memory (for example fetched from an API).
 * @param location recorded as each root's location, e.g. "vault:pki/ca";
 *        copied. NULL means "memory".
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_NO_ROOTS (no usable
 *         certificate; each problem is recorded); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_load_pem(const void *pem,
                                                      size_t len,
                                                      const char *location,
                                                      ftls_roots **out,
                                                      ftls_error *err);

/**
 * @brief The process-wide roots, loaded once.
 *
 * The first call loads the system store (retrying EINTR, EAGAIN, EIO,
 * EMFILE and ENFILE a few times with a short backoff; the happy path never
 * sleeps); concurrent first calls wait for that single load. Later calls
 * return the same refcounted set without I/O, lock-free. If the first load
 * fails, that error is returned by every call (sticky) until
 * ftls_roots_refresh() succeeds. FTLS_ROOTS_FALLBACK never touches the
 * file system.
 *
 * @return as ftls_roots_load().
 * @par Ownership: free *out with ftls_roots_free().
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_get1_shared(
    ftls_roots_origin origin, ftls_roots **out, ftls_error *err);

/**
 * @brief Re-read the system store and swap it in atomically.
 *
 * On failure the previous set stays current, the new error is returned and
 * logged, and (if no load ever succeeded) becomes the sticky error.
 * Callers holding a set keep it until they free it.
 * @par Thread-safety: safe from any thread; refreshes are serialised.
 * @return FTLS_OK when the new set was published; otherwise the load's error
 *         (e.g. FTLS_E_NO_ROOTS, FTLS_E_IO) and the previous set stays
 *         published.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_refresh(ftls_error *err);

/**
 * @brief Generation of the process-wide system set: 0 before the first
 *        successful load, then incremented by each successful refresh.
 * @return the generation; lock-free.
 * @since 0.1.0
 */
FTLS_API uint64_t ftls_roots_generation(void);

/**
 * @brief Start a background thread that checks the system sources every
 *        @p interval_ms (stat of each file and directory entry: device,
 *        inode, size, mtime) and refreshes when they change.
 * @return FTLS_OK; FTLS_E_STATE if already running; FTLS_E_INVALID_ARGUMENT
 *         for an interval under 10 ms; FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_watch_start(unsigned interval_ms,
                                                         ftls_error *err);

/**
 * @brief Stop the watcher started by ftls_roots_watch_start(); waits for
 *        the thread. No-op when not running.
 * @since 0.1.0
 */
FTLS_API void ftls_roots_watch_stop(void);

/** @brief Drop one reference. NULL is a no-op. @since 0.1.0 */
FTLS_API void ftls_roots_free(ftls_roots *roots);

/**
 * @brief Take one more reference.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p roots is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_up_ref(ftls_roots *roots);

/**
 * @brief Number of roots (after deduplication); 0 for NULL.
 * @return the number of roots, 0 for NULL.
 * @since 0.1.0
 */
FTLS_API size_t ftls_roots_count(const ftls_roots *roots);

/**
 * @brief Describe root @p i (0 <= i < count).
 * @warning Every pointer in @p info is borrowed from @p roots and valid
 *          while the caller holds it.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_NOMEM (the first call
 *         on a set parses every subject, and that needs memory).
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0 (FTLS_E_NOMEM: 0.2.0)
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_get0_info(const ftls_roots *roots,
                                                       size_t i,
                                                       ftls_root_info *info);

/**
 * @brief Number of problems met while loading.
 * @return the number of problems recorded by the load, 0 for NULL.
 * @since 0.1.0
 */
FTLS_API size_t ftls_roots_problem_count(const ftls_roots *roots);

/**
 * @brief Problem @p i: the path (or "path:line" for a PEM block) and the
 *        reason.
 * @warning Borrowed from @p roots.
 * @return the problem's code, or FTLS_E_INVALID_ARGUMENT.
 * @since 0.1.0
 */
FTLS_API ftls_code ftls_roots_problem(const ftls_roots *roots, size_t i,
                                      const char **path, const char **reason);

/** Load statistics; see ftls_roots_get_stats(). */
typedef struct ftls_roots_stats {
    size_t paths;      /**< files and directories consulted */
    size_t files_read; /**< distinct files read */
    size_t certs_seen; /**< certificates decoded, duplicates included */
    size_t duplicates; /**< dropped as identical DER */
    uint64_t load_ns;  /**< wall time of the load */
} ftls_roots_stats;

/** @brief Fill @p stats. @return FTLS_OK or FTLS_E_INVALID_ARGUMENT. @since 0.1.0 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_get_stats(const ftls_roots *roots,
                                                       ftls_roots_stats *stats);

/**
 * @brief Source @p i consulted by the load (a file or directory path).
 * @return the path (borrowed from @p roots), or NULL when out of range.
 * @since 0.1.0
 */
FTLS_API const char *ftls_roots_get0_path(const ftls_roots *roots, size_t i);

/**
 * @brief A new X509_STORE that trusts @p roots, parsing each root only
 *        when a chain needs it, and enforcing distrust-after.
 *
 * The store keeps a reference to @p roots. Parsed roots are cached in the
 * store, so share one store between SSL_CTXs rather than making many.
 * Verification behaves as with an X509_STORE holding every root, including
 * under X509_V_FLAG_X509_STRICT, partial chains, DANE and CRL checks.
 *
 * @param[out] out receives the store; set to NULL on entry.
 * @par Ownership: X509_STORE_free() the store (refcounted by OpenSSL).
 * @par Thread-safety: the store may be used for concurrent verifications.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_NOMEM; FTLS_E_OPENSSL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_roots_new_store(ftls_roots *roots,
                                                       X509_STORE **out,
                                                       ftls_error *err);

/**
 * @brief Server distrust-after of a root certificate that came from a
 *        freshtls store, in seconds since the epoch; 0 when none.
 * @return the server distrust-after time (Unix seconds) freshtls attached to
 *         @p root, or 0 when none.
 * @since 0.1.0
 */
FTLS_API int64_t ftls_roots_x509_distrust_after(const X509 *root);

/** Flags for ftls_roots_export_pem(). */
#define FTLS_EXPORT_KEEP_ALL_DISTRUSTED 0x1u /**< keep long-distrusted roots */

/**
 * @brief Write the roots as a PEM bundle, atomically (temp file + rename,
 *        mode 0644), each preceded by comment lines with its label or
 *        subject, SHA-256 and any distrust-after date.
 *
 * A PEM file cannot carry the distrust-after constraint, so by default
 * roots whose distrust-after date is more than 398 days (the longest
 * allowed TLS certificate lifetime) before @p now are left out; the others
 * are kept with the date in their comment.
 *
 * @param now 0 for the current time (a parameter so tests can fix it).
 * @param[out] written optional; receives the number of roots written.
 * @return FTLS_OK; I/O codes (no partial file is left behind).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_roots_export_pem(const ftls_roots *roots, const char *path, unsigned flags,
                      int64_t now, size_t *written, ftls_error *err);

/**
 * @brief The same bundle as ftls_roots_export_pem(), written to a BIO the
 *        caller owns (a memory BIO, or stdout through BIO_new_fp()).
 * @param out not freed; flushed at the end.
 * @param now 0 for the current time.
 * @param[out] written optional; receives the number of roots written.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL roots or out); FTLS_E_IO
 *         (the BIO refused a write: part of the bundle may have been
 *         written).
 * @par Thread-safety: safe from any thread; the BIO is the caller's.
 * @since 0.2.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_roots_export_pem_bio(const ftls_roots *roots, BIO *out, unsigned flags,
                          int64_t now, size_t *written, ftls_error *err);

/**
 * @brief Stable name of an origin: "system", "fallback", "auto", "both".
 * @return a static string; "unknown" for a value out of range.
 * @since 0.1.0
 */
FTLS_API const char *ftls_roots_origin_name(ftls_roots_origin origin);

/**
 * @brief Parse an origin name (as above).
 * @return FTLS_OK or FTLS_E_INVALID_ARGUMENT.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_roots_origin_parse(const char *name, ftls_roots_origin *out);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_ROOTS_H */
