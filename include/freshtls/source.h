/**
 * @file source.h
 * @brief Sources: identity and trust material loaded from files or memory
 *        as consistent, validated generations, with status and events.
 *
 * A *source* describes where material lives (a Kubernetes-style secret
 * directory, certificate and key files, a single PEM file, PKCS#12, CA
 * bundles, memory, or the process-wide system roots). Each
 * ftls_source_reload() reads one generation, validates all of it, and
 * publishes it through a snapshot cell only when every check passes; on
 * any failure the previous generation stays published and the failure is
 * reported with its reason and path.
 *
 * Reading a directory is generation-consistent: the `..data` symlink that
 * Kubernetes' AtomicWriter swaps is resolved once, every file is read
 * relative to that directory's fd, and afterwards `..data` and each file
 * are checked unchanged; a race is retried a bounded number of times.
 *
 * @par Thread-safety
 * A source may be used from any number of threads at once: readers
 * (ftls_source_get1_identity(), ftls_source_get1_roots(),
 * ftls_source_generation(), ftls_source_get_status()) never wait for I/O
 * or for a reload, and reloads are serialised per source. Exceptions are
 * noted per function (ftls_source_free(), ftls_source_set_event_callback()).
 */
#ifndef FRESHTLS_SOURCE_H
#define FRESHTLS_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <freshtls/error.h>
#include <freshtls/export.h>
#include <freshtls/identity.h>
#include <freshtls/roots.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where identity or trust material comes from, and its published state. */
typedef struct ftls_source ftls_source;

/** Validation settings for identity sources. */
typedef struct ftls_identity_options {
    /** Accept a leaf outside its validity window (default 0: reject). */
    int allow_invalid_time;
    /** Warn (log + event) when the leaf expires within this many seconds;
     *  0 means the default of 7 days, negative disables. */
    int64_t warn_before_expiry;
    /** Minimum RSA modulus in bits; 0 means the default of 2048. */
    int min_rsa_bits;
    /** Optional: the chain must verify (purpose sslserver) against these
     *  roots. The source keeps a reference. */
    ftls_roots *verify_roots;
    /** File names inside a directory source; NULL means "tls.crt" and
     *  "tls.key", the Kubernetes TLS secret names. */
    const char *cert_name;
    const char *key_name;
    /** PKCS#12 passphrase: read from this file (trailing newline dropped)
     *  or this environment variable; never passed on a command line. */
    const char *passphrase_file;
    const char *passphrase_env;
    /** What the identity is for: ::FTLS_IDENTITY_SERVER (0, the default:
     *  the leaf must allow serverAuth and must not be a CA certificate),
     *  ::FTLS_IDENTITY_CLIENT (clientAuth, not a CA), or
     *  ::FTLS_IDENTITY_ANY (either, still not a CA). @since 0.2.0 */
    int purpose;
    /** Most certificates allowed after the leaf, each at most once;
     *  0 means 10. @since 0.2.0 */
    int max_chain;
    /** OpenSSL security level the identity must satisfy (key sizes,
     *  curves, signature digests), as the contexts it serves check it;
     *  0 means the level a new SSL_CTX gets from this process's OpenSSL
     *  configuration (Debian: 2). @since 0.2.0 */
    int security_level;
} ftls_identity_options;

/** Values of ftls_identity_options.purpose. @since 0.2.0 */
enum {
    FTLS_IDENTITY_SERVER = 0,
    FTLS_IDENTITY_CLIENT = 1,
    FTLS_IDENTITY_ANY = 2
};

/** Kinds of event a source reports. */
typedef enum ftls_source_event_type {
    FTLS_EVENT_LOADED = 1,    /**< a new generation was published */
    FTLS_EVENT_REJECTED = 2,  /**< a load failed; the previous one stays */
    FTLS_EVENT_UNCHANGED = 3, /**< reloaded, same bytes: nothing published */
    FTLS_EVENT_EXPIRING = 4,  /**< published leaf expires soon */
    FTLS_EVENT_DEGRADED = 5,  /**< watching fell back to polling */
    /** The published leaf has expired and is still being served (code
     *  FTLS_E_EXPIRED); once per generation. @since 0.2.0 */
    FTLS_EVENT_EXPIRED = 6
} ftls_source_event_type;

/** Health of a source's published state, from ftls_source_get_status().
 *  @since 0.2.0 */
typedef enum ftls_source_health {
    FTLS_HEALTH_EMPTY = 0,    /**< nothing published yet */
    FTLS_HEALTH_OK = 1,       /**< published, valid, last reload worked */
    FTLS_HEALTH_EXPIRING = 2, /**< the leaf expires within warn_before_expiry */
    FTLS_HEALTH_STALE = 3,    /**< the last reload failed; previous served */
    FTLS_HEALTH_EXPIRED = 4   /**< the served leaf has expired: an error */
} ftls_source_health;

/** One event; all pointers are borrowed for the callback's duration. */
typedef struct ftls_source_event {
    ftls_source_event_type type;
    const ftls_source *source;
    uint64_t generation; /**< published generation after the event */
    ftls_code code;      /**< FTLS_OK, or why it was rejected/degraded */
    const char *message; /**< human-readable reason or summary */
} ftls_source_event;

/**
 * @brief Event callback.
 * @warning Called on the thread that reloaded (a watcher thread, or the
 *          caller of ftls_source_reload()); must not free the source.
 */
typedef void (*ftls_source_event_fn)(const ftls_source_event *ev,
                                     void *userdata);

/** Observable state of a source; see ftls_source_get_status(). */
typedef struct ftls_source_status {
    uint64_t generation;  /**< 0 until the first successful load */
    int64_t last_success; /**< Unix time of the last publish, 0 none */
    int64_t last_attempt; /**< Unix time of the last load attempt */
    ftls_code last_error; /**< FTLS_OK when the last attempt worked */
    char last_error_message[512];
    unsigned char sha256[32]; /**< SHA-256 of the published leaf's DER */
    int64_t not_after;        /**< published leaf's notAfter, 0 none */
    int watching;             /**< 0 none, 1 inotify, 2 polling */
    /** Seconds until not_after at the time of the call (negative once
     *  expired); 0 when there is no leaf. @since 0.2.0 */
    int64_t seconds_left;
    /** The worst of: expired, stale, expiring, ok. @since 0.2.0 */
    ftls_source_health health;
} ftls_source_status;

/* ---- creating sources ---------------------------------------------------- */

/**
 * @brief Identity from a directory holding a chain file and a key file
 *        (by default tls.crt and tls.key), e.g. a Kubernetes secret mount.
 * @param opts may be NULL for defaults; copied.
 * @param[out] out set to NULL on entry; free with ftls_source_free().
 * @return FTLS_OK, FTLS_E_INVALID_ARGUMENT, FTLS_E_NOMEM, FTLS_E_OPENSSL.
 *         Nothing is read until ftls_source_reload().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_source_new_identity_dir(const char *dir, const ftls_identity_options *opts,
                             ftls_source **out, ftls_error *err);

/**
 * @brief Identity from a chain file and a key file given by path (they may
 *        live in different directories; when they share one, reads are
 *        generation-consistent as for ftls_source_new_identity_dir()).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL or empty paths);
 *         FTLS_E_TOO_LARGE (a path longer than PATH_MAX); FTLS_E_NOMEM.
 *         Nothing is read until ftls_source_reload().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_identity_files(
    const char *cert_path, const char *key_path,
    const ftls_identity_options *opts, ftls_source **out, ftls_error *err);

/**
 * @brief Identity from one PEM file holding the private key and the chain
 *        in any order (certificates themselves leaf-first).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL or empty path);
 *         FTLS_E_NOMEM. Nothing is read until ftls_source_reload().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_identity_pem(
    const char *path, const ftls_identity_options *opts, ftls_source **out,
    ftls_error *err);

/**
 * @brief Identity from a PKCS#12 file; the passphrase comes from
 *        opts->passphrase_file or opts->passphrase_env (or none).
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL or empty path);
 *         FTLS_E_NOMEM. Nothing is read until ftls_source_reload().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_identity_pkcs12(
    const char *path, const ftls_identity_options *opts, ftls_source **out,
    ftls_error *err);

/**
 * @brief Identity from PEM held in memory (for secrets fetched from an
 *        API). Set the bytes with ftls_source_set_memory(), then reload:
 *        the same validation and publish path as files.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (out NULL); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_identity_memory(
    const ftls_identity_options *opts, ftls_source **out, ftls_error *err);

/**
 * @brief Replace the bytes of a memory source (copied; the key copy is
 *        wiped when replaced or freed). key_pem may be NULL when cert_pem
 *        holds the key too. Does not reload.
 * @return FTLS_OK, FTLS_E_STATE (not a memory source), FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_source_set_memory(ftls_source *src, const void *cert_pem, size_t cert_len,
                       const void *key_pem, size_t key_len, ftls_error *err);

/**
 * @brief Trust material: CA bundle files and/or directories
 *        (colon-separated), published as an ::ftls_roots for use as root
 *        CAs or client CAs.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (neither files nor dirs given);
 *         FTLS_E_NOMEM. Nothing is read until ftls_source_reload().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_trust(const char *files,
                                                        const char *dirs,
                                                        ftls_source **out,
                                                        ftls_error *err);

/**
 * @brief Trust from the process-wide root set, ftls_roots_get1_shared(@p which),
 *        as a source: factories, attached contexts, events and status
 *        follow the OS store exactly as they follow a trust file.
 *
 * Every successful ftls_roots_refresh(), by hand or by the roots watcher
 * (ftls_roots_watch_start()) after the OS store changed, reloads the
 * source on the refreshing thread; an unchanged set publishes nothing. A
 * failed refresh publishes nothing and the previous set stays. Call
 * ftls_source_reload() once for the first generation.
 *
 * @warning Not watchable by an ::ftls_watcher (FTLS_E_UNSUPPORTED): the OS
 *          store is followed by the roots watcher, once per process.
 * @param which FTLS_ROOTS_SYSTEM, _AUTO or _BOTH (or _FALLBACK, which
 *        never changes).
 * @param[out] out set to NULL on entry; free with ftls_source_free().
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_NOMEM.
 * @par Thread-safety: safe from any thread.
 * @since 0.2.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_new_system_roots(
    ftls_roots_origin which, ftls_source **out, ftls_error *err);

/**
 * @brief Free a source. NULL is a no-op. Published objects that callers
 *        hold stay valid.
 * @warning Remove it from any watcher first.
 * @since 0.1.0
 */
FTLS_API void ftls_source_free(ftls_source *src);

/* ---- loading and reading --------------------------------------------------- */

/**
 * @brief Read, validate and (if anything changed) publish a generation.
 *
 * Safe to call from a SIGHUP-driven thread or a management command.
 * Concurrent reloads of one source are serialised.
 * @return FTLS_OK (published or unchanged); otherwise the reason, and the
 *         previous generation stays published: FTLS_E_NOT_FOUND,
 *         FTLS_E_PERMISSION, FTLS_E_IO, FTLS_E_TOO_LARGE, FTLS_E_PARSE,
 *         FTLS_E_KEY_MISMATCH, FTLS_E_CHAIN_ORDER, FTLS_E_EXPIRED,
 *         FTLS_E_NOT_YET_VALID, FTLS_E_KEY_POLICY, FTLS_E_VERIFY,
 *         FTLS_E_RACE, FTLS_E_NOMEM.
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_reload(ftls_source *src,
                                                     ftls_error *err);

/**
 * @brief The newest published identity.
 * @return FTLS_OK; FTLS_E_EMPTY before the first successful load;
 *         FTLS_E_STATE for a trust source.
 * @par Ownership: free with ftls_identity_free().
 * @par Thread-safety: lock-free; safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_get1_identity(ftls_source *src,
                                                            ftls_identity **out,
                                                            ftls_error *err);

/**
 * @brief The newest published trust set of a trust source.
 * @return FTLS_OK; FTLS_E_EMPTY; FTLS_E_STATE for an identity source.
 * @par Ownership: free with ftls_roots_free().
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_get1_roots(ftls_source *src,
                                                         ftls_roots **out,
                                                         ftls_error *err);

/**
 * @brief Published generation (0 before the first). Lock-free.
 * @return the published generation, 0 before the first or for NULL.
 * @since 0.1.0
 */
FTLS_API uint64_t ftls_source_generation(const ftls_source *src);

/**
 * @brief Copy the source's observable state.
 * @return FTLS_OK or FTLS_E_INVALID_ARGUMENT.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_source_get_status(const ftls_source *src, ftls_source_status *st);

/**
 * @brief Install the event callback (NULL removes it).
 *
 * Each event is reported once: to this callback when one is installed,
 * otherwise to the log (ftls_log_set_callback(): rejected and expired at
 * error level, loaded at info, the rest at warn).
 * @warning Set it before the source is shared with a watcher thread.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT when @p src is NULL.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_source_set_event_callback(
    ftls_source *src, ftls_source_event_fn fn, void *userdata);

/**
 * @brief A short description, e.g. "dir:/etc/tls".
 * @return the description, borrowed from @p src for its lifetime; "" for
 *         NULL.
 * @since 0.1.0
 */
FTLS_API const char *ftls_source_describe(const ftls_source *src);

/**
 * @brief Stable name of an event type ("loaded", ...).
 * @return a static string; "unknown" for a value out of range.
 * @since 0.1.0
 */
FTLS_API const char *ftls_source_event_name(ftls_source_event_type t);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_SOURCE_H */
