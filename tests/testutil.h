/* Helpers for tests: minting keys and certificate chains, temp dirs. */
#ifndef FTLS_TESTUTIL_H
#define FTLS_TESTUTIL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "k8s_publish.h"

struct tu_cert_opts {
    const char *cn;
    int ca;                 /* basicConstraints CA:TRUE + keyCertSign */
    long not_before_offset; /* seconds from now (negative: in the past) */
    long lifetime;          /* seconds; default 30 days */
    const char *dns;        /* SAN dNSName, optional */
    const char *ip;         /* SAN iPAddress, optional */
    const char *eku;        /* e.g. "serverAuth", "clientAuth"; optional */
    const char *name_constraints; /* e.g. "permitted;DNS:.example.com" */
    long serial;                  /* 0: random */
};

EVP_PKEY *tu_key(void);
/* A name holding only CN=cn (UTF-8); the caller frees it. */
X509_NAME *tu_name(const char *cn);
/* The subject CN of x into buf ("" when absent or longer than n-1). */
const char *tu_cn(const X509 *x, char *buf, size_t n);
/* Client: verify the peer against host, a DNS name or an IP literal (as
 * SSL_set1_host, which OpenSSL 4.0 deprecates). 1 on success. */
int tu_set_host(SSL *ssl, const char *host);
/* Issue a certificate for `key`; self-signed when issuer is NULL. */
X509 *tu_cert(const struct tu_cert_opts *o, EVP_PKEY *key, X509 *issuer,
              EVP_PKEY *issuer_key);
/* A leaf for `key` issued by iss/ik: CN, optional SAN DNS/IP and EKU,
 * valid from now+nb for `life` seconds. NULL on failure. */
X509 *tu_leaf(const char *cn, const char *dns, const char *ip, const char *eku,
              long nb, long life, EVP_PKEY *key, X509 *iss, EVP_PKEY *ik);
/* Append certificates as PEM to a file (mode "w" or "a"). */
int tu_write_certs(const char *path, const char *mode, X509 *const *certs,
                   int n);
int tu_write_key(const char *path, EVP_PKEY *key);
int tu_write_file(const char *path, const void *data, size_t len);
/* mkdtemp under TMPDIR; returns a malloc'd path. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);
/* Read a whole file into a malloc'd NUL-terminated buffer. */
char *tu_read_file(const char *path, size_t *len);

/* Publish files the way Kubernetes' AtomicWriter does (one copy of the
 * sequence, shared with `freshtls demo`: cli/k8s_publish.h). Returns 1 on
 * success. */
int tu_k8s_write(const char *dir, const struct k8s_file *files, int n);
/* tu_k8s_write() of tls.crt (0644) and tls.key (0600). */
int tu_k8s_write_pair(const char *dir, const char *crt, size_t ncrt,
                      const char *key, size_t nkey);
/* PEM of a certificate chain / key into a malloc'd buffer. */
char *tu_pem_certs(X509 *const *certs, int n, size_t *len);
char *tu_pem_key(EVP_PKEY *key, size_t *len);
/* Wait up to `seconds` for pred(arg) to become true; returns it. */
int tu_wait_until(int (*pred)(void *), void *arg, double seconds);

#include <openssl/ssl.h>
/* Run a handshake between two SSLs over a BIO pair (the SSLs take the
 * BIOs). Returns 1 when both sides finished, -1 when the client failed,
 * -2 when the server failed. Afterwards the client has read any TLS 1.3
 * session tickets the server sent. */
int tu_handshake(SSL *client, SSL *server);
/* New client SSL with SNI and host name check set. */
SSL *tu_client_ssl(SSL_CTX *ctx, const char *host);

#endif /* FTLS_TESTUTIL_H */
