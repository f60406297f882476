/* PKCS#12 files encrypted the pre-OpenSSL-3 way (RC2-40, 3DES): the safe
 * bags are decrypted in a private library context that holds OpenSSL's
 * legacy provider, so the application's own context never gains legacy
 * algorithms; keys and certificates are built in the default context, and
 * the private one is freed. (OSSL_STORE cannot do this: in 3.0 its PKCS#12
 * path decrypts in the default context whatever context it is given.) */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include "base/secret.h"
#include "source/identity_internal.h"

int ftls__p12_needs_legacy(void)
{
    unsigned long e;
    int unsupported = 0;
    while ((e = ERR_peek_error()) != 0 && !unsupported) {
        unsupported = ERR_GET_REASON(e) == ERR_R_UNSUPPORTED ||
                      (ERR_GET_LIB(e) == ERR_LIB_EVP &&
                       ERR_GET_REASON(e) == EVP_R_UNSUPPORTED_ALGORITHM);
        if (!unsupported)
            ERR_get_error(); /* look further down the queue */
    }
    return unsupported;
}

/* One safe bag: a (shrouded) key into *key, a certificate onto certs. */
static int take_bag(const PKCS12_SAFEBAG *bag, const char *pass,
                    OSSL_LIB_CTX *lctx, EVP_PKEY **key, STACK_OF(X509) *certs)
{
    int nid = PKCS12_SAFEBAG_get_nid(bag);
    if (nid == NID_keyBag || nid == NID_pkcs8ShroudedKeyBag) {
        if (*key != NULL)
            return 1; /* the first key, as PKCS12_parse() takes */
        PKCS8_PRIV_KEY_INFO *p8 =
            nid == NID_keyBag
                ? (PKCS8_PRIV_KEY_INFO *)PKCS12_SAFEBAG_get0_p8inf(bag)
                : PKCS12_decrypt_skey_ex(bag, pass, -1, lctx, NULL);
        *key = p8 ? EVP_PKCS82PKEY(p8) : NULL; /* the default context */
        if (nid == NID_pkcs8ShroudedKeyBag)
            PKCS8_PRIV_KEY_INFO_free(p8);
        return *key != NULL;
    }
    if (nid == NID_certBag &&
        PKCS12_SAFEBAG_get_bag_nid(bag) == NID_x509Certificate) {
        X509 *x = PKCS12_SAFEBAG_get1_cert(bag);
        if (x == NULL || !sk_X509_push(certs, x)) {
            X509_free(x);
            return 0;
        }
    }
    return 1; /* other bags (CRLs, secrets) are not part of an identity */
}

/* The safe bags of one authenticated safe: plain, or encrypted (the RC2 /
 * 3DES part, decrypted in `lctx`). */
static STACK_OF(PKCS12_SAFEBAG) *bags_of(PKCS7 *p7, const char *pass,
                                         OSSL_LIB_CTX *lctx)
{
    int nid = OBJ_obj2nid(p7->type);
    if (nid == NID_pkcs7_data)
        return PKCS12_unpack_p7data(p7);
    if (nid != NID_pkcs7_encrypted || p7->d.encrypted == NULL ||
        p7->d.encrypted->enc_data == NULL)
        return NULL;
    const PKCS7_ENC_CONTENT *ec = p7->d.encrypted->enc_data;
    return PKCS12_item_decrypt_d2i_ex(ec->algorithm,
                                      ASN1_ITEM_rptr(PKCS12_SAFEBAGS), pass, -1,
                                      ec->enc_data, 1, lctx, NULL);
}

static int walk(PKCS12 *p12, const char *pass, OSSL_LIB_CTX *lctx,
                EVP_PKEY **key, STACK_OF(X509) *certs)
{
    STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
    int ok = safes != NULL;
    for (int i = 0; ok && i < sk_PKCS7_num(safes); i++) {
        STACK_OF(PKCS12_SAFEBAG) *bags =
            bags_of(sk_PKCS7_value(safes, i), pass, lctx);
        ok = bags != NULL;
        for (int j = 0; ok && j < sk_PKCS12_SAFEBAG_num(bags); j++)
            ok = take_bag(sk_PKCS12_SAFEBAG_value(bags, j), pass, lctx, key,
                          certs);
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return ok;
}

ftls_code ftls__p12_legacy_load(const unsigned char *der, size_t len,
                                const char *where, const char *pass,
                                EVP_PKEY **key, STACK_OF(X509) *certs,
                                ftls_error *err)
{
    *key = NULL;
    const unsigned char *p = der;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    OSSL_LIB_CTX *lctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *legacy = lctx ? OSSL_PROVIDER_load(lctx, "legacy") : NULL;
    OSSL_PROVIDER *deflt = lctx ? OSSL_PROVIDER_load(lctx, "default") : NULL;
    ftls_code rc = FTLS_OK;
    if (p12 == NULL || lctx == NULL)
        rc = ftls__err(err, p12 ? FTLS_E_NOMEM : FTLS_E_PARSE,
                       "%s: cannot read the PKCS#12 file", where);
    else if (legacy == NULL || deflt == NULL)
        rc = ftls__err(err, FTLS_E_UNSUPPORTED,
                       "%s: the PKCS#12 file uses legacy encryption (RC2 or "
                       "3DES) and OpenSSL's legacy provider is not available "
                       "here; re-export it with AES (openssl pkcs12 -export "
                       "-keypbe AES-256-CBC -certpbe AES-256-CBC)",
                       where);
    else if (!walk(p12, pass ? pass : "", lctx, key, certs) || *key == NULL ||
             sk_X509_num(certs) == 0)
        rc = ftls__err(err, FTLS_E_PARSE,
                       "%s: cannot decrypt the legacy (RC2/3DES) PKCS#12 "
                       "file, even with the legacy provider",
                       where);
    PKCS12_free(p12);
    OSSL_PROVIDER_unload(deflt);
    OSSL_PROVIDER_unload(legacy);
    OSSL_LIB_CTX_free(lctx);
    if (rc != FTLS_OK) {
        EVP_PKEY_free(*key);
        *key = NULL;
    }
    return rc;
}
