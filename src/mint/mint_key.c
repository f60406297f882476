/*
 * A fresh P-256 key for each minted leaf, set as the certificate's public
 * key: the step whose cost differs most between OpenSSL versions.
 *
 * Measured per step with bench/bench_mint_steps (docs/design/mint.md):
 * X509_set_pubkey() on a provider key encodes it through OSSL_ENCODER and
 * decodes the result again (~138 us on 3.0, ~20 us on 3.5 and 4.0), while
 * a legacy EC_KEY encodes directly (~3.4 us everywhere); generating on a
 * shared EC_GROUP costs ~6.3 us against ~7.5 us for EVP_PKEY_generate on
 * a prepared context. So when the deprecated EC_KEY API is available
 * (FTLS_HAVE_EC_KEY, base/ossl_compat.h) it is used here and nowhere
 * else; libssl exports the key to its provider on first use. Without it
 * each thread keeps a prepared keygen context and the provider key goes
 * through X509_set_pubkey.
 */
/* This file alone uses the deprecated EC_KEY API, on purpose (above). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <pthread.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/ossl_compat.h"
#include "mint/mint_internal.h"

#if FTLS_HAVE_EC_KEY

static EC_GROUP *g_p256;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_group(void)
{
    g_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

static EVP_PKEY *generate(void)
{
    pthread_once(&g_once, init_group);
    EC_KEY *ec = g_p256 ? EC_KEY_new() : NULL;
    EVP_PKEY *pk = NULL;
    if (ec != NULL && EC_KEY_set_group(ec, g_p256) && EC_KEY_generate_key(ec) &&
        (pk = EVP_PKEY_new()) != NULL && EVP_PKEY_assign_EC_KEY(pk, ec))
        return pk;
    EVP_PKEY_free(pk);
    EC_KEY_free(ec); /* clears the private scalar */
    return NULL;
}

#else /* provider keys, one prepared keygen context per thread */

static pthread_key_t g_ctx_key;
static int g_key_ok;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void free_ctx(void *c)
{
    EVP_PKEY_CTX_free(c);
}

static void init_key(void)
{
    g_key_ok = pthread_key_create(&g_ctx_key, free_ctx) == 0;
}

static EVP_PKEY_CTX *thread_ctx(void)
{
    pthread_once(&g_once, init_key);
    if (!g_key_ok)
        return NULL;
    EVP_PKEY_CTX *c = pthread_getspecific(g_ctx_key);
    if (c != NULL)
        return c;
    c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
        EVP_PKEY_CTX_set_group_name(c, "P-256") != 1 ||
        pthread_setspecific(g_ctx_key, c) != 0) {
        EVP_PKEY_CTX_free(c);
        return NULL;
    }
    return c;
}

static EVP_PKEY *generate(void)
{
    EVP_PKEY_CTX *c = thread_ctx();
    EVP_PKEY *pk = NULL;
    if (c == NULL || EVP_PKEY_generate(c, &pk) != 1) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

#endif

EVP_PKEY *ftls__mint_key_new(X509 *x)
{
    EVP_PKEY *pk = generate();
    if (pk != NULL && X509_set_pubkey(x, pk) == 1)
        return pk;
    EVP_PKEY_free(pk);
    return NULL;
}
