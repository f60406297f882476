/* Helpers for `freshtls demo`: leaves from the freshtls minting API. */
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

#endif
