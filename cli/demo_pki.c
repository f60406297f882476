/* PKI helpers and the AtomicWriter sequence for `freshtls demo`. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "demo_pki.h"

static int ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static X509 *cert(EVP_PKEY *key, const char *cn, long serial, long nb, long life,
                  X509 *issuer, EVP_PKEY *ikey)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), nb);
    X509_gmtime_adj(X509_getm_notAfter(x), nb + life);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    X509_set_pubkey(x, key);
    int ok = ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
    if (issuer == NULL) {
        ok &= ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
        ok &= ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        char san[300];
        snprintf(san, sizeof(san), "DNS:%s", cn);
        ok &= ext(x, issuer, NID_authority_key_identifier, "keyid:always");
        ok &= ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        ok &= ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        ok &= ext(x, issuer, NID_ext_key_usage, "serverAuth");
        ok &= ext(x, issuer, NID_subject_alt_name, san);
    }
    if (!ok || !X509_sign(x, ikey ? ikey : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int demo_ca_new(struct demo_ca *ca, const char *cn, int days)
{
    ca->key = EVP_EC_gen("P-256");
    ca->cert = ca->key ? cert(ca->key, cn, 1, -300, 86400L * days, NULL, NULL)
                       : NULL;
    return ca->cert != NULL;
}

void demo_ca_free(struct demo_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

static char *bio_text(BIO *b, size_t *n)
{
    char *data = NULL;
    long l = BIO_get_mem_data(b, &data);
    char *out = l >= 0 ? malloc((size_t)l + 1) : NULL;
    if (out != NULL) {
        memcpy(out, data, (size_t)l);
        out[l] = '\0';
        *n = (size_t)l;
    }
    return out;
}

int demo_leaf_pem(const struct demo_ca *ca, const char *dns, long serial,
                  char **crt, size_t *ncrt, char **key, size_t *nkey)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = k ? cert(k, dns, serial, -300, 30 * 86400L, ca->cert, ca->key)
                : NULL;
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    int ok = x && bc && bk && PEM_write_bio_X509(bc, x) &&
             PEM_write_bio_X509(bc, ca->cert) &&
             PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL);
    *crt = ok ? bio_text(bc, ncrt) : NULL;
    *key = ok ? bio_text(bk, nkey) : NULL;
    if (bk != NULL) { /* wipe the key text held by the BIO */
        char *d = NULL;
        long l = BIO_get_mem_data(bk, &d);
        if (l > 0)
            OPENSSL_cleanse(d, (size_t)l);
    }
    BIO_free(bc);
    BIO_free(bk);
    X509_free(x);
    EVP_PKEY_free(k);
    return *crt != NULL && *key != NULL;
}

int demo_write_file(const char *path, const void *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return 0;
    int ok = write(fd, data, len) == (ssize_t)len;
    return close(fd) == 0 && ok;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

void demo_rmrf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int demo_k8s_publish(const char *dir, int gen, const char *crt, size_t ncrt,
                     const char *key, size_t nkey, long long *swap_ns)
{
    char ts[64], p[4200], q[4200], old[256] = "";
    snprintf(ts, sizeof(ts), "..%ld_gen%04d", (long)time(NULL), gen);
    snprintf(p, sizeof(p), "%s/..data", dir);
    ssize_t ol = readlink(p, old, sizeof(old) - 1);
    if (ol > 0)
        old[ol] = '\0';
    snprintf(p, sizeof(p), "%s/%s", dir, ts);
    if (mkdir(p, 0755) != 0)
        return 0;
    snprintf(p, sizeof(p), "%s/%s/tls.crt", dir, ts);
    snprintf(q, sizeof(q), "%s/%s/tls.key", dir, ts);
    if (!demo_write_file(p, crt, ncrt, 0644) || !demo_write_file(q, key, nkey, 0600))
        return 0;
    snprintf(p, sizeof(p), "%s/..data_tmp", dir);
    snprintf(q, sizeof(q), "%s/..data", dir);
    unlink(p);
    if (symlink(ts, p) != 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (rename(p, q) != 0)
        return 0;
    *swap_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    const char *names[2] = {"tls.crt", "tls.key"};
    for (int i = 0; i < 2; i++) {
        char link[4200], target[64];
        snprintf(link, sizeof(link), "%s/%s", dir, names[i]);
        snprintf(target, sizeof(target), "..data/%s", names[i]);
        struct stat st;
        if (lstat(link, &st) != 0 && symlink(target, link) != 0)
            return 0;
    }
    if (old[0]) {
        snprintf(p, sizeof(p), "%s/%s", dir, old);
        demo_rmrf(p);
    }
    return 1;
}
