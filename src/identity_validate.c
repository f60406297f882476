/* Every check an identity must pass before it is published. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "identity_internal.h"

static void subject_of(X509 *x, char *buf, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(x), buf, (int)n);
}

static ftls_code check_key_policy(EVP_PKEY *pk, int min_rsa, const char *what,
                                  const char *where, ftls_error *err)
{
    int id = EVP_PKEY_get_base_id(pk);
    if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) &&
        EVP_PKEY_get_bits(pk) < min_rsa)
        return ftls__err(err, FTLS_E_KEY_POLICY, "%s: %s has a %d-bit RSA key; "
                         "at least %d bits are required", where, what,
                         EVP_PKEY_get_bits(pk), min_rsa);
    if (id == EVP_PKEY_DSA)
        return ftls__err(err, FTLS_E_KEY_POLICY, "%s: %s has a DSA key, which "
                         "TLS no longer uses", where, what);
    return FTLS_OK;
}

static ftls_code check_order(const ftls_identity *id, const char *where,
                             ftls_error *err)
{
    X509 *prev = id->leaf;
    for (int i = 0; i < sk_X509_num(id->chain); i++) {
        X509 *x = sk_X509_value(id->chain, i);
        if (X509_check_issued(x, prev) != X509_V_OK) {
            char a[256], b[256];
            subject_of(x, a, sizeof(a));
            subject_of(prev, b, sizeof(b));
            return ftls__err(err, FTLS_E_CHAIN_ORDER, "%s: chain is not "
                             "ordered leaf-first: certificate %d (%s) did not "
                             "issue certificate %d (%s)", where, i + 2, a,
                             i + 1, b);
        }
        prev = x;
    }
    return FTLS_OK;
}

static ftls_code check_time(const ftls_identity *id, int64_t now,
                            const char *where, ftls_error *err)
{
    time_t t = (time_t)now;
    char s[256];
    if (X509_cmp_time(X509_get0_notBefore(id->leaf), &t) > 0) {
        subject_of(id->leaf, s, sizeof(s));
        return ftls__err(err, FTLS_E_NOT_YET_VALID, "%s: certificate %s is "
                         "not valid yet", where, s);
    }
    if (X509_cmp_time(X509_get0_notAfter(id->leaf), &t) < 0) {
        subject_of(id->leaf, s, sizeof(s));
        return ftls__err(err, FTLS_E_EXPIRED, "%s: certificate %s has "
                         "expired", where, s);
    }
    return FTLS_OK;
}

static ftls_code check_verify(const ftls_identity *id, ftls_roots *roots,
                              const char *where, ftls_error *err)
{
    X509_STORE *store = NULL;
    ftls_code rc = ftls_roots_new_store(roots, &store, err);
    if (rc != FTLS_OK)
        return rc;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, id->leaf, id->chain)) {
        rc = ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
    } else {
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        if (X509_verify_cert(ctx) != 1) {
            int e = X509_STORE_CTX_get_error(ctx);
            rc = ftls__err(err, FTLS_E_VERIFY, "%s: chain does not verify "
                           "against the configured roots: %s (depth %d)",
                           where, X509_verify_cert_error_string(e),
                           X509_STORE_CTX_get_error_depth(ctx));
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

ftls_code ftls__identity_validate(const ftls_identity *id,
                                  const ftls_identity_options *o, int64_t now,
                                  const char *where, ftls_error *err)
{
    ERR_set_mark();
    ftls_code rc = FTLS_OK;
    if (X509_check_private_key(id->leaf, id->key) != 1) {
        int other = -1;
        for (int i = 0; i < sk_X509_num(id->chain) && other < 0; i++)
            if (X509_check_private_key(sk_X509_value(id->chain, i), id->key) == 1)
                other = i + 2;
        ERR_pop_to_mark();
        ERR_set_mark();
        if (other > 0)
            rc = ftls__err(err, FTLS_E_CHAIN_ORDER, "%s: the private key "
                           "belongs to certificate %d, but the leaf must come "
                           "first", where, other);
        else
            rc = ftls__err(err, FTLS_E_KEY_MISMATCH, "%s: the private key "
                           "does not match the certificate", where);
        goto done;
    }
    if ((rc = check_order(id, where, err)) != FTLS_OK)
        goto done;
    if (!o->allow_invalid_time && (rc = check_time(id, now, where, err)) != FTLS_OK)
        goto done;
    int min_rsa = o->min_rsa_bits > 0 ? o->min_rsa_bits : FTLS_MIN_RSA_BITS_DEFAULT;
    if ((rc = check_key_policy(id->key, min_rsa, "the leaf", where, err)) != FTLS_OK)
        goto done;
    for (int i = 0; i < sk_X509_num(id->chain); i++) {
        char what[32];
        snprintf(what, sizeof(what), "certificate %d", i + 2);
        EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(id->chain, i));
        if (pk != NULL &&
            (rc = check_key_policy(pk, min_rsa, what, where, err)) != FTLS_OK)
            goto done;
    }
    if (o->verify_roots != NULL)
        rc = check_verify(id, o->verify_roots, where, err);
done:
    if (rc == FTLS_OK)
        ERR_pop_to_mark();
    else
        ERR_clear_last_mark();
    return rc;
}
