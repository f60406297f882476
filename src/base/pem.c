/* PEM scanning. */
#include <limits.h>
#include <string.h>

#include "base/pem.h"

static const char BEGIN[] = "-----BEGIN ";
static const char END[] = "-----END ";
static const char DASHES[] = "-----";

/* Newlines in [from, to): memchr (vectorised) from one to the next, as a
 * byte loop over a whole bundle was a tenth of a cold load. */
static size_t count_lines(const char *from, const char *to)
{
    size_t n = 0;
    while (from < to && (from = memchr(from, '\n', (size_t)(to - from)))) {
        n++;
        from++;
    }
    return n;
}

int ftls__pem_present(const unsigned char *buf, size_t len)
{
    return buf != NULL && memmem(buf, len, BEGIN, sizeof(BEGIN) - 1) != NULL;
}

int ftls__pem_has_bom(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    return len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf;
}

void ftls__pem_scan_init(struct ftls__pem_scan *sc, const void *buf, size_t len)
{
    sc->cur = buf;
    sc->end = sc->cur + len;
    sc->line = 1;
    if (ftls__pem_has_bom(buf, len))
        sc->cur += 3; /* as OpenSSL's PEM reader does */
}

/* Move the scan to `to`, counting the lines it passes. */
static void advance(struct ftls__pem_scan *sc, const char *to)
{
    sc->line += count_lines(sc->cur, to);
    sc->cur = to;
}

static int scan_block(const char **cursor, const char *end,
                      struct ftls__pem_block *blk);

int ftls__pem_next(struct ftls__pem_scan *sc, struct ftls__pem_block *blk)
{
    const char *cursor = sc->cur;
    int r = scan_block(&cursor, sc->end, blk);
    if (r != 0) {
        /* blk->line counted from sc->cur: make it absolute. */
        blk->line += sc->line - 1;
    }
    advance(sc, cursor);
    return r;
}

static int scan_block(const char **cursor, const char *end,
                      struct ftls__pem_block *blk)
{
    const char *start = *cursor;
    const char *b;
    for (;;) {
        b = memmem(*cursor, (size_t)(end - *cursor), BEGIN, sizeof(BEGIN) - 1);
        if (b == NULL) {
            *cursor = end;
            return 0;
        }
        /* A marker must start a line. */
        if (b == start || b[-1] == '\n')
            break;
        *cursor = b + 1;
    }
    memset(blk, 0, sizeof(*blk));
    blk->line = count_lines(start, b) + 1;
    const char *label = b + sizeof(BEGIN) - 1;
    const char *eol = memchr(label, '\n', (size_t)(end - label));
    const char *line_end = eol ? eol : end;
    const char *dashes =
        memmem(label, (size_t)(line_end - label), DASHES, sizeof(DASHES) - 1);
    if (dashes == NULL || eol == NULL) {
        *cursor = end;
        return -1;
    }
    blk->label = label;
    blk->label_len = (size_t)(dashes - label);
    blk->body = eol + 1;
    /* Find "-----END <label>-----" at the start of a line. */
    const char *p = blk->body;
    for (;;) {
        const char *e = memmem(p, (size_t)(end - p), END, sizeof(END) - 1);
        if (e == NULL) {
            *cursor = end;
            return -1;
        }
        const char *el = e + sizeof(END) - 1;
        if ((e[-1] == '\n') && (size_t)(end - el) >= blk->label_len + 5 &&
            memcmp(el, blk->label, blk->label_len) == 0 &&
            memcmp(el + blk->label_len, DASHES, 5) == 0) {
            blk->body_len = (size_t)(e - blk->body);
            *cursor = el + blk->label_len + 5;
            return 1;
        }
        if (memmem(blk->body, (size_t)(e - blk->body), BEGIN,
                   sizeof(BEGIN) - 1) != NULL) {
            /* Another BEGIN before our END: this block is truncated. */
            *cursor = e;
            return -1;
        }
        p = el;
    }
}

int ftls__pem_label_is(const struct ftls__pem_block *blk, const char *want)
{
    size_t n = strlen(want);
    return blk->label_len == n && memcmp(blk->label, want, n) == 0;
}

/* Base64 values; B64_SPACE: skipped; B64_PAD: '='; B64_BAD: anything else. */
enum { B64_BAD = -1, B64_SPACE = -2, B64_PAD = -3 };
static const signed char b64_value[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -1, -1, -2, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, 62, -1, -1, -1, 63, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    61, -1, -1, -1, -3, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1,
    -1, -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Strict base64 (RFC 4648 alphabet, whitespace between characters, padding
 * only at the end, whole quanta). EVP_DecodeUpdate costs ~40 instructions
 * per byte, most of a cold system-bundle load on OpenSSL 3.5 and later;
 * this table-driven loop costs a few. Returns the bytes written or -1. */
static long b64_decode(const unsigned char *in, size_t len, unsigned char *out)
{
    unsigned long acc = 0;
    int nacc = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        /* Fast path: a whole quantum of digits (PEM lines are 64 of them),
         * where nothing else can apply. */
        while (nacc == 0 && pad == 0 && len - i >= 4) {
            int a = b64_value[in[i]], b = b64_value[in[i + 1]],
                c = b64_value[in[i + 2]], d = b64_value[in[i + 3]];
            if ((a | b | c | d) < 0)
                break; /* space, padding or garbage: one at a time */
            unsigned long q = (unsigned long)a << 18 | (unsigned long)b << 12 |
                              (unsigned long)c << 6 | (unsigned long)d;
            out[o++] = (unsigned char)(q >> 16);
            out[o++] = (unsigned char)(q >> 8);
            out[o++] = (unsigned char)q;
            i += 4;
        }
        if (i >= len)
            break;
        int v = b64_value[in[i]];
        if (v == B64_SPACE)
            continue;
        if (v == B64_PAD) {
            if (++pad > 2)
                return -1;
            continue;
        }
        if (v < 0 || pad)
            return -1; /* not base64, or data after padding */
        acc = acc << 6 | (unsigned long)v;
        if (++nacc == 4) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0, nacc = 0;
        }
    }
    if (pad == 0)
        return nacc == 0 ? (long)o : -1;
    if (nacc + pad != 4)
        return -1;
    acc <<= 6 * pad;
    out[o++] = (unsigned char)(acc >> 16);
    if (pad == 1)
        out[o++] = (unsigned char)(acc >> 8);
    return (long)o;
}

ftls_code ftls__pem_decode(const struct ftls__pem_block *blk,
                           unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (blk->body_len > INT_MAX / 2)
        return FTLS_E_TOO_LARGE;
    size_t cap = blk->body_len / 4 * 3 + 3;
    unsigned char *buf = ftls__malloc(cap);
    if (buf == NULL)
        return FTLS_E_NOMEM;
    long n = b64_decode((const unsigned char *)blk->body, blk->body_len, buf);
    if (n <= 0) {
        /* A block may hold a private key: wipe what was decoded. */
        ftls__free_secret(buf, cap);
        return FTLS_E_PARSE;
    }
    *out = buf;
    *out_len = (size_t)n;
    return FTLS_OK;
}
