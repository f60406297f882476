/* PEM block scanning and base64 decoding, tolerant of text between blocks
 * (bundles carry comments) and strict inside a block. */
#ifndef FTLS_PEM_H
#define FTLS_PEM_H

#include <stddef.h>

#include "internal.h"

struct ftls__pem_block {
    const char *label; /* not NUL-terminated */
    size_t label_len;
    const char *body; /* base64 text between the BEGIN and END lines */
    size_t body_len;
    size_t line; /* 1-based line of the BEGIN marker */
};

/*
 * Find the next block at or after *cursor. Returns 1 and advances *cursor
 * past the block, 0 when no further BEGIN marker exists, or -1 for a block
 * without its END marker (then *cursor is set to end and blk->line names
 * the BEGIN line).
 */
int ftls__pem_next(const char **cursor, const char *end,
                   struct ftls__pem_block *blk);

/* 1 when the label equals the NUL-terminated `want`. */
int ftls__pem_label_is(const struct ftls__pem_block *blk, const char *want);

/* Decode a block's base64 body into a new buffer (free with ftls__free or,
 * for keys, ftls__free_secret). FTLS_E_PARSE on bad base64. */
ftls_code ftls__pem_decode(const struct ftls__pem_block *blk,
                           unsigned char **out, size_t *out_len);

/* 1 when the buffer contains a PEM BEGIN marker anywhere. */
int ftls__pem_present(const unsigned char *buf, size_t len);

#endif
