/* libFuzzer target: the resolver's ClientHello path. The input is the body
 * of a ClientHello handshake message; the target frames it as one TLS
 * record and feeds it to a server SSL whose context has the leaf-cache
 * resolver attached, so OpenSSL's parser, the SNI extraction, host-name
 * normalization and (for a valid name) a mint all run on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include <openssl/ssl.h>

#include <freshtls/freshtls.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *g_ctx;

static void audit(const char *name, ftls_code why, const char *msg, void *ud)
{
    (void)name, (void)why, (void)msg, (void)ud;
}

static SSL_CTX *setup(void)
{
    ftls_ca *ca = NULL;
    ftls_leaf_cache *cache = NULL;
    ftls_leaf_cache_options o = {.capacity = 64};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || ftls_ca_generate(NULL, &ca, NULL) != FTLS_OK ||
        ftls_leaf_cache_new(ca, &o, &cache, NULL) != FTLS_OK ||
        ftls_leaf_cache_attach(ctx, cache, audit, NULL, NULL) != FTLS_OK)
        abort();
    ftls_ca_free(ca); /* the cache holds its own reference */
    return ctx;       /* the cache lives as long as the process */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16000)
        return 0;
    if (g_ctx == NULL)
        g_ctx = setup();
    unsigned char *rec = malloc(size + 9);
    if (rec == NULL)
        return 0;
    size_t hs = size + 4;
    unsigned char hdr[9] = {0x16,
                            0x03,
                            0x01,
                            (unsigned char)(hs >> 8),
                            (unsigned char)hs,
                            0x01,
                            0,
                            (unsigned char)(size >> 8),
                            (unsigned char)size};
    memcpy(rec, hdr, sizeof(hdr));
    memcpy(rec + 9, data, size);
    SSL *s = SSL_new(g_ctx);
    BIO *in = BIO_new_mem_buf(rec, (int)(size + 9));
    BIO *out = BIO_new(BIO_s_mem());
    if (s != NULL && in != NULL && out != NULL) {
        SSL_set_bio(s, in, out);
        in = out = NULL;
        SSL_set_accept_state(s);
        (void)SSL_do_handshake(s);
    }
    BIO_free(in);
    BIO_free(out);
    SSL_free(s);
    free(rec);
    ERR_clear_error();
    return 0;
}
