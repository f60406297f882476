/*
 * Minting one leaf, fast, on every OpenSSL version (docs/design/mint.md):
 * the key comes from mint_key.c (the one version-dependent step), the
 * extensions are added as pre-encoded DER instead of parsed config
 * strings, and the CA signs with a copy of a DigestSign context prepared
 * once.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/fork.h"
#include "mint/mint_internal.h"

static EVP_MD *g_sha1; /* fetched once: implicit fetches cost ~1 us each */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_sha1(void)
{
    g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

/* DER length octets; returns bytes written (buf has room for 3). */
static size_t der_len(unsigned char *buf, size_t len)
{
    if (len < 0x80) {
        buf[0] = (unsigned char)len;
        return 1;
    }
    if (len < 0x100) {
        buf[0] = 0x81;
        buf[1] = (unsigned char)len;
        return 2;
    }
    buf[0] = 0x82;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)len;
    return 3;
}

static int add_der_ext(X509 *x, int nid, int critical, const unsigned char *der,
                       size_t len)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    int ok = os && ASN1_OCTET_STRING_set(os, der, (int)len) &&
             (e = X509_EXTENSION_create_by_NID(NULL, nid, critical, os)) &&
             X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    return ok;
}

/* subjectAltName: SEQUENCE { [2] dNSName } or { [7] iPAddress }. */
/* One GeneralName (context tag `tag`) at `out`; returns its length. */
static size_t put_general_name(unsigned char *out, unsigned char tag,
                               const void *value, size_t len)
{
    size_t n = 0;
    out[n++] = tag;
    n += der_len(out + n, len);
    memcpy(out + n, value, len);
    return n + len;
}

/* subjectAltName: the IP address, or the DNS name. A name with the root
 * dot ("example.com.", as some clients send in SNI) carries both forms:
 * OpenSSL-based verifiers match the reference name as written, others
 * drop the dot first. */
static int add_san(X509 *x, const char *name, int is_ip, int critical)
{
    unsigned char value[16], body[2 * (FTLS_NAME_MAX + 4)],
        der[sizeof(body) + 4];
    size_t bl = 0, len = strlen(name);
    if (is_ip) {
        int v6 = strchr(name, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, name, value) != 1)
            return 0;
        bl = put_general_name(body, 0x87, value, v6 ? 16 : 4);
    } else {
        bl = put_general_name(body, 0x82, name, len);
        if (len > 1 && name[len - 1] == '.')
            bl += put_general_name(body + bl, 0x82, name, len - 1);
    }
    size_t n = 0;
    der[n++] = 0x30;
    n += der_len(der + n, bl);
    memcpy(der + n, body, bl);
    return add_der_ext(x, NID_subject_alt_name, critical, der, n + bl);
}

static int add_fixed_exts(X509 *x, const ftls_ca *ca)
{
    static const unsigned char bc[] = {0x30, 0x00};             /* CA:FALSE */
    static const unsigned char ku[] = {0x03, 0x02, 0x07, 0x80}; /* digitalSig */
    static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b,
                                        0x06, 0x01, 0x05, 0x05, 0x07,
                                        0x03, 0x01}; /* serverAuth */
    unsigned char ski[2 + 20], aki[4 + sizeof(ca->ski)];
    /* SKI: SHA-1 of the subjectPublicKey bits (RFC 5280, method 1), read
     * from the certificate's own encoding. */
    const unsigned char *bits = NULL;
    int bits_len = 0;
    unsigned n = 0;
    pthread_once(&g_once, init_sha1);
    if (g_sha1 == NULL ||
        !X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL,
                                X509_get_X509_PUBKEY(x)) ||
        bits == NULL || bits_len <= 0)
        return 0;
    ski[0] = 0x04;
    ski[1] = 20;
    if (!EVP_Digest(bits, (size_t)bits_len, ski + 2, &n, g_sha1, NULL) ||
        n != 20)
        return 0;
    /* AKI: keyIdentifier copied from the CA's actual SKI bytes. */
    aki[0] = 0x30;
    aki[1] = (unsigned char)(2 + ca->ski_len);
    aki[2] = 0x80;
    aki[3] = (unsigned char)ca->ski_len;
    memcpy(aki + 4, ca->ski, ca->ski_len);
    return add_der_ext(x, NID_basic_constraints, 1, bc, sizeof(bc)) &&
           add_der_ext(x, NID_key_usage, 1, ku, sizeof(ku)) &&
           add_der_ext(x, NID_ext_key_usage, 0, eku, sizeof(eku)) &&
           add_der_ext(x, NID_subject_key_identifier, 0, ski, sizeof(ski)) &&
           add_der_ext(x, NID_authority_key_identifier, 0, aki,
                       4 + ca->ski_len);
}

int ftls__mint_set_serial(X509 *x)
{
    /* 0x01 then 128 CSPRNG bits: positive, minimal, fresh on every mint. */
    unsigned char s[17] = {0x01};
    return RAND_bytes(s + 1, 16) == 1 &&
           ASN1_STRING_set(X509_get_serialNumber(x), s, sizeof(s));
}

/* Sign with a copy of the CA's prepared DigestSign context. */
static int sign(X509 *x, ftls_ca *ca)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    ftls__lock(&ca->sign_lock);
    int ok = m != NULL && EVP_MD_CTX_copy_ex(m, ca->sign_template);
    ftls__unlock(&ca->sign_lock);
    ok = ok && X509_sign_ctx(x, m) > 0;
    EVP_MD_CTX_free(m);
    return ok;
}

/* Subject CN=name (a name over the CN upper bound leaves it empty). */
/* CN = the name without the root dot (`len` characters). */
static int set_subject(X509 *x, const char *name, size_t len)
{
    X509_NAME *n = X509_NAME_new();
    int ok = n != NULL &&
             X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
                                        (const unsigned char *)name, (int)len,
                                        -1, 0) &&
             X509_set_subject_name(x, n);
    X509_NAME_free(n);
    return ok;
}

static FTLS_NODISCARD ftls_code build(ftls_ca *ca, const char *name, int is_ip,
                                      int64_t nb, int64_t na, ftls_leaf *leaf,
                                      ftls_error *err)
{
    X509 *x = NULL;
    int pooled = ftls__pool_take(ca, &x, &leaf->key);
    if (!pooled)
        x = X509_new();
    size_t cn_len = strlen(name);
    if (!is_ip && cn_len > 1 && name[cn_len - 1] == '.')
        cn_len--;
    /* Over RFC 5280's CN bound: an empty subject and a critical SAN. */
    int empty_subject = cn_len > 64;
    const char *step = "allocate";
    int ok =
        x != NULL &&
        (step = "key", pooled || (leaf->key = ftls__mint_key_new(x)) != NULL) &&
        (step = "serial",
         X509_set_version(x, X509_VERSION_3) && ftls__mint_set_serial(x)) &&
        (step = "validity",
         ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) &&
             ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na)) &&
        (step = "names",
         X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) &&
             (empty_subject || set_subject(x, name, cn_len))) &&
        (step = "extensions",
         add_san(x, name, is_ip, empty_subject) && add_fixed_exts(x, ca)) &&
        (step = "signature", sign(x, ca));
    if (!ok) {
        X509_free(x);
        return ftls__err(err, FTLS_E_OPENSSL,
                         "mint '%s': cannot build the "
                         "certificate (%s failed)",
                         name, step);
    }
    leaf->cert = x;
    return FTLS_OK;
}

ftls_code ftls__mint(ftls_ca *ca, const char *name, int is_ip,
                     const ftls_mint_options *o, int64_t now, ftls_leaf **out,
                     ftls_error *err)
{
    *out = NULL;
    int64_t life = o && o->lifetime ? o->lifetime : FTLS_MINT_LIFETIME_DEFAULT;
    int64_t back = o && o->backdate ? o->backdate : FTLS_MINT_BACKDATE_DEFAULT;
    if (life <= 0 || life > FTLS_MINT_LIFETIME_MAX || back < 0)
        return ftls__err(err, FTLS_E_INVALID_ARGUMENT,
                         "mint: lifetime must be "
                         "1 s to 180 days, backdate non-negative");
    if (ca->ski_len == 0 || ca->ski_len > 64)
        return ftls__err(err, FTLS_E_KEY_POLICY,
                         "mint: the CA has no usable "
                         "subject key identifier");
    if (now == 0)
        now = (int64_t)time(NULL);
    if (now >= ca->not_after)
        return ftls__err(err, FTLS_E_EXPIRED,
                         "mint: the CA has expired; no leaf it signs would "
                         "verify");
    ftls_leaf *leaf = ftls__calloc(1, sizeof(*leaf));
    if (leaf == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "mint: out of memory");
    atomic_init(&leaf->refs, 1);
    atomic_init(&leaf->warm, 0);
    pthread_mutex_init(&leaf->warm_lock, NULL);
    leaf->not_before = now - back;
    /* A leaf never outlives its CA. */
    leaf->not_after = now + life < ca->not_after ? now + life : ca->not_after;
    ftls_code rc =
        build(ca, name, is_ip, leaf->not_before, leaf->not_after, leaf, err);
    if (rc == FTLS_OK && (leaf->chain = sk_X509_new_null()) == NULL)
        rc = ftls__err(err, FTLS_E_NOMEM, "mint: out of memory");
    if (rc == FTLS_OK && !X509_up_ref(ca->cert))
        rc = ftls__err(err, FTLS_E_OPENSSL, "mint: cannot reference the CA");
    else if (rc == FTLS_OK && !sk_X509_push(leaf->chain, ca->cert)) {
        X509_free(ca->cert); /* the reference the chain did not take */
        rc = ftls__err(err, FTLS_E_NOMEM, "mint: out of memory");
    }
    if (rc != FTLS_OK) {
        ftls_leaf_free(leaf);
        return rc;
    }
    *out = leaf;
    return FTLS_OK;
}

ftls_code ftls_leaf_mint(ftls_ca *ca, const char *host,
                         const ftls_mint_options *o, int64_t now,
                         ftls_leaf **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(ca != NULL && host != NULL, err, "ca or host is NULL");
    char name[FTLS_NAME_MAX + 1];
    int is_ip = 0;
    ftls_code rc = ftls_leaf_normalize_name(host, o ? o->allow_ip : 0, name,
                                            sizeof(name), &is_ip, err);
    return rc == FTLS_OK ? ftls__mint(ca, name, is_ip, o, now, out, err) : rc;
}

void ftls_leaf_free(ftls_leaf *leaf)
{
    if (leaf == NULL || atomic_fetch_sub(&leaf->refs, 1) != 1)
        return;
    X509_free(leaf->cert);
    EVP_PKEY_free(leaf->key); /* clears the private scalar */
    sk_X509_pop_free(leaf->chain, X509_free);
    pthread_mutex_destroy(&leaf->warm_lock);
    ftls__free_secret(leaf, sizeof(*leaf));
}

ftls_code ftls_leaf_up_ref(ftls_leaf *leaf)
{
    if (leaf == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    atomic_fetch_add(&leaf->refs, 1);
    return FTLS_OK;
}

/*
 * OpenSSL fills a certificate's extension cache lazily on first use, and
 * concurrent first uses race inside OpenSSL (openssl/openssl#32609). The
 * naive path leaves that fill to the first handshake too; we do it once,
 * under a per-leaf lock, before the certificate reaches anyone: every
 * accessor and the resolver go through here.
 */
void ftls__leaf_warm(ftls_leaf *leaf)
{
    if (atomic_load_explicit(&leaf->warm, memory_order_acquire))
        return;
    ftls__lock(&leaf->warm_lock);
    if (!atomic_load_explicit(&leaf->warm, memory_order_relaxed)) {
        X509_get_extension_flags(leaf->cert);
        atomic_store_explicit(&leaf->warm, 1, memory_order_release);
    }
    ftls__unlock(&leaf->warm_lock);
}

X509 *ftls_leaf_get0_cert(const ftls_leaf *leaf)
{
    if (leaf == NULL)
        return NULL;
    ftls__leaf_warm((ftls_leaf *)leaf);
    return leaf->cert;
}

EVP_PKEY *ftls_leaf_get0_key(const ftls_leaf *leaf)
{
    return leaf ? leaf->key : NULL;
}

STACK_OF(X509) *ftls_leaf_get0_chain(const ftls_leaf *leaf)
{
    return leaf ? leaf->chain : NULL;
}

int64_t ftls_leaf_not_after(const ftls_leaf *leaf)
{
    return leaf ? leaf->not_after : 0;
}
