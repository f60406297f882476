/*
 * Bounded strings and paths. Nothing here truncates silently:
 *
 *   ftls__str_printf   fixed buffer; FTLS_E_TOO_LARGE when the text does
 *                      not fit (for anything a program acts on: paths,
 *                      names, keys)
 *   ftls__str_message  fixed buffer for human-readable text only (event
 *                      and status messages); a cut message ends in "..."
 *   ftls__str_aprintf  allocated, exactly as long as needed
 *   ftls__path_join    "dir/name" into a fixed buffer, FTLS_E_TOO_LARGE
 *   ftls__strlist      a growable list of owned, distinct strings
 */
#ifndef FTLS_BASE_STR_H
#define FTLS_BASE_STR_H

#include <stdarg.h>
#include <stddef.h>

#include "base/internal.h"

/* Format into buf[cap]. Returns FTLS_OK; FTLS_E_TOO_LARGE when the result
 * needs more than cap - 1 bytes (buf then holds a NUL-terminated prefix,
 * which the caller must not use as if complete); FTLS_E_INVALID_ARGUMENT
 * when cap is 0 or the format fails. */
FTLS_NODISCARD ftls_code ftls__str_printf(char *buf, size_t cap,
                                          const char *fmt, ...)
    FTLS_PRINTF(3, 4);

/* Format a human-readable message into buf[cap] (cap >= 4). A message that
 * does not fit is cut and ends in "...", so the reader sees it was cut. */
void ftls__str_message(char *buf, size_t cap, const char *fmt, ...)
    FTLS_PRINTF(3, 4);

/* ftls__str_message with a va_list. */
void ftls__str_vmessage(char *buf, size_t cap, const char *fmt, va_list ap)
    FTLS_PRINTF(3, 0);

/* Format into a new allocation (free with ftls__free). Returns FTLS_OK,
 * FTLS_E_NOMEM, or FTLS_E_INVALID_ARGUMENT when the format fails; *out is
 * NULL on failure. */
FTLS_NODISCARD ftls_code ftls__str_aprintf(char **out, const char *fmt, ...)
    FTLS_PRINTF(2, 3);

/* ftls__str_aprintf with a va_list. */
FTLS_NODISCARD ftls_code ftls__str_vaprintf(char **out, const char *fmt,
                                            va_list ap) FTLS_PRINTF(2, 0);

/* buf = dir + "/" + name. FTLS_E_TOO_LARGE when it does not fit in cap. */
FTLS_NODISCARD ftls_code ftls__path_join(char *buf, size_t cap, const char *dir,
                                         const char *name);

/* A list of distinct strings, each owned by the list. Zero-initialise. */
struct ftls__strlist {
    char **v;
    size_t n, cap;
};
/* Append a copy of s unless an equal string is already there. Returns
 * FTLS_OK or FTLS_E_NOMEM (the list is unchanged then). */
FTLS_NODISCARD ftls_code ftls__strlist_add(struct ftls__strlist *l,
                                           const char *s);
/* Free every string and the array; the list is empty and reusable. */
void ftls__strlist_free(struct ftls__strlist *l);

#endif /* FTLS_BASE_STR_H */
