/* Helpers for `freshtls demo`: leaves from the freshtls minting API, and
 * the Kubernetes AtomicWriter sequence. */
#ifndef FTLS_CLI_DEMO_PKI_H
#define FTLS_CLI_DEMO_PKI_H

#include <stddef.h>

#include <freshtls/freshtls.h>

/* Mint a leaf for `dns` valid 30 days; PEM chain (leaf, CA) and PEM key
 * into malloc'd buffers, the serial as hex. Returns 1 on success. */
int demo_leaf_pem(ftls_ca *ca, const char *dns, char **crt, size_t *ncrt,
                  char **key, size_t *nkey, char serial[80]);
/* The serial of a certificate as upper-case hex ("?" on failure). */
void demo_serial_hex(X509 *x, char out[80]);
/* Publish tls.crt/tls.key into `dir` as Kubernetes' AtomicWriter does.
 * *swap_ns receives CLOCK_MONOTONIC at the rename of ..data. */
int demo_k8s_publish(const char *dir, int gen, const char *crt, size_t ncrt,
                     const char *key, size_t nkey, long long *swap_ns);
int demo_write_file(const char *path, const void *data, size_t len, int mode);
void demo_rmrf(const char *path);

#endif
