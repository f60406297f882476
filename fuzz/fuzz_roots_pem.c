/* libFuzzer target: PEM text through the whole root-loading path (block
 * scanning, base64, DER walking, name parsing, dedupe, index) and the
 * lazy store's lookup. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include <freshtls/freshtls.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ftls_roots *r = NULL;
    if (ftls_roots_load_pem(data, size, "fuzz", &r, NULL) != FTLS_OK)
        return 0;
    X509_STORE *store = NULL;
    if (ftls_roots_new_store(r, &store, NULL) == FTLS_OK) {
        /* Ask the store for every root by subject: exercises the lookup. */
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        if (ctx != NULL && X509_STORE_CTX_init(ctx, store, NULL, NULL)) {
            for (size_t i = 0; i < ftls_roots_count(r); i++) {
                ftls_root_info info;
                if (ftls_roots_get0_info(r, i, &info) != FTLS_OK)
                    continue;
                STACK_OF(X509) *sk =
                    X509_STORE_CTX_get1_certs(ctx, (X509_NAME *)info.subject);
                sk_X509_pop_free(sk, X509_free);
            }
        }
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
    }
    ftls_roots_free(r);
    return 0;
}
