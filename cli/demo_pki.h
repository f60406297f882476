/* Minimal PKI and Kubernetes AtomicWriter emulation for `freshtls demo`. */
#ifndef FTLS_CLI_DEMO_PKI_H
#define FTLS_CLI_DEMO_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

struct demo_ca {
    EVP_PKEY *key;
    X509 *cert;
};

/* A self-signed P-256 CA valid for `days`. Returns 1 on success. */
int demo_ca_new(struct demo_ca *ca, const char *cn, int days);
void demo_ca_free(struct demo_ca *ca);
/* PEM chain (leaf, CA) and PEM key of a new leaf for `dns`; malloc'd. */
int demo_leaf_pem(const struct demo_ca *ca, const char *dns, long serial,
                  char **crt, size_t *ncrt, char **key, size_t *nkey);
/* Publish tls.crt/tls.key into `dir` as Kubernetes' AtomicWriter does.
 * *swap_ns receives CLOCK_MONOTONIC at the rename of ..data. */
int demo_k8s_publish(const char *dir, int gen, const char *crt, size_t ncrt,
                     const char *key, size_t nkey, long long *swap_ns);
int demo_write_file(const char *path, const void *data, size_t len, int mode);
void demo_rmrf(const char *path);

#endif
