/**
 * @file mem.h
 * @brief Replaceable allocator for freshtls' own allocations.
 *
 * @par Thread-safety
 * ftls_mem_set_functions() must be called before any other freshtls call
 * and before threads use the library; it is not synchronised.
 */
#ifndef FRESHTLS_MEM_H
#define FRESHTLS_MEM_H

#include <stddef.h>
#include <freshtls/export.h>
#include <freshtls/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*ftls_malloc_fn)(size_t size);
typedef void *(*ftls_realloc_fn)(void *ptr, size_t size);
typedef void (*ftls_free_fn)(void *ptr);

/**
 * @brief Replace the allocator freshtls uses for its own memory (OpenSSL's
 *        allocations are governed by CRYPTO_set_mem_functions()).
 *
 * Must be called before any other freshtls call allocates, typically first
 * thing in main(); all three functions must be given. Used by the test
 * suite to inject allocation failures.
 *
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT if any pointer is NULL.
 * @par Thread-safety: not thread-safe; call before starting threads that
 *      use freshtls.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_mem_set_functions(ftls_malloc_fn m,
                                                         ftls_realloc_fn r,
                                                         ftls_free_fn f);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_MEM_H */
