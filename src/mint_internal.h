/* Internal representation of CAs and minted leaves. */
#ifndef FTLS_MINT_INTERNAL_H
#define FTLS_MINT_INTERNAL_H

#include <stdatomic.h>

#include <freshtls/mint.h>

#include "internal.h"

#define FTLS_MINT_LIFETIME_DEFAULT 3600
#define FTLS_MINT_LIFETIME_MAX (180LL * 86400)
#define FTLS_MINT_BACKDATE_DEFAULT 300
#define FTLS_NAME_MAX 253

struct ftls_ca {
    _Atomic long refs;
    X509 *cert;
    EVP_PKEY *key;
    unsigned char ski[64];
    size_t ski_len;
};

struct ftls_leaf {
    _Atomic long refs;
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;
    int64_t not_before, not_after;
};

/* Mint for an already normalized name. */
ftls_code ftls__mint(ftls_ca *ca, const char *name, int is_ip,
                     const ftls_mint_options *o, int64_t now, ftls_leaf **out,
                     ftls_error *err);

#endif
