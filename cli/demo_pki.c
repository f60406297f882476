/* PKI helpers and the AtomicWriter sequence for `freshtls demo`. */
#include <limits.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    char ts[64], p[PATH_MAX], q[PATH_MAX], old[256] = "";
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
        char link[PATH_MAX], target[64];
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
