/* One PKI and one corpus of chains for the equivalence tests: the lazy
 * store against an eagerly loaded X509_STORE (test_roots_verify) and an
 * attached SSL_CTX against a plain one over real handshakes
 * (test_ctx_attach). Each test runs every case its layer can express. */
#ifndef FTLS_TU_CORPUS_H
#define FTLS_TU_CORPUS_H

#include <stddef.h>

#include <openssl/x509.h>

/* Roots A and A2 (same subject, different keys: a re-keyed root) are the
 * trusted set; B is unknown. I chains to A, I_B to B, I_A2 to A2, and
 * I_nc to A with a permitted DNS:.example.com name constraint. Leaves use
 * kL. */
struct tu_pki {
    EVP_PKEY *kA, *kA2, *kB, *kI, *kL;
    X509 *A, *A2, *B, *I, *I_B, *I_A2, *I_nc;
};

/* Generate the PKI; REQUIREs success. */
void tu_pki_init(struct tu_pki *p);
void tu_pki_cleanup(struct tu_pki *p);

/* The trusted roots (A, A2) as a PEM bundle at `path`. 1 on success. */
int tu_pki_write_bundle(const struct tu_pki *p, const char *path);

struct tu_case {
    const char *name;
    X509 *leaf;     /* owned by the corpus */
    X509 *chain[2]; /* intermediates the peer sends */
    int nchain;
    const char *host, *ip; /* expected identity, or NULL */
    int purpose;           /* X509_PURPOSE_*, 0 none */
    unsigned long flags;   /* X509_V_FLAG_* */
    int override_expired;  /* the application's callback accepts expiry */
    int depth;             /* >0: verify depth limit */
    int dane_ee;           /* TLS only: DANE-EE(3) SPKI(1) SHA-256(1) */
    int distrust;          /* a root set where A is distrusted-after */
};

#define TU_CORPUS_MAX 24
struct tu_corpus {
    struct tu_case cases[TU_CORPUS_MAX];
    size_t n;
    X509 *leaves[16];
    size_t nleaves;
};

/* Build every case over `p`; REQUIREs success. */
void tu_corpus_init(const struct tu_pki *p, struct tu_corpus *c);
void tu_corpus_cleanup(struct tu_corpus *c);

#endif
