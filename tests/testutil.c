#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

EVP_PKEY *tu_key(void)
{
    return EVP_EC_gen("P-256");
}

X509_NAME *tu_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n != NULL &&
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        n = NULL;
    }
    return n;
}

const char *tu_cn(const X509 *x, char *buf, size_t n)
{
    buf[0] = '\0';
    const X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    const ASN1_STRING *s =
        i < 0 ? NULL : X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    if (s != NULL && (size_t)ASN1_STRING_length(s) < n) {
        memcpy(buf, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        buf[ASN1_STRING_length(s)] = '\0';
    }
    return buf;
}

int tu_set_host(SSL *ssl, const char *host)
{
    /* SSL_set1_host is deprecated in OpenSSL 4.0; the parameter calls
     * behave alike on every version. */
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    unsigned char ip[16];
    int is_ip =
        inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    return is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
                 : X509_VERIFY_PARAM_set1_host(vp, host, 0);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL)
        return 0;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

X509 *tu_cert(const struct tu_cert_opts *o, EVP_PKEY *key, X509 *issuer,
              EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    X509_set_version(x, 2);
    if (o->serial) {
        ASN1_INTEGER_set(X509_get_serialNumber(x), o->serial);
    } else {
        unsigned char rnd[16];
        RAND_bytes(rnd, sizeof(rnd));
        rnd[0] &= 0x7f;
        BIGNUM *bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
    }
    long life = o->lifetime ? o->lifetime : 30L * 86400;
    X509_gmtime_adj(X509_getm_notBefore(x), o->not_before_offset);
    X509_gmtime_adj(X509_getm_notAfter(x), o->not_before_offset + life);
    X509_NAME *name = tu_name(o->cn);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_set_pubkey(x, key);
    int ok = 1;
    if (o->ca) {
        ok &= add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        ok &= add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok &= add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        ok &= add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
    }
    ok &= add_ext(x, issuer, NID_subject_key_identifier, "hash");
    ok &= add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    char san[512] = "";
    if (o->dns)
        snprintf(san, sizeof(san), "DNS:%s", o->dns);
    if (o->ip)
        snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sIP:%s",
                 san[0] ? "," : "", o->ip);
    if (san[0])
        ok &= add_ext(x, issuer, NID_subject_alt_name, san);
    if (o->eku)
        ok &= add_ext(x, issuer, NID_ext_key_usage, o->eku);
    if (o->name_constraints)
        ok &= add_ext(x, issuer, NID_name_constraints, o->name_constraints);
    if (!ok || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    /* Tests share these across threads; fill OpenSSL's lazy extension
     * cache first, as freshtls does (openssl/openssl#32609). */
    X509_get_extension_flags(x);
    return x;
}

X509 *tu_leaf(const char *cn, const char *dns, const char *ip, const char *eku,
              long nb, long life, EVP_PKEY *key, X509 *iss, EVP_PKEY *ik)
{
    struct tu_cert_opts o = {.cn = cn,
                             .dns = dns,
                             .ip = ip,
                             .eku = eku,
                             .not_before_offset = nb,
                             .lifetime = life};
    return tu_cert(&o, key, iss, ik);
}

int tu_write_certs(const char *path, const char *mode, X509 *const *certs,
                   int n)
{
    FILE *f = fopen(path, mode);
    if (f == NULL)
        return 0;
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= PEM_write_X509(f, certs[i]);
    return fclose(f) == 0 && ok;
}

int tu_write_key(const char *path, EVP_PKEY *key)
{
    /* 0600, as private keys are kept (the CA loader insists). */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return 0;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len;
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/freshtls-test-XXXXXX",
             base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

void tu_rmrf(const char *path)
{
    if (path != NULL)
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

int tu_k8s_write(const char *dir, const struct k8s_file *files, int n)
{
    return k8s_publish(dir, files, n, NULL);
}

int tu_k8s_write_pair(const char *dir, const char *crt, size_t ncrt,
                      const char *key, size_t nkey)
{
    const struct k8s_file files[2] = {{"tls.crt", crt, ncrt, 0644},
                                      {"tls.key", key, nkey, 0600}};
    return k8s_publish(dir, files, 2, NULL);
}

/* The contents of a memory BIO as a malloc'd NUL-terminated string. */
static char *bio_text(BIO *b, size_t *len)
{
    char *data = NULL;
    long l = b ? BIO_get_mem_data(b, &data) : -1;
    char *out = l >= 0 ? malloc((size_t)l + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)l);
        out[l] = '\0';
        if (len)
            *len = (size_t)l;
    }
    BIO_free(b);
    return out;
}

char *tu_pem_certs(X509 *const *certs, int n, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; b && i < n; i++)
        PEM_write_bio_X509(b, certs[i]);
    return bio_text(b, len);
}

char *tu_pem_key(EVP_PKEY *key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b)
        PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    return bio_text(b, len);
}

int tu_wait_until(int (*pred)(void *), void *arg, double seconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (pred(arg))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) +
                (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >
            seconds)
            return pred(arg);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int step(SSL *s, int *done)
{
    if (*done)
        return 0;
    int r = SSL_do_handshake(s);
    if (r == 1) {
        *done = 1;
        return 0;
    }
    int e = SSL_get_error(s, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

int tu_handshake(SSL *c, SSL *s)
{
    BIO *bc = NULL, *bs = NULL;
    if (!BIO_new_bio_pair(&bc, 0, &bs, 0))
        return -1;
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cd = 0, sd = 0;
    for (int i = 0; i < 1000 && !(cd && sd); i++) {
        if (step(c, &cd) < 0)
            return -1;
        if (step(s, &sd) < 0)
            return -2;
    }
    if (!(cd && sd))
        return -1;
    char b;
    SSL_read(c, &b, 1); /* consume NewSessionTicket messages, if any */
    return 1;
}

SSL *tu_client_ssl(SSL_CTX *ctx, const char *host)
{
    SSL *c = SSL_new(ctx);
    if (c != NULL && host != NULL) {
        SSL_set_tlsext_host_name(c, host);
        tu_set_host(c, host);
    }
    return c;
}
