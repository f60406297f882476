/* Parsing identity material: PEM (key and chain in any order) and
 * PKCS#12. Raw key bytes are never copied; callers wipe their buffers. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "source/identity_internal.h"
#include "base/secret.h"
#include "base/pem.h"

static const char *const g_key_labels[] = {
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
};
/* Blocks that may travel with a key and mean nothing here. */
static const char *const g_ignored_labels[] = {"EC PARAMETERS",
                                               "DH PARAMETERS"};

static int label_in(const struct ftls__pem_block *b, const char *const *set,
                    size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ftls__pem_label_is(b, set[i]))
            return 1;
    return 0;
}

static ftls_identity *identity_new(void)
{
    ftls_identity *id = ftls__calloc(1, sizeof(*id));
    if (id == NULL)
        return NULL;
    atomic_init(&id->refs, 1);
    if ((id->chain = sk_X509_new_null()) == NULL) {
        ftls__free(id);
        return NULL;
    }
    return id;
}

struct pem_state {
    STACK_OF(X509) *certs;
    EVP_PKEY *key;
    const char *pass;
};

/* A CERTIFICATE block appended to the state's chain. */
static FTLS_NODISCARD ftls_code take_cert_block(struct pem_state *st,
                                                const struct ftls__pem_block *b,
                                                const char *where,
                                                ftls_error *err)
{
    unsigned char *der = NULL;
    size_t dlen = 0;
    ftls_code dc = ftls__pem_decode(b, &der, &dlen);
    if (dc != FTLS_OK)
        return ftls__err(err, dc, "%s:%zu: corrupted base64 in certificate",
                         where, b->line);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)dlen);
    int whole = x != NULL && p == der + dlen;
    ftls__free(der);
    if (!whole || !sk_X509_push(st->certs, x)) {
        X509_free(x);
        return ftls__err(err, FTLS_E_PARSE, "%s:%zu: invalid certificate",
                         where, b->line);
    }
    return FTLS_OK;
}

/* A private-key block (the only one allowed) into the state; `end` is
 * where the block's END line ends. */
static FTLS_NODISCARD ftls_code take_key_block(struct pem_state *st,
                                               const struct ftls__pem_block *b,
                                               const char *end,
                                               const char *where,
                                               ftls_error *err)
{
    if (st->key != NULL)
        return ftls__err(err, FTLS_E_PARSE, "%s:%zu: more than one private key",
                         where, b->line);
    int encrypted = ftls__pem_label_is(b, "ENCRYPTED PRIVATE KEY") ||
                    memmem(b->body, b->body_len, "ENCRYPTED", 9) != NULL;
    if (encrypted && st->pass == NULL)
        return ftls__err(err, FTLS_E_PARSE,
                         "%s:%zu: the private key is encrypted and no "
                         "passphrase is configured",
                         where, b->line);
    const char *begin = b->label - strlen("-----BEGIN ");
    BIO *bio = BIO_new_mem_buf(begin, (int)(end - begin));
    st->key = bio ? PEM_read_bio_PrivateKey_ex(bio, NULL, ftls__pem_pass_cb,
                                               (void *)st->pass, NULL, NULL)
                  : NULL;
    BIO_free(bio);
    if (st->key == NULL)
        return ftls__err(err, FTLS_E_PARSE, "%s:%zu: invalid private key%s",
                         where, b->line,
                         encrypted ? " (wrong passphrase?)" : "");
    return FTLS_OK;
}

/* Consume every block of one buffer into the state. */
static FTLS_NODISCARD ftls_code scan(struct pem_state *st,
                                     const unsigned char *buf, size_t len,
                                     const char *where, int allow_certs,
                                     int allow_key, ftls_error *err)
{
    struct ftls__pem_scan sc;
    struct ftls__pem_block b;
    ftls_code rc = FTLS_OK;
    int r;
    if (ftls__pem_has_bom(buf, len))
        ftls__log(FTLS_LOG_INFO,
                  "%s: skipped a UTF-8 byte order mark before the first PEM "
                  "block (as OpenSSL does)",
                  where);
    ftls__pem_scan_init(&sc, buf, len);
    while (rc == FTLS_OK && (r = ftls__pem_next(&sc, &b)) != 0) {
        if (r < 0)
            rc = ftls__err(err, FTLS_E_PARSE, "%s:%zu: truncated PEM block",
                           where, b.line);
        else if (allow_certs && ftls__pem_label_is(&b, "CERTIFICATE"))
            rc = take_cert_block(st, &b, where, err);
        else if (allow_key &&
                 label_in(&b, g_key_labels, FTLS_ARRAY_LEN(g_key_labels)))
            rc = take_key_block(st, &b, sc.cur, where, err);
        else if (!label_in(&b, g_ignored_labels,
                           FTLS_ARRAY_LEN(g_ignored_labels)))
            rc = ftls__err(err, FTLS_E_PARSE,
                           "%s:%zu: unexpected PEM block '%.*s'", where, b.line,
                           (int)(b.label_len > 64 ? 64 : b.label_len), b.label);
    }
    return rc;
}

static FTLS_NODISCARD ftls_code take(struct pem_state *st,
                                     const char *cert_where,
                                     const char *key_where, ftls_identity **out,
                                     ftls_error *err)
{
    if (sk_X509_num(st->certs) == 0)
        return ftls__err(err, FTLS_E_PARSE, "%s: no certificate found",
                         cert_where);
    if (st->key == NULL)
        return ftls__err(err, FTLS_E_PARSE, "%s: no private key found",
                         key_where);
    ftls_identity *id = identity_new();
    if (id == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
    id->leaf = sk_X509_shift(st->certs);
    while (sk_X509_num(st->certs) > 0) {
        X509 *x = sk_X509_shift(st->certs);
        if (!sk_X509_push(id->chain, x)) {
            X509_free(x);
            ftls_identity_free(id);
            return ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
        }
    }
    id->key = st->key;
    st->key = NULL;
    ftls_code rc = ftls__identity_finish(id, err);
    if (rc != FTLS_OK) {
        ftls_identity_free(id);
        return rc;
    }
    *out = id;
    return FTLS_OK;
}

ftls_code ftls__identity_from_pem(const unsigned char *cert, size_t cert_len,
                                  const char *cert_where,
                                  const unsigned char *key, size_t key_len,
                                  const char *key_where, const char *pass,
                                  ftls_identity **out, ftls_error *err)
{
    *out = NULL;
    struct pem_state st = {sk_X509_new_null(), NULL, pass};
    if (st.certs == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
    ftls_code rc;
    ERR_set_mark();
    if (key == NULL) { /* one file: key and chain in any order */
        rc = scan(&st, cert, cert_len, cert_where, 1, 1, err);
        key_where = cert_where;
    } else if ((rc = scan(&st, cert, cert_len, cert_where, 1, 0, err)) ==
               FTLS_OK) {
        rc = scan(&st, key, key_len, key_where, 0, 1, err);
    }
    if (rc == FTLS_OK)
        rc = take(&st, cert_where, key_where, out, err);
    if (rc == FTLS_OK)
        ERR_pop_to_mark();
    else
        ERR_clear_last_mark();
    sk_X509_pop_free(st.certs, X509_free);
    EVP_PKEY_free(st.key);
    return rc;
}

/* Order `ca` so that each certificate issued the one before it, starting
 * from the leaf; certificates that do not fit are appended as they came. */
static STACK_OF(X509) *issuance_order(X509 *leaf, STACK_OF(X509) *ca)
{
    STACK_OF(X509) *out = sk_X509_new_null();
    if (out == NULL)
        return NULL;
    X509 *cur = leaf;
    while (sk_X509_num(ca) > 0) {
        int found = -1;
        for (int i = 0; i < sk_X509_num(ca) && found < 0; i++)
            if (X509_check_issued(sk_X509_value(ca, i), cur) == X509_V_OK)
                found = i;
        if (found < 0)
            break;
        cur = sk_X509_delete(ca, found);
        if (!sk_X509_push(out, cur)) {
            X509_free(cur);
            sk_X509_pop_free(out, X509_free);
            return NULL;
        }
    }
    while (sk_X509_num(ca) > 0) {
        X509 *x = sk_X509_shift(ca);
        if (!sk_X509_push(out, x)) {
            X509_free(x);
            sk_X509_pop_free(out, X509_free);
            return NULL;
        }
    }
    return out;
}

/* RC2/3DES PKCS#12: key, the certificate it belongs to, and the rest. */
static FTLS_NODISCARD ftls_code legacy_parts(const unsigned char *der,
                                             size_t len, const char *where,
                                             const char *pass, EVP_PKEY **key,
                                             X509 **cert, STACK_OF(X509) **ca,
                                             ftls_error *err)
{
    STACK_OF(X509) *all = sk_X509_new_null();
    if (all == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
    ftls_code rc = ftls__p12_legacy_load(der, len, where, pass, key, all, err);
    for (int i = 0; rc == FTLS_OK && i < sk_X509_num(all) && !*cert; i++)
        if (X509_check_private_key(sk_X509_value(all, i), *key) == 1)
            *cert = sk_X509_delete(all, i);
    ERR_clear_error(); /* the probes' mismatches */
    if (rc == FTLS_OK) {
        *ca = all;
        return FTLS_OK;
    }
    sk_X509_pop_free(all, X509_free);
    return rc;
}

/* MAC check, then the key, leaf and other certificates (the legacy way
 * when this OpenSSL's default context cannot decrypt them). */
static FTLS_NODISCARD ftls_code pkcs12_parts(PKCS12 *p12,
                                             const unsigned char *der,
                                             size_t len, const char *where,
                                             const char *pass, EVP_PKEY **key,
                                             X509 **cert, STACK_OF(X509) **ca,
                                             ftls_error *err)
{
    if (!PKCS12_verify_mac(p12, pass, -1) &&
        !(pass == NULL && PKCS12_verify_mac(p12, "", 0)))
        return ftls__err(err, FTLS_E_PARSE,
                         "%s: PKCS#12 MAC check failed (wrong or missing "
                         "passphrase)",
                         where);
    if (PKCS12_parse(p12, pass ? pass : "", key, cert, ca))
        return FTLS_OK;
    if (!ftls__p12_needs_legacy())
        return ftls__err(err, FTLS_E_PARSE, "%s: cannot decrypt PKCS#12",
                         where);
    ERR_clear_error();
    return legacy_parts(der, len, where, pass, key, cert, ca, err);
}

ftls_code ftls__identity_from_pkcs12(const unsigned char *der, size_t len,
                                     const char *where, const char *pass,
                                     ftls_identity **out, ftls_error *err)
{
    *out = NULL;
    const unsigned char *p = der;
    ftls_code rc = FTLS_OK;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    ftls_identity *id = NULL;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (p12 == NULL) {
        rc = ftls__err(err, FTLS_E_PARSE, "%s: not a PKCS#12 file", where);
        goto done;
    }
    if ((rc = pkcs12_parts(p12, der, len, where, pass, &key, &cert, &ca,
                           err)) != FTLS_OK)
        goto done;
    if (cert == NULL || key == NULL) {
        rc = ftls__err(err, FTLS_E_PARSE, "%s: PKCS#12 lacks a %s", where,
                       cert ? "private key" : "certificate");
        goto done;
    }
    if ((id = identity_new()) == NULL) {
        rc = ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
        goto done;
    }
    sk_X509_free(id->chain);
    if ((id->chain = ca ? issuance_order(cert, ca) : sk_X509_new_null()) ==
        NULL) {
        rc = ftls__err(err, FTLS_E_NOMEM, "identity: out of memory");
        goto done;
    }
    id->leaf = cert;
    id->key = key;
    cert = NULL;
    key = NULL;
    if ((rc = ftls__identity_finish(id, err)) != FTLS_OK)
        goto done;
    *out = id;
    id = NULL;
done:
    ftls_identity_free(id);
    PKCS12_free(p12);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    return rc;
}
