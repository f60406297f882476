/* libFuzzer target: the PEM block scanner and base64 decoder. Invariants:
 * every block's label and body lie inside the input, the cursor only moves
 * forward, line numbers (counted from the top of the input) never decrease
 * from block to block, and decoding stays in bounds and, when it succeeds,
 * gives the bytes OpenSSL's EVP_DecodeBlock gives for the same body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *p, size_t n, const char *lo, const char *hi)
{
    if (p < lo || p > hi || n > (size_t)(hi - p))
        abort();
}

/* The oracle: EVP_DecodeBlock on the body without whitespace; its output
 * counts padding as zero bytes, which must be the only difference. */
static void same_as_openssl(const struct ftls__pem_block *blk,
                            const unsigned char *der, size_t der_len)
{
    unsigned char *text = malloc(blk->body_len + 1),
                  *ref = malloc(blk->body_len + 1);
    size_t n = 0, pad = 0;
    if (text == NULL || ref == NULL)
        abort();
    for (size_t i = 0; i < blk->body_len; i++) {
        char c = blk->body[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            text[n++] = (unsigned char)c;
        pad += c == '=';
    }
    int m = EVP_DecodeBlock(ref, text, (int)n);
    if (m < 0 || (size_t)m != der_len + pad || memcmp(ref, der, der_len) != 0)
        abort();
    free(text);
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *begin = (const char *)data, *end = begin + size;
    struct ftls__pem_scan sc;
    ftls__pem_scan_init(&sc, data, size);
    size_t last_line = 0;
    for (int guard = 0; guard < 100000; guard++) {
        const char *before = sc.cur;
        struct ftls__pem_block blk;
        int r = ftls__pem_next(&sc, &blk);
        if (sc.cur < before || sc.cur > end || sc.end != end)
            abort();
        if (r == 0)
            break;
        if (blk.line == 0 || blk.line < last_line)
            abort();
        last_line = blk.line;
        if (sc.cur == before)
            abort(); /* every block, even a truncated one, consumes input */
        if (r < 0)
            continue; /* truncated block: the scan resumes after it */
        inside(blk.label, blk.label_len, begin, end);
        inside(blk.body, blk.body_len, begin, end);
        unsigned char *der = NULL;
        size_t der_len = 0;
        if (ftls__pem_decode(&blk, &der, &der_len) == FTLS_OK) {
            if (der_len > blk.body_len)
                abort(); /* base64 never expands */
            same_as_openssl(&blk, der, der_len);
            ftls__free(der);
        }
    }
    (void)ftls__pem_present(data, size);
    return 0;
}
