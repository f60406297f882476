/* Interception CAs on disk: load with ownership, mode and CA checks and
 * without ever prompting; export atomically, optionally encrypted. */
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/fileio.h"
#include "base/secret.h"
#include "base/str.h"
#include "mint/mint_internal.h"

#define CA_FILE_CAP (1u << 20)

static int pem_is_encrypted(const struct ftls__buf *b)
{
    const char *t = (const char *)b->data;
    return t != NULL && (strstr(t, "ENCRYPTED PRIVATE KEY") != NULL ||
                         strstr(t, "Proc-Type: 4,ENCRYPTED") != NULL);
}

/* The CA key from `kb`, decrypted with `pass` (NULL: none configured). */
static FTLS_NODISCARD ftls_code parse_key(const struct ftls__buf *kb,
                                          const char *pass,
                                          const char *key_path, EVP_PKEY **key,
                                          ftls_error *err)
{
    int encrypted = pem_is_encrypted(kb);
    if (encrypted && pass == NULL)
        return ftls__err(err, FTLS_E_PARSE,
                         "ca: %s is encrypted and no passphrase is configured "
                         "(passphrase_file or passphrase_env; the CLI's "
                         "--ca-pass-file or --ca-pass-env)",
                         key_path);
    BIO *b = BIO_new_mem_buf(kb->data, (int)kb->len);
    *key = b ? PEM_read_bio_PrivateKey(b, NULL, ftls__pem_pass_cb, (void *)pass)
             : NULL;
    BIO_free(b);
    if (*key == NULL)
        return ftls__err(err, FTLS_E_PARSE, "ca: cannot parse the key %s%s",
                         key_path, encrypted ? " (wrong passphrase?)" : "");
    return FTLS_OK;
}

/* The certificate is a usable, currently valid CA for `key`. */
static FTLS_NODISCARD ftls_code check_ca(X509 *x, EVP_PKEY *key,
                                         const char *cert_path,
                                         const char *key_path, ftls_error *err)
{
    int64_t now = (int64_t)time(NULL);
    uint32_t flags = X509_get_extension_flags(x);
    if (X509_check_ca(x) != 1 || !(flags & EXFLAG_CA))
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "ca: %s is not a CA (basicConstraints CA:TRUE "
                         "missing)",
                         cert_path);
    if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "ca: %s does not allow keyCertSign", cert_path);
    if (X509_get0_subject_key_id(x) == NULL)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "ca: %s has no subject key identifier (leaves need "
                         "it for their AKI)",
                         cert_path);
    if (ftls__asn1_time_epoch(X509_get0_notAfter(x), -1) <= now)
        return ftls__err(err, FTLS_E_EXPIRED,
                         "ca: %s has expired (or its notAfter is unreadable)",
                         cert_path);
    if (ftls__asn1_time_epoch(X509_get0_notBefore(x), INT64_MAX) > now)
        return ftls__err(err, FTLS_E_NOT_YET_VALID, "ca: %s is not valid yet",
                         cert_path);
    if (X509_check_private_key(x, key) != 1)
        return ftls__err(err, FTLS_E_KEY_MISMATCH, "ca: %s does not match %s",
                         key_path, cert_path);
    return FTLS_OK;
}

ftls_code ftls_ca_load_ex(const char *cert_path, const char *key_path,
                          const ftls_ca_file_options *o, ftls_ca **out,
                          ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(cert_path && key_path, err, "cert_path or key_path is NULL");
    struct ftls__buf cb = {0}, kb = {0}, pass = {0};
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    ftls_code rc = FTLS_OK;
    if (!(o && o->insecure_permissions) &&
        (rc = ftls__secret_file_check(key_path, "ca", err)) != FTLS_OK)
        goto done;
    if ((rc = ftls__file_read(AT_FDCWD, cert_path, CA_FILE_CAP, &cb, err)) !=
            FTLS_OK ||
        (rc = ftls__file_read(AT_FDCWD, key_path, CA_FILE_CAP, &kb, err)) !=
            FTLS_OK ||
        (rc = ftls__passphrase_get(o ? o->passphrase_file : NULL,
                                   o ? o->passphrase_env : NULL, "ca", &pass,
                                   err)) != FTLS_OK)
        goto done;
    BIO *b = BIO_new_mem_buf(cb.data, (int)cb.len);
    x = b ? PEM_read_bio_X509(b, NULL, ftls__pem_pass_cb, NULL) : NULL;
    BIO_free(b);
    if (x == NULL) {
        rc = ftls__err(err, FTLS_E_PARSE, "ca: cannot parse the certificate %s",
                       cert_path);
        goto done;
    }
    if ((rc = parse_key(&kb, (const char *)pass.data, key_path, &key, err)) !=
            FTLS_OK ||
        (rc = check_ca(x, key, cert_path, key_path, err)) != FTLS_OK)
        goto done;
    if ((rc = ftls__ca_wrap(x, key, out, err)) == FTLS_OK)
        x = NULL, key = NULL;
done:
    X509_free(x);
    EVP_PKEY_free(key);
    ftls__buf_free(&cb, 0);
    ftls__buf_free(&kb, 1);
    ftls__buf_free(&pass, 1);
    return rc;
}

ftls_code ftls_ca_load(const char *cert_path, const char *key_path,
                       ftls_ca **out, ftls_error *err)
{
    return ftls_ca_load_ex(cert_path, key_path, NULL, out, err);
}

/* PEM of the certificate, or of the key (encrypted with AES-256-CBC under
 * `pass` when not NULL), in a buffer the caller frees (wipes for a key). */
static char *pem_of(int key, const ftls_ca *ca, const char *pass, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = 0;
    if (b != NULL && !key)
        ok = PEM_write_bio_X509(b, ca->cert);
    else if (b != NULL && pass != NULL)
        ok = PEM_write_bio_PKCS8PrivateKey(b, ca->key, EVP_aes_256_cbc(), pass,
                                           (int)strlen(pass), NULL, NULL);
    else if (b != NULL)
        ok = PEM_write_bio_PrivateKey(b, ca->key, NULL, NULL, 0, NULL, NULL);
    char *data = NULL, *copy = NULL;
    long l = ok ? BIO_get_mem_data(b, &data) : -1;
    if (l > 0 && (copy = ftls__malloc((size_t)l)) != NULL) {
        memcpy(copy, data, (size_t)l);
        *len = (size_t)l;
    }
    if (l > 0 && key)
        OPENSSL_cleanse(data, (size_t)l);
    BIO_free(b);
    return copy;
}

/* The directory that will hold `path` is safe for CA material. */
static FTLS_NODISCARD ftls_code check_target_dir(const char *path,
                                                 ftls_error *err)
{
    char copy[PATH_MAX];
    if (ftls__str_printf(copy, sizeof(copy), "%s", path) != FTLS_OK)
        return ftls__err(err, FTLS_E_TOO_LARGE, "ca: path too long: %.64s...",
                         path);
    return ftls__secret_dir_check(dirname(copy), "ca", err);
}

ftls_code ftls_ca_export_ex(const ftls_ca *ca, const char *cert_path,
                            const char *key_path, const ftls_ca_file_options *o,
                            ftls_error *err)
{
    FTLS_GUARD_ARG(ca && cert_path && key_path, err, "ca or paths are NULL");
    struct ftls__buf pass = {0};
    char *cert = NULL, *key = NULL;
    size_t cl = 0, kl = 0;
    ftls_code rc = FTLS_OK;
    if (!(o && o->insecure_permissions) &&
        ((rc = check_target_dir(key_path, err)) != FTLS_OK ||
         (rc = check_target_dir(cert_path, err)) != FTLS_OK))
        goto done;
    if ((rc = ftls__passphrase_get(o ? o->passphrase_file : NULL,
                                   o ? o->passphrase_env : NULL, "ca", &pass,
                                   err)) != FTLS_OK)
        goto done;
    cert = pem_of(0, ca, NULL, &cl);
    key = pem_of(1, ca, (const char *)pass.data, &kl);
    if (cert == NULL || key == NULL) {
        rc = ftls__err(err, FTLS_E_OPENSSL, "ca: cannot encode the %s",
                       cert ? "key" : "certificate");
        goto done;
    }
    /* The key first: a crash between the two leaves no orphan public cert
     * that looks usable. */
    if ((rc = ftls__file_write_atomic(key_path, key, kl, 0600, 1, err)) !=
        FTLS_OK)
        goto done;
    if ((rc = ftls__file_write_atomic(cert_path, cert, cl, 0644, 1, err)) !=
        FTLS_OK)
        unlink(key_path); /* keep the pair together */
done:
    ftls__free(cert);
    if (key != NULL)
        ftls__free_secret(key, kl);
    ftls__buf_free(&pass, 1);
    return rc;
}

ftls_code ftls_ca_export(const ftls_ca *ca, const char *cert_path,
                         const char *key_path, ftls_error *err)
{
    return ftls_ca_export_ex(ca, cert_path, key_path, NULL, err);
}
