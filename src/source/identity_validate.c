/* Every check an identity must pass before it is published. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "base/str.h"
#include "source/identity_internal.h"

static void subject_of(X509 *x, char *buf, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(x), buf, (int)n);
}

static FTLS_NODISCARD ftls_code check_key_policy(EVP_PKEY *pk, int min_rsa,
                                                 const char *what,
                                                 const char *where,
                                                 ftls_error *err)
{
    int id = EVP_PKEY_get_base_id(pk);
    if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) &&
        EVP_PKEY_get_bits(pk) < min_rsa)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: %s has a %d-bit RSA key; "
                         "at least %d bits are required",
                         where, what, EVP_PKEY_get_bits(pk), min_rsa);
    if (id == EVP_PKEY_DSA)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: %s has a DSA key, which "
                         "TLS no longer uses",
                         where, what);
    return FTLS_OK;
}

/* EC keys: only curves TLS can sign with (TLS 1.3 signature schemes and
 * what clients implement); OpenSSL itself would load any named curve. */
static FTLS_NODISCARD ftls_code check_curve(EVP_PKEY *pk, const char *what,
                                            const char *where, ftls_error *err)
{
    static const char *const usable[] = {"prime256v1",      "secp384r1",
                                         "secp521r1",       "brainpoolP256r1",
                                         "brainpoolP384r1", "brainpoolP512r1"};
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
        return FTLS_OK;
    char curve[64] = "";
    size_t n = 0;
    if (!EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve), &n))
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: %s has an EC key on an "
                         "unnamed (explicit) curve, which TLS cannot use",
                         where, what);
    for (size_t i = 0; i < FTLS_ARRAY_LEN(usable); i++)
        if (strcmp(curve, usable[i]) == 0)
            return FTLS_OK;
    return ftls__err(err, FTLS_E_KEY_POLICY,
                     "%s: %s has an EC key on curve "
                     "%s, which TLS cannot sign with (use P-256, P-384 or "
                     "P-521)",
                     where, what, curve);
}

/* Purpose: what the identity is for, and never a CA certificate. */
static FTLS_NODISCARD ftls_code check_purpose(const ftls_identity *id,
                                              int purpose, const char *where,
                                              ftls_error *err)
{
    if (X509_get_extension_flags(id->leaf) & EXFLAG_CA)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: the leaf is a CA "
                         "certificate (basicConstraints CA:TRUE); a TLS "
                         "identity must be an end-entity certificate",
                         where);
    int srv = X509_check_purpose(id->leaf, X509_PURPOSE_SSL_SERVER, 0) == 1;
    int cli = X509_check_purpose(id->leaf, X509_PURPOSE_SSL_CLIENT, 0) == 1;
    if (purpose == FTLS_IDENTITY_SERVER && !srv)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: the leaf's key usage or "
                         "extended key usage does not allow TLS server "
                         "authentication (serverAuth)%s",
                         where,
                         cli ? "; it is a client certificate (set purpose "
                               "FTLS_IDENTITY_CLIENT to use it as one)"
                             : "");
    if (purpose == FTLS_IDENTITY_CLIENT && !cli)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: the leaf's key usage or "
                         "extended key usage does not allow TLS client "
                         "authentication (clientAuth)",
                         where);
    if (purpose == FTLS_IDENTITY_ANY && !srv && !cli)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "%s: the leaf allows neither "
                         "TLS server nor client authentication",
                         where);
    return FTLS_OK;
}

/* Length and duplicates: every client receives the whole chain. */
static FTLS_NODISCARD ftls_code check_chain_shape(const ftls_identity *id,
                                                  int max, const char *where,
                                                  ftls_error *err)
{
    int n = sk_X509_num(id->chain);
    if (n > max)
        return ftls__err(err, FTLS_E_CHAIN_ORDER,
                         "%s: %d certificates follow "
                         "the leaf; at most %d are allowed",
                         where, n, max);
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(id->chain, i);
        if (X509_cmp(x, id->leaf) == 0)
            return ftls__err(err, FTLS_E_CHAIN_ORDER,
                             "%s: certificate %d "
                             "repeats the leaf",
                             where, i + 2);
        for (int j = 0; j < i; j++)
            if (X509_cmp(x, sk_X509_value(id->chain, j)) == 0)
                return ftls__err(err, FTLS_E_CHAIN_ORDER,
                                 "%s: certificate "
                                 "%d repeats certificate %d",
                                 where, i + 2, j + 2);
    }
    return FTLS_OK;
}

/* OpenSSL's own acceptance: install the identity in a throwaway context at
 * the security level the serving contexts use, as they will. */
static FTLS_NODISCARD ftls_code check_openssl_accepts(const ftls_identity *id,
                                                      int level,
                                                      const char *where,
                                                      ftls_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
    if (level > 0)
        SSL_CTX_set_security_level(ctx, level);
    ftls_code rc = FTLS_OK;
    if (SSL_CTX_use_cert_and_key(ctx, id->leaf, id->key, id->chain, 1) != 1)
        rc = ftls__err(err, FTLS_E_KEY_POLICY,
                       "%s: OpenSSL refuses this "
                       "identity at security level %d",
                       where, SSL_CTX_get_security_level(ctx));
    SSL_CTX_free(ctx);
    return rc;
}

static FTLS_NODISCARD ftls_code check_order(const ftls_identity *id,
                                            const char *where, ftls_error *err)
{
    X509 *prev = id->leaf;
    for (int i = 0; i < sk_X509_num(id->chain); i++) {
        X509 *x = sk_X509_value(id->chain, i);
        if (X509_check_issued(x, prev) != X509_V_OK) {
            char a[256], b[256];
            subject_of(x, a, sizeof(a));
            subject_of(prev, b, sizeof(b));
            return ftls__err(err, FTLS_E_CHAIN_ORDER,
                             "%s: chain is not "
                             "ordered leaf-first: certificate %d (%s) did not "
                             "issue certificate %d (%s)",
                             where, i + 2, a, i + 1, b);
        }
        prev = x;
    }
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code check_time(const ftls_identity *id, int64_t now,
                                           const char *where, ftls_error *err)
{
    char s[256];
    /* ASN1_TIME_cmp_time_t: -1, 0, 1 as before, equal, after; -2 unreadable. */
    int nb = ASN1_TIME_cmp_time_t(X509_get0_notBefore(id->leaf), (time_t)now);
    int na = ASN1_TIME_cmp_time_t(X509_get0_notAfter(id->leaf), (time_t)now);
    if (nb == -2 || na == -2) {
        subject_of(id->leaf, s, sizeof(s));
        return ftls__err(err, FTLS_E_PARSE,
                         "%s: certificate %s has a "
                         "validity time that cannot be read",
                         where, s);
    }
    if (nb > 0) {
        subject_of(id->leaf, s, sizeof(s));
        return ftls__err(err, FTLS_E_NOT_YET_VALID,
                         "%s: certificate %s is "
                         "not valid yet",
                         where, s);
    }
    if (na <= 0) {
        subject_of(id->leaf, s, sizeof(s));
        return ftls__err(err, FTLS_E_EXPIRED,
                         "%s: certificate %s has "
                         "expired",
                         where, s);
    }
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code check_verify(const ftls_identity *id,
                                             ftls_roots *roots, int purpose,
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
        X509_STORE_CTX_set_purpose(ctx, purpose == FTLS_IDENTITY_CLIENT
                                            ? X509_PURPOSE_SSL_CLIENT
                                            : X509_PURPOSE_SSL_SERVER);
        if (X509_verify_cert(ctx) != 1) {
            int e = X509_STORE_CTX_get_error(ctx);
            rc = ftls__err(err, FTLS_E_VERIFY,
                           "%s: chain does not verify "
                           "against the configured roots: %s (depth %d)",
                           where, X509_verify_cert_error_string(e),
                           X509_STORE_CTX_get_error_depth(ctx));
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

/* The private key belongs to the leaf; when it belongs to another
 * certificate of the chain, say which (a chain in the wrong order). The
 * caller holds an OpenSSL error mark; the probes' errors are dropped. */
static FTLS_NODISCARD ftls_code check_key_match(const ftls_identity *id,
                                                const char *where,
                                                ftls_error *err)
{
    if (X509_check_private_key(id->leaf, id->key) == 1)
        return FTLS_OK;
    int other = -1;
    for (int i = 0; i < sk_X509_num(id->chain) && other < 0; i++)
        if (X509_check_private_key(sk_X509_value(id->chain, i), id->key) == 1)
            other = i + 2;
    ERR_pop_to_mark();
    ERR_set_mark();
    if (other > 0)
        return ftls__err(err, FTLS_E_CHAIN_ORDER,
                         "%s: the private key belongs to certificate %d, but "
                         "the leaf must come first",
                         where, other);
    return ftls__err(err, FTLS_E_KEY_MISMATCH,
                     "%s: the private key does not match the certificate",
                     where);
}

/* Key size and algorithm policy for the leaf and every chain certificate. */
static FTLS_NODISCARD ftls_code check_key_policies(const ftls_identity *id,
                                                   int min_rsa,
                                                   const char *where,
                                                   ftls_error *err)
{
    ftls_code rc = check_key_policy(id->key, min_rsa, "the leaf", where, err);
    for (int i = 0; rc == FTLS_OK && i < sk_X509_num(id->chain); i++) {
        char what[32];
        ftls__str_message(what, sizeof(what), "certificate %d", i + 2);
        EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(id->chain, i));
        if (pk != NULL)
            rc = check_key_policy(pk, min_rsa, what, where, err);
    }
    return rc;
}

ftls_code ftls__identity_validate(const ftls_identity *id,
                                  const ftls_identity_options *o, int64_t now,
                                  const char *where, ftls_error *err)
{
    ERR_set_mark();
    int max_chain = o->max_chain > 0 ? o->max_chain : FTLS_MAX_CHAIN_DEFAULT;
    int min_rsa =
        o->min_rsa_bits > 0 ? o->min_rsa_bits : FTLS_MIN_RSA_BITS_DEFAULT;
    ftls_code rc;
    if ((rc = check_key_match(id, where, err)) != FTLS_OK ||
        (rc = check_chain_shape(id, max_chain, where, err)) != FTLS_OK ||
        (rc = check_order(id, where, err)) != FTLS_OK ||
        (rc = check_purpose(id, o->purpose, where, err)) != FTLS_OK ||
        (rc = check_curve(id->key, "the leaf", where, err)) != FTLS_OK)
        goto done;
    if (!o->allow_invalid_time &&
        (rc = check_time(id, now, where, err)) != FTLS_OK)
        goto done;
    if ((rc = check_key_policies(id, min_rsa, where, err)) != FTLS_OK ||
        (rc = check_openssl_accepts(id, o->security_level, where, err)) !=
            FTLS_OK)
        goto done;
    if (o->verify_roots != NULL)
        rc = check_verify(id, o->verify_roots, o->purpose, where, err);
done:
    if (rc == FTLS_OK)
        ERR_pop_to_mark();
    else
        ERR_clear_last_mark();
    return rc;
}
