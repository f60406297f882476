/* Bounded strings and paths (base/str.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/str.h"

ftls_code ftls__str_printf(char *buf, size_t cap, const char *fmt, ...)
{
    if (buf == NULL || cap == 0)
        return FTLS_E_INVALID_ARGUMENT;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = '\0';
        return FTLS_E_INVALID_ARGUMENT;
    }
    return (size_t)n < cap ? FTLS_OK : FTLS_E_TOO_LARGE;
}

void ftls__str_vmessage(char *buf, size_t cap, const char *fmt, va_list ap)
{
    if (buf == NULL || cap == 0)
        return;
    int n = vsnprintf(buf, cap, fmt, ap);
    if (n < 0)
        buf[0] = '\0';
    else if ((size_t)n >= cap && cap >= 4)
        memcpy(buf + cap - 4, "...", 4);
}

void ftls__str_message(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ftls__str_vmessage(buf, cap, fmt, ap);
    va_end(ap);
}

ftls_code ftls__str_vaprintf(char **out, const char *fmt, va_list ap)
{
    *out = NULL;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return FTLS_E_INVALID_ARGUMENT;
    char *s = ftls__malloc((size_t)n + 1);
    if (s == NULL)
        return FTLS_E_NOMEM;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    *out = s;
    return FTLS_OK;
}

ftls_code ftls__str_aprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ftls_code rc = ftls__str_vaprintf(out, fmt, ap);
    va_end(ap);
    return rc;
}

ftls_code ftls__path_join(char *buf, size_t cap, const char *dir,
                          const char *name)
{
    return ftls__str_printf(buf, cap, "%s/%s", dir, name);
}

ftls_code ftls__strlist_add(struct ftls__strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return FTLS_OK;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        char **nv = ftls__realloc(l->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return FTLS_E_NOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    if ((l->v[l->n] = ftls__strdup(s)) == NULL)
        return FTLS_E_NOMEM;
    l->n++;
    return FTLS_OK;
}

void ftls__strlist_free(struct ftls__strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        ftls__free(l->v[i]);
    ftls__free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
