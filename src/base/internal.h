/*
 * Internal helpers shared by the library's translation units. Not installed.
 */
#ifndef FTLS_INTERNAL_H
#define FTLS_INTERNAL_H

#include <stddef.h>
#include <freshtls/freshtls.h>

/* ---- allocation (mem.c) ------------------------------------------------ */
void *ftls__malloc(size_t n);
void *ftls__calloc(size_t count, size_t size);
void *ftls__realloc(void *p, size_t n);
void ftls__free(void *p);
/* Zero n bytes that the compiler may not elide, then free. */
void ftls__free_secret(void *p, size_t n);
/* strdup through our allocator; NULL on NULL input or failure. */
char *ftls__strdup(const char *s);

/* ---- errors (error.c) ------------------------------------------------- */
/*
 * Record a failure: format the message, move the OpenSSL error queue into
 * err (when err is not NULL), and return code. Never allocates.
 */
FTLS_NODISCARD ftls_code ftls__err(ftls_error *err, ftls_code code,
                                   const char *fmt, ...) FTLS_PRINTF(3, 4);
/* The text of errnum, thread-safe (strerror_r): `buf` or a static
 * string; never NULL. */
const char *ftls__strerror(int errnum, char *buf, size_t size);

/* Same as ftls__err but appends strerror(errnum) to the message. */
FTLS_NODISCARD ftls_code ftls__err_errno(ftls_error *err, ftls_code code,
                                         int errnum, const char *fmt, ...)
    FTLS_PRINTF(4, 5);
/* Copy a recorded failure (code, message, OpenSSL text) into dst. */
void ftls__error_copy(ftls_error *dst, const ftls_error *src);
/* Map an errno value to the closest ftls_code. */
FTLS_NODISCARD ftls_code ftls__code_from_errno(int errnum);

/* ---- logging (log.c) -------------------------------------------------- */
/* Rewrite a NUL-terminated string in place so that it holds printable
 * ASCII only: every other byte (controls, DEL, anything >= 0x80) becomes
 * \xNN, so untrusted bytes (an SNI name, a file name) cannot forge log
 * lines or drive a terminal. Idempotent. Truncates to cap - 1 bytes at an
 * escape boundary; returns the new length. */
size_t ftls__escape(char *buf, size_t cap);
void ftls__log(ftls_log_level level, const char *fmt, ...) FTLS_PRINTF(2, 3);
int ftls__log_enabled(ftls_log_level level);

/* ---- argument guard ---------------------------------------------------- */
/* Return FTLS_E_INVALID_ARGUMENT, naming the function, unless cond holds.
 * Functions otherwise keep one exit through a `done:` label that releases
 * whatever was built so far. */
#define FTLS_GUARD_ARG(cond, err, what)                                        \
    do {                                                                       \
        if (!(cond))                                                           \
            return ftls__err((err), FTLS_E_INVALID_ARGUMENT, "%s: %s",         \
                             __func__, (what));                                \
    } while (0)

/* ---- assertions -------------------------------------------------------- */
/* FTLS_ASSERT(cond) states an invariant the code relies on (never a check of
 * input: inputs get an error code). It aborts with file, line and the
 * condition in debug builds and in the test library (FTLS_TEST_HOOKS), and
 * compiles to nothing in release builds (NDEBUG), so it must not have side
 * effects. */
#if !defined(NDEBUG) || defined(FTLS_TEST_HOOKS)
#define FTLS_ASSERT(cond)                                                      \
    ((cond) ? (void)0 : ftls__assert_fail(#cond, __FILE__, __LINE__, __func__))
_Noreturn void ftls__assert_fail(const char *cond, const char *file, int line,
                                 const char *func);
#else
#define FTLS_ASSERT(cond) ((void)0)
#endif

#define FTLS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* FTLS_INTERNAL_H */
