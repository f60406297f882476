/* PEM scanning. */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/pem.h"

static const char BEGIN[] = "-----BEGIN ";
static const char END[] = "-----END ";
static const char DASHES[] = "-----";

static size_t count_lines(const char *from, const char *to)
{
    size_t n = 0;
    for (; from < to; from++)
        n += *from == '\n';
    return n;
}

int ftls__pem_present(const unsigned char *buf, size_t len)
{
    return buf != NULL && memmem(buf, len, BEGIN, sizeof(BEGIN) - 1) != NULL;
}

void ftls__pem_scan_init(struct ftls__pem_scan *sc, const void *buf,
                         size_t len)
{
    sc->cur = buf;
    sc->end = sc->cur + len;
    sc->line = 1;
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
    const char *dashes = memmem(label, (size_t)(line_end - label), DASHES,
                                sizeof(DASHES) - 1);
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

ftls_code ftls__pem_decode(const struct ftls__pem_block *blk,
                           unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (blk->body_len > INT_MAX / 2)
        return FTLS_E_TOO_LARGE;
    unsigned char *buf = ftls__malloc(blk->body_len / 4 * 3 + 3);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n1 = 0, n2 = 0;
    ftls_code rc = FTLS_E_NOMEM;
    if (buf == NULL || ctx == NULL)
        goto done;
    rc = FTLS_E_PARSE;
    /* Reject characters EVP_Decode would treat as soft separators inside a
     * block, e.g. PEM headers ("Proc-Type: 4,ENCRYPTED"). */
    if (memchr(blk->body, ':', blk->body_len) != NULL)
        goto done;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &n1, (const unsigned char *)blk->body,
                         (int)blk->body_len) < 0 ||
        EVP_DecodeFinal(ctx, buf + n1, &n2) < 0 || n1 + n2 == 0)
        goto done;
    *out = buf;
    *out_len = (size_t)(n1 + n2);
    buf = NULL;
    rc = FTLS_OK;
done:
    EVP_ENCODE_CTX_free(ctx);
    ftls__free(buf);
    return rc;
}
