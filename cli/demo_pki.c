/* PKI helpers for `freshtls demo`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "demo_pki.h"

void demo_serial_hex(X509 *x, char out[80])
{
    BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, 80, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* PEM of a BIO's contents in a malloc'd buffer; wipes the BIO's copy. */
static char *take_text(BIO *b, size_t *n)
{
    char *data = NULL;
    long l = BIO_get_mem_data(b, &data);
    char *out = l >= 0 ? malloc((size_t)l + 1) : NULL;
    if (out != NULL) {
        memcpy(out, data, (size_t)l);
        out[l] = '\0';
        *n = (size_t)l;
    }
    if (l > 0)
        OPENSSL_cleanse(data, (size_t)l);
    return out;
}

int demo_leaf_pem(ftls_ca *ca, const char *dns, char **crt, size_t *ncrt,
                  char **key, size_t *nkey, char serial[80])
{
    ftls_mint_options o = {.lifetime = 30 * 86400};
    ftls_leaf *leaf = NULL;
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    *crt = *key = NULL;
    if (bc && bk && ftls_leaf_mint(ca, dns, &o, 0, &leaf, NULL) == FTLS_OK &&
        PEM_write_bio_X509(bc, ftls_leaf_get0_cert(leaf)) &&
        PEM_write_bio_X509(bc, ftls_ca_get0_cert(ca)) &&
        PEM_write_bio_PrivateKey(bk, ftls_leaf_get0_key(leaf), NULL, NULL, 0,
                                 NULL, NULL)) {
        *crt = take_text(bc, ncrt);
        *key = take_text(bk, nkey);
        demo_serial_hex(ftls_leaf_get0_cert(leaf), serial);
    }
    BIO_free(bc);
    BIO_free(bk);
    ftls_leaf_free(leaf);
    return *crt != NULL && *key != NULL;
}
