/* The identity object: accessors, applying to SSL objects, lifetime. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "base/der.h"
#include "source/identity_internal.h"

void ftls_identity_free(ftls_identity *id)
{
    if (id == NULL ||
        atomic_fetch_sub_explicit(&id->refs, 1, memory_order_acq_rel) != 1)
        return;
    X509_free(id->leaf);
    sk_X509_pop_free(id->chain, X509_free);
    /* EVP_PKEY_free clears the private components (BN_clear_free). */
    EVP_PKEY_free(id->key);
    ftls__free_secret(id, sizeof(*id));
}

ftls_code ftls_identity_up_ref(ftls_identity *id)
{
    if (id == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    atomic_fetch_add_explicit(&id->refs, 1, memory_order_relaxed);
    return FTLS_OK;
}

X509 *ftls_identity_get0_leaf(const ftls_identity *id)
{
    return id ? id->leaf : NULL;
}

STACK_OF(X509) *ftls_identity_get0_chain(const ftls_identity *id)
{
    return id ? id->chain : NULL;
}

EVP_PKEY *ftls_identity_get0_key(const ftls_identity *id)
{
    return id ? id->key : NULL;
}

uint64_t ftls_identity_generation(const ftls_identity *id)
{
    return id ? id->generation : 0;
}

ftls_code ftls_identity_fingerprint(const ftls_identity *id,
                                    unsigned char out[32])
{
    if (id == NULL || out == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    memcpy(out, id->sha256, 32);
    return FTLS_OK;
}

int64_t ftls_identity_not_after(const ftls_identity *id)
{
    return id ? id->not_after : 0;
}

ftls_code ftls__identity_finish(ftls_identity *id, ftls_error *err)
{
    /* Fill OpenSSL's per-certificate extension cache now, before the
     * identity is published to other threads: its lazy first fill races
     * when several handshakes do it at once (openssl/openssl#32609). */
    X509_get_extension_flags(id->leaf);
    for (int i = 0; i < sk_X509_num(id->chain); i++)
        X509_get_extension_flags(sk_X509_value(id->chain, i));
    unsigned char *der = NULL;
    int len = i2d_X509(id->leaf, &der);
    unsigned n = 0;
    struct ftls__cert_fields f;
    const char *why = NULL;
    ftls_code rc = FTLS_OK;
    if (len <= 0 ||
        !EVP_Digest(der, (size_t)len, id->sha256, &n, EVP_sha256(), NULL))
        rc = ftls__err(err, FTLS_E_OPENSSL, "identity: cannot encode leaf");
    else if (ftls__der_cert_fields(der, (size_t)len, &f, &why) == 0)
        id->not_after = f.not_after;
    OPENSSL_free(der);
    return rc;
}

ftls_code ftls_identity_use_ctx(const ftls_identity *id, SSL_CTX *ctx,
                                ftls_error *err)
{
    FTLS_GUARD_ARG(id != NULL && ctx != NULL, err, "id or ctx is NULL");
    if (SSL_CTX_use_cert_and_key(ctx, id->leaf, id->key, id->chain, 1) != 1)
        return ftls__err(err, FTLS_E_OPENSSL,
                         "identity: SSL_CTX_use_cert_and_key failed");
    return FTLS_OK;
}

ftls_code ftls_identity_use_ssl(const ftls_identity *id, SSL *ssl,
                                ftls_error *err)
{
    FTLS_GUARD_ARG(id != NULL && ssl != NULL, err, "id or ssl is NULL");
    if (SSL_use_cert_and_key(ssl, id->leaf, id->key, id->chain, 1) != 1)
        return ftls__err(err, FTLS_E_OPENSSL,
                         "identity: SSL_use_cert_and_key failed");
    return FTLS_OK;
}
