/* The embedded Mozilla root bundle, generated into fallback_data.c. */
#ifndef FTLS_FALLBACK_DATA_H
#define FTLS_FALLBACK_DATA_H

#include <stddef.h>
#include <stdint.h>

struct ftls__fallback_root {
    const char *label;
    const unsigned char *der;
    size_t der_len;
    int64_t distrust_after; /* server distrust-after, seconds; 0 = none */
};

extern const struct ftls__fallback_root ftls__fallback_roots[];
extern const unsigned ftls__fallback_count;
extern const char ftls__fallback_version[];

#endif
