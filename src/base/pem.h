/* PEM block scanning and base64 decoding, tolerant of text between blocks
 * (bundles carry comments) and strict inside a block. */
#ifndef FTLS_PEM_H
#define FTLS_PEM_H

#include <stddef.h>

#include "base/internal.h"

struct ftls__pem_block {
    const char *label; /* not NUL-terminated */
    size_t label_len;
    const char *body; /* base64 text between the BEGIN and END lines */
    size_t body_len;
    size_t line; /* 1-based line of the BEGIN marker in the buffer */
};

/* A scan over one buffer; line numbers count from the buffer's start. */
struct ftls__pem_scan {
    const char *cur, *end;
    size_t line; /* 1-based line number of `cur` */
};

/* Start scanning buf[0..len), after a UTF-8 byte order mark if any. */
void ftls__pem_scan_init(struct ftls__pem_scan *sc, const void *buf,
                         size_t len);

/*
 * Find the next block. Returns 1 and moves past the block, 0 when no
 * further BEGIN marker exists, or -1 for a block without its END marker
 * (blk->line names its BEGIN line; the scan moves to the next BEGIN or END
 * marker inside it, or to the end).
 * blk->line is the line of the BEGIN marker counted from the top of the
 * buffer.
 */
int ftls__pem_next(struct ftls__pem_scan *sc, struct ftls__pem_block *blk);

/* 1 when buf starts with a UTF-8 byte order mark. OpenSSL's PEM reader
 * (3.0 to 4.0) reads the first block after one, and so does the scan
 * (ftls__pem_scan_init() skips it); callers log a note. */
int ftls__pem_has_bom(const void *buf, size_t len);

/* 1 when the label equals the NUL-terminated `want`. */
int ftls__pem_label_is(const struct ftls__pem_block *blk, const char *want);

/* Decode a block's base64 body into a new buffer (free with ftls__free or,
 * for keys, ftls__free_secret). FTLS_E_PARSE on bad base64. */
FTLS_NODISCARD ftls_code ftls__pem_decode(const struct ftls__pem_block *blk,
                                          unsigned char **out, size_t *out_len);

/* 1 when the buffer contains a PEM BEGIN marker anywhere. */
int ftls__pem_present(const unsigned char *buf, size_t len);

#endif
