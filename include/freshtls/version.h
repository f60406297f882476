/**
 * @file version.h
 * @brief Compile-time and run-time version information.
 *
 * @par Thread-safety
 * Every function is safe from any thread.
 */
#ifndef FRESHTLS_VERSION_H
#define FRESHTLS_VERSION_H

#include <freshtls/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FTLS_VERSION_MAJOR 0
#define FTLS_VERSION_MINOR 1
#define FTLS_VERSION_PATCH 0
#define FTLS_VERSION_STRING "0.1.0"
/** 0xMMmmpp00: major, minor, patch, reserved. */
#define FTLS_VERSION_NUMBER                                                    \
    ((FTLS_VERSION_MAJOR << 24) | (FTLS_VERSION_MINOR << 16) |                 \
     (FTLS_VERSION_PATCH << 8))

/**
 * @brief The version of the freshtls library actually loaded, e.g. "0.1.0".
 *
 * @return A static string; never NULL.
 * @par Ownership: the string is static; do not free it.
 * @par Thread-safety: safe from any thread.
 * @par Errors: none.
 * @since 0.1.0
 */
FTLS_API const char *ftls_version_string(void);

/**
 * @brief The loaded library's version as FTLS_VERSION_NUMBER would encode it.
 *
 * Compare with FTLS_VERSION_NUMBER to detect a header/library mismatch.
 * @par Thread-safety: safe from any thread.
 * @par Errors: none.
 * @return the library version as 0xMMNNPP00 (major, minor, patch).
 * @since 0.1.0
 */
FTLS_API unsigned long ftls_version_number(void);

/**
 * @brief The version text of the OpenSSL libcrypto loaded at run time.
 *
 * This is OpenSSL_version(OPENSSL_VERSION) of the library actually mapped
 * into the process, which may differ from the headers freshtls was built
 * with.
 * @return A static string owned by OpenSSL; never NULL.
 * @par Thread-safety: safe from any thread.
 * @par Errors: none.
 * @since 0.1.0
 */
FTLS_API const char *ftls_version_openssl(void);

/**
 * @brief The version text of the OpenSSL headers libfreshtls was built
 *        against (OPENSSL_VERSION_TEXT at its build time).
 *
 * Compare with ftls_version_openssl() to see whether the OpenSSL loaded at
 * run time is the one freshtls was compiled for; a different major version
 * is not supported.
 * @return A static string; never NULL.
 * @par Thread-safety: safe from any thread.
 * @par Errors: none.
 * @since 0.1.0
 */
FTLS_API const char *ftls_version_openssl_built(void);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_VERSION_H */
