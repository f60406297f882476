/* Interception CAs: generate, reference counting (files: mint_ca_file.c). */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/der.h"
#include "mint/mint_internal.h"

int64_t ftls__asn1_time_epoch(const ASN1_TIME *t, int64_t unreadable)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return unreadable;
    return ftls__days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                 (unsigned)tm.tm_mday) *
               86400 +
           tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

ftls_code ftls__ca_wrap(X509 *cert, EVP_PKEY *key, ftls_ca **out,
                        ftls_error *err)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    ftls_ca *ca = ftls__calloc(1, sizeof(*ca));
    if (ca == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "ca: out of memory");
    atomic_init(&ca->refs, 1);
    X509_get_extension_flags(cert); /* see mint_leaf.c: openssl#32609 */
    if ((ca->sign_template = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(ca->sign_template, NULL, EVP_sha256(), NULL, key) !=
            1) {
        EVP_MD_CTX_free(ca->sign_template);
        ftls__free(ca);
        return ftls__err(err, FTLS_E_OPENSSL, "ca: the key cannot sign");
    }
    pthread_mutex_init(&ca->sign_lock, NULL);
    ca->cert = cert;
    ca->key = key;
    ca->not_before = ftls__asn1_time_epoch(X509_get0_notBefore(cert), 0);
    ca->not_after = ftls__asn1_time_epoch(X509_get0_notAfter(cert), INT64_MAX);
    if (ski != NULL && (size_t)ASN1_STRING_length(ski) <= sizeof(ca->ski)) {
        ca->ski_len = (size_t)ASN1_STRING_length(ski);
        memcpy(ca->ski, ASN1_STRING_get0_data(ski), ca->ski_len);
    }
    *out = ca;
    return FTLS_OK;
}

void ftls_ca_free(ftls_ca *ca)
{
    if (ca == NULL || atomic_fetch_sub(&ca->refs, 1) != 1)
        return;
    ftls__pool_free(atomic_load(&ca->pool));
    EVP_MD_CTX_free(ca->sign_template);
    pthread_mutex_destroy(&ca->sign_lock);
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key); /* OpenSSL clears the private scalar */
    ftls__free_secret(ca, sizeof(*ca));
}

ftls_code ftls_ca_up_ref(ftls_ca *ca)
{
    if (ca == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    atomic_fetch_add(&ca->refs, 1);
    return FTLS_OK;
}

X509 *ftls_ca_get0_cert(const ftls_ca *ca)
{
    return ca ? ca->cert : NULL;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* The self-signed CA certificate for `key`; NULL with *step naming the
 * step that failed. SKI and AKI (keyid = SKI) as real roots carry them:
 * OpenSSL 4.0 and Python check AKI under X509_STRICT. */
static X509 *build_ca_cert(EVP_PKEY *key, const char *cn, int64_t validity,
                           const char **step)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int ok =
        (*step = "allocate", x && name) &&
        (*step = "serial",
         X509_set_version(x, X509_VERSION_3) && ftls__mint_set_serial(x)) &&
        (*step = "validity",
         X509_gmtime_adj(X509_getm_notBefore(x), -FTLS_MINT_BACKDATE_DEFAULT) &&
             X509_gmtime_adj(X509_getm_notAfter(x), (long)validity)) &&
        (*step = "subject name",
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) &&
             X509_set_subject_name(x, name) && X509_set_issuer_name(x, name)) &&
        (*step = "public key", X509_set_pubkey(x, key)) &&
        (*step = "extensions",
         add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, NID_subject_key_identifier, "hash") &&
             add_ext(x, NID_authority_key_identifier, "keyid:always")) &&
        (*step = "signature", X509_sign(x, key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

ftls_code ftls_ca_generate(const ftls_ca_options *o, ftls_ca **out,
                           ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    const char *cn =
        o && o->common_name ? o->common_name : "freshtls interception CA";
    int64_t validity = o && o->validity ? o->validity : 365LL * 86400;
    FTLS_GUARD_ARG(validity > 0, err, "validity must be positive");
    const char *step = "key generation";
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? build_ca_cert(key, cn, validity, &step) : NULL;
    if (x == NULL) {
        EVP_PKEY_free(key);
        return ftls__err(err, FTLS_E_OPENSSL,
                         "ca: cannot generate the CA "
                         "certificate (%s failed)",
                         step);
    }
    ftls_code rc = ftls__ca_wrap(x, key, out, err);
    if (rc != FTLS_OK) {
        X509_free(x);
        EVP_PKEY_free(key);
    }
    return rc;
}
