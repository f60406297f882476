/* Replaceable allocator for freshtls' own allocations. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/internal.h"

static ftls_malloc_fn g_malloc = malloc;
static ftls_realloc_fn g_realloc = realloc;
static ftls_free_fn g_free = free;

ftls_code ftls_mem_set_functions(ftls_malloc_fn m, ftls_realloc_fn r,
                                 ftls_free_fn f)
{
    if (m == NULL || r == NULL || f == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    g_malloc = m;
    g_realloc = r;
    g_free = f;
    return FTLS_OK;
}

void *ftls__malloc(size_t n)
{
    return g_malloc(n == 0 ? 1 : n);
}

void *ftls__calloc(size_t count, size_t size)
{
    if (size != 0 && count > (size_t)-1 / size)
        return NULL;
    void *p = ftls__malloc(count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *ftls__realloc(void *p, size_t n)
{
    return g_realloc(p, n == 0 ? 1 : n);
}

void ftls__free(void *p)
{
    if (p != NULL)
        g_free(p);
}

void ftls__free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    g_free(p);
}

char *ftls__strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = ftls__malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}
