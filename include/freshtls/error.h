/**
 * @file error.h
 * @brief Status codes and the optional error object.
 *
 * Every fallible freshtls call returns an ::ftls_code: FTLS_OK (0) on
 * success, or a positive code on failure. Most calls also take an optional
 * `ftls_error *err`; when it is not NULL it is filled with the code, the
 * code's category, a human-readable message (which names the path or
 * object involved) and the text of OpenSSL's error queue at the time of
 * failure, so that OpenSSL's own reason is never lost.
 *
 * OpenSSL error queue handling: when a call fails and `err` is not NULL,
 * the entries on the calling thread's OpenSSL error queue are moved into
 * `err` (the queue is left empty). When `err` is NULL they are left on the
 * queue for the caller to inspect with ERR_get_error().
 *
 * Codes are stable: a code's number is never changed or reused. New codes
 * are only ever appended.
 *
 * @par Thread-safety
 * The code and category functions are pure and safe from any thread. An
 * ::ftls_error object belongs to one thread at a time; use one per thread.
 */
#ifndef FRESHTLS_ERROR_H
#define FRESHTLS_ERROR_H

#include <freshtls/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status returned by every fallible call. Numbers are stable forever. */
typedef enum ftls_code {
    FTLS_OK = 0,                 /**< success */
    FTLS_E_INVALID_ARGUMENT = 1, /**< NULL or out-of-range argument */
    FTLS_E_NOMEM = 2,            /**< memory allocation failed */
    FTLS_E_INTERNAL = 3,         /**< broken invariant inside freshtls */
    FTLS_E_EMPTY = 4,            /**< nothing has been published yet */
    FTLS_E_STATE = 5,            /**< call not valid in the object's state */
    FTLS_E_IO = 6,               /**< read/write/stat failed */
    FTLS_E_NOT_FOUND = 7,        /**< a file or directory does not exist */
    FTLS_E_PERMISSION = 8,       /**< permission denied, or unsafe mode */
    FTLS_E_TOO_LARGE = 9,        /**< input exceeds a configured size cap */
    FTLS_E_PARSE = 10,           /**< input could not be parsed */
    FTLS_E_KEY_MISMATCH = 11,    /**< private key does not match the leaf */
    FTLS_E_CHAIN_ORDER = 12,     /**< chain not ordered leaf-first */
    FTLS_E_EXPIRED = 13,         /**< certificate past its notAfter */
    FTLS_E_NOT_YET_VALID = 14,   /**< certificate before its notBefore */
    FTLS_E_KEY_POLICY = 15,      /**< key too weak or of a refused type */
    FTLS_E_VERIFY = 16,          /**< chain verification failed */
    FTLS_E_NAME_REJECTED = 17,   /**< host name refused by policy */
    FTLS_E_OPENSSL = 18,         /**< an OpenSSL call failed */
    FTLS_E_RACE = 19,            /**< source kept changing while read */
    FTLS_E_NO_ROOTS = 20,        /**< no trust anchor could be loaded */
    FTLS_E_UNSUPPORTED = 21,     /**< feature not available here */
    FTLS_E_EXISTS = 22,          /**< refusing to overwrite a file */
    FTLS_E_TIMEOUT = 23,         /**< a wait ran out of time */
    FTLS_E_PARTIAL = 24          /**< some inputs failed; result usable */
} ftls_code;

/** Broad classes of failure, for callers that only branch coarsely. */
typedef enum ftls_category {
    FTLS_CAT_NONE = 0,     /**< success */
    FTLS_CAT_USAGE = 1,    /**< the caller did something wrong */
    FTLS_CAT_RESOURCE = 2, /**< out of memory or similar */
    FTLS_CAT_IO = 3,       /**< file system or OS */
    FTLS_CAT_INPUT = 4,    /**< bad material (parse, mismatch, order) */
    FTLS_CAT_CRYPTO = 5,   /**< OpenSSL reported a failure */
    FTLS_CAT_VERIFY = 6,   /**< validity or verification */
    FTLS_CAT_POLICY = 7,   /**< refused by a configured policy */
    FTLS_CAT_STATE = 8,    /**< object state */
    FTLS_CAT_INTERNAL = 9  /**< bug */
} ftls_category;

/** Opaque error object; see ftls_error_new(). */
typedef struct ftls_error ftls_error;

/**
 * @brief Allocate an empty error object (code FTLS_OK).
 *
 * The object has fixed-size buffers, so filling it never allocates; it can
 * report FTLS_E_NOMEM reliably. One object may be reused for many calls;
 * each failing call overwrites it. Successful calls leave it untouched.
 *
 * @param[out] out receives the new object; set to NULL on entry.
 * @return FTLS_OK, FTLS_E_INVALID_ARGUMENT (out is NULL), FTLS_E_NOMEM.
 * @par Ownership: the caller frees *out with ftls_error_free().
 * @par Thread-safety: an error object must not be shared by threads that
 *      fail concurrently; give each thread its own.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_error_new(ftls_error **out);

/**
 * @brief Free an error object. NULL is a no-op.
 * @since 0.1.0
 */
FTLS_API void ftls_error_free(ftls_error *err);

/**
 * @brief Reset to FTLS_OK with empty texts. NULL is a no-op.
 * @since 0.1.0
 */
FTLS_API void ftls_error_clear(ftls_error *err);

/**
 * @brief The code of the last failure recorded in @p err.
 * @return FTLS_OK for a cleared object; FTLS_E_INVALID_ARGUMENT for NULL.
 * @since 0.1.0
 */
FTLS_API ftls_code ftls_error_code(const ftls_error *err);

/**
 * @brief The category of the recorded code (ftls_code_category()).
 * @return FTLS_CAT_USAGE for NULL.
 * @since 0.1.0
 */
FTLS_API ftls_category ftls_error_category(const ftls_error *err);

/**
 * @brief The human-readable message, e.g. "tls.key: key does not match
 *        certificate". Never NULL; "" when cleared.
 * @warning Borrowed: valid until @p err is next written, cleared or freed.
 * @return the one-line message (never NULL; "" for a NULL or cleared object),
 *         borrowed from @p err until its next use.
 * @since 0.1.0
 */
FTLS_API const char *ftls_error_message(const ftls_error *err);

/**
 * @brief The OpenSSL error queue captured at failure, one entry per line in
 *        ERR_error_string_n() form plus any error data. "" when OpenSSL
 *        reported nothing. Never NULL.
 * @warning Borrowed: valid until @p err is next written, cleared or freed.
 * @return OpenSSL's error queue text captured with the failure, one error per
 *         line (never NULL; "" when none), borrowed from @p err.
 * @since 0.1.0
 */
FTLS_API const char *ftls_error_openssl(const ftls_error *err);

/**
 * @brief The first (oldest) packed OpenSSL error code captured, usable with
 *        ERR_GET_LIB() and ERR_GET_REASON(); 0 when none.
 * @return the first OpenSSL error code captured (ERR_get_error() value), 0
 *         when none.
 * @since 0.1.0
 */
FTLS_API unsigned long ftls_error_openssl_code(const ftls_error *err);

/**
 * @brief Stable symbolic name of a code, e.g. "FTLS_E_NOMEM".
 * @return A static string; "FTLS_E_UNKNOWN" for a number not defined by
 *         this version.
 * @since 0.1.0
 */
FTLS_API const char *ftls_code_name(ftls_code code);

/**
 * @brief Short English description of a code, e.g. "out of memory".
 * @return A static string; never NULL.
 * @since 0.1.0
 */
FTLS_API const char *ftls_code_describe(ftls_code code);

/**
 * @brief The category a code belongs to. Fixed per code.
 * @return the category of @p code; FTLS_CAT_INTERNAL for an unknown number.
 * @since 0.1.0
 */
FTLS_API ftls_category ftls_code_category(ftls_code code);

/**
 * @brief Stable lowercase name of a category, e.g. "io".
 * @return a static string such as "io" or "input"; "unknown" for an unknown
 *         value.
 * @since 0.1.0
 */
FTLS_API const char *ftls_category_name(ftls_category cat);

/**
 * @brief Record a failure from application code (for example a CLI built
 *        on freshtls), capturing the OpenSSL error queue like the library
 *        does.
 *
 * @param err     may be NULL (then nothing is recorded; the OpenSSL queue is
 *                left as it is).
 * @param code    must not be FTLS_OK.
 * @param message copied (truncated to the buffer); NULL means the code's
 *                description.
 * @return @p code, or FTLS_E_INVALID_ARGUMENT when code is FTLS_OK, so that
 *         `return ftls_error_set(err, FTLS_E_IO, "...")` reads naturally.
 * @since 0.1.0
 */
FTLS_API ftls_code ftls_error_set(ftls_error *err, ftls_code code,
                                  const char *message);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_ERROR_H */
