/* Internal representation of CAs and minted leaves. */
#ifndef FTLS_MINT_INTERNAL_H
#define FTLS_MINT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <freshtls/mint.h>

#include "base/internal.h"

#define FTLS_MINT_LIFETIME_DEFAULT 3600
#define FTLS_MINT_LIFETIME_MAX (180LL * 86400)
#define FTLS_MINT_BACKDATE_DEFAULT 300
#define FTLS_NAME_MAX 253

struct ftls__key_pool; /* mint_pool.c */

struct ftls_ca {
    _Atomic long refs;
    X509 *cert;
    EVP_PKEY *key;
    /* DigestSign context initialised once with the CA key; each mint signs
     * with a copy (6 us cheaper than X509_sign's fresh initialisation). */
    EVP_MD_CTX *sign_template;
    pthread_mutex_t sign_lock;
    unsigned char ski[64];
    size_t ski_len;
    int64_t not_before, not_after; /* the CA's validity; leaves stay inside */
    struct ftls__key_pool *_Atomic pool; /* ftls_ca_prepare_keys(), or NULL */
};

struct ftls_leaf {
    _Atomic long refs;
    atomic_int
        warm; /* OpenSSL's extension cache filled (see ftls__leaf_warm) */
    pthread_mutex_t warm_lock;
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;
    int64_t not_before, not_after;
};

/* A fresh P-256 key, set as x's public key (mint_key.c); NULL on failure.
 * The caller owns the key. */
EVP_PKEY *ftls__mint_key_new(X509 *x);
/* A prepared certificate with a fresh key set as its public key, from the
 * CA's pool (mint_pool.c): 1 and both taken, or 0 when none is ready (or
 * in a forked child: never a key the parent holds too). */
int ftls__pool_take(ftls_ca *ca, X509 **x, EVP_PKEY **k);
/* Keys ready now and taken so far (0, 0 without a pool or in a child). */
void ftls__pool_stats(ftls_ca *ca, size_t *ready, uint64_t *taken);
/* Stop the pool's thread (in its own process) and wipe its keys. */
void ftls__pool_free(struct ftls__key_pool *p);
/* Serial 0x01 then 128 CSPRNG bits: positive, minimal, fresh each time
 * (mint_leaf.c; CAs use it too). 1 on success. */
int ftls__mint_set_serial(X509 *x);
/* Fill OpenSSL's extension cache once before the leaf is shared. */
void ftls__leaf_warm(ftls_leaf *leaf);
/* Wrap a checked certificate and key as a CA (mint_ca.c); takes both on
 * success. */
FTLS_NODISCARD ftls_code ftls__ca_wrap(X509 *cert, EVP_PKEY *key, ftls_ca **out,
                                       ftls_error *err);
/* Seconds since the epoch of an ASN1_TIME; `unreadable` when it cannot be
 * read. */
int64_t ftls__asn1_time_epoch(const ASN1_TIME *t, int64_t unreadable);
/* Mint for an already normalized name. */
FTLS_NODISCARD ftls_code ftls__mint(ftls_ca *ca, const char *name, int is_ip,
                                    const ftls_mint_options *o, int64_t now,
                                    ftls_leaf **out, ftls_error *err);

#endif
