/* The shared equivalence corpus (see tu_corpus.h). */
#include "tu_corpus.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509v3.h>

#include "testutil.h"

/* Setup failures make every test that uses the corpus moot. */
#define REQUIRE(expr)                                                          \
    do {                                                                       \
        if (!(expr)) {                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #expr);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#define FTLS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define DAY 86400L

void tu_pki_init(struct tu_pki *p)
{
    p->kA = tu_key(), p->kA2 = tu_key(), p->kB = tu_key();
    p->kI = tu_key(), p->kL = tu_key();
    REQUIRE(p->kA && p->kA2 && p->kB && p->kI && p->kL);
    long ten_years = 3650 * DAY;
    struct tu_cert_opts ra = {.cn = "Equiv Root",
                              .ca = 1,
                              .lifetime = ten_years,
                              .not_before_offset = -365 * DAY};
    struct tu_cert_opts rb = {
        .cn = "Unknown Root", .ca = 1, .lifetime = ten_years};
    struct tu_cert_opts ri = {.cn = "Equiv Intermediate",
                              .ca = 1,
                              .lifetime = ten_years,
                              .not_before_offset = -300 * DAY};
    struct tu_cert_opts rn = {.cn = "Constrained Intermediate",
                              .ca = 1,
                              .lifetime = ten_years,
                              .not_before_offset = -300 * DAY,
                              .name_constraints = "permitted;DNS:.example.com"};
    REQUIRE((p->A = tu_cert(&ra, p->kA, NULL, NULL)) != NULL);
    REQUIRE((p->A2 = tu_cert(&ra, p->kA2, NULL, NULL)) != NULL);
    REQUIRE((p->B = tu_cert(&rb, p->kB, NULL, NULL)) != NULL);
    REQUIRE((p->I = tu_cert(&ri, p->kI, p->A, p->kA)) != NULL);
    REQUIRE((p->I_B = tu_cert(&ri, p->kI, p->B, p->kB)) != NULL);
    REQUIRE((p->I_A2 = tu_cert(&ri, p->kI, p->A2, p->kA2)) != NULL);
    REQUIRE((p->I_nc = tu_cert(&rn, p->kI, p->A, p->kA)) != NULL);
}

void tu_pki_cleanup(struct tu_pki *p)
{
    X509 *xs[] = {p->A, p->A2, p->B, p->I, p->I_B, p->I_A2, p->I_nc};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(xs); i++)
        X509_free(xs[i]);
    EVP_PKEY *ks[] = {p->kA, p->kA2, p->kB, p->kI, p->kL};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(ks); i++)
        EVP_PKEY_free(ks[i]);
}

int tu_pki_write_bundle(const struct tu_pki *p, const char *path)
{
    X509 *roots[] = {p->A, p->A2};
    return tu_write_certs(path, "w", roots, 2);
}

static X509 *leaf(struct tu_corpus *c, const struct tu_pki *p, const char *cn,
                  const char *dns, const char *ip, const char *eku,
                  long nb_days, X509 *iss)
{
    X509 *x =
        tu_leaf(cn, dns, ip, eku, nb_days * DAY, 30 * DAY, p->kL, iss, p->kI);
    REQUIRE(x != NULL && c->nleaves < FTLS_ARRAY_LEN(c->leaves));
    c->leaves[c->nleaves++] = x;
    return x;
}

/* A case: `leaf` sent with intermediate `inter` (none when NULL), plus
 * the settings in `k`. */
static void add(struct tu_corpus *c, const char *name, X509 *leaf, X509 *inter,
                struct tu_case k)
{
    REQUIRE(c->n < TU_CORPUS_MAX);
    k.name = name;
    k.leaf = leaf;
    k.chain[0] = inter;
    k.nchain = inter != NULL;
    c->cases[c->n++] = k;
}

#define GOOD_HOST "good.example.com"

void tu_corpus_init(const struct tu_pki *p, struct tu_corpus *c)
{
    *c = (struct tu_corpus){0};
    X509 *good =
        leaf(c, p, "good", GOOD_HOST, "127.0.0.1", "serverAuth", -1, p->I);
    X509 *expired =
        leaf(c, p, "expired", GOOD_HOST, NULL, "serverAuth", -60, p->I);
    X509 *future =
        leaf(c, p, "future", GOOD_HOST, NULL, "serverAuth", 10, p->I);
    X509 *client =
        leaf(c, p, "client", GOOD_HOST, NULL, "clientAuth", -1, p->I);
    X509 *unknown =
        leaf(c, p, "unknown", GOOD_HOST, NULL, "serverAuth", -1, p->I_B);
    X509 *nc_bad =
        leaf(c, p, "nc", "evil.test", NULL, "serverAuth", -1, p->I_nc);
    X509 *nc_ok =
        leaf(c, p, "nc", "www.example.com", NULL, "serverAuth", -1, p->I_nc);
    X509 *rekeyed =
        leaf(c, p, "rekeyed", GOOD_HOST, NULL, "serverAuth", -1, p->I_A2);
    const int srv = X509_PURPOSE_SSL_SERVER;
    const struct tu_case none = {0};
    add(c, "valid", good, p->I,
        (struct tu_case){.host = GOOD_HOST, .purpose = srv});
    add(c, "valid strict", good, p->I,
        (struct tu_case){.host = GOOD_HOST,
                         .purpose = srv,
                         .flags = X509_V_FLAG_X509_STRICT});
    add(c, "expired", expired, p->I, (struct tu_case){.host = GOOD_HOST});
    add(c, "expired, app callback overrides", expired, p->I,
        (struct tu_case){.override_expired = 1});
    add(c, "not yet valid", future, p->I, none);
    add(c, "wrong host", good, p->I,
        (struct tu_case){.host = "other.example.com"});
    add(c, "right ip", good, p->I, (struct tu_case){.ip = "127.0.0.1"});
    add(c, "wrong ip", good, p->I, (struct tu_case){.ip = "127.0.0.2"});
    add(c, "unknown root", unknown, p->I_B, none);
    add(c, "missing intermediate", good, NULL, none);
    add(c, "wrong purpose", client, p->I, (struct tu_case){.purpose = srv});
    add(c, "name constraints violated", nc_bad, p->I_nc, none);
    add(c, "name constraints ok", nc_ok, p->I_nc, none);
    add(c, "re-keyed root, same subject", rekeyed, p->I_A2, none);
    add(c, "partial chain flag", good, p->I,
        (struct tu_case){.flags = X509_V_FLAG_PARTIAL_CHAIN});
    add(c, "depth limit", good, p->I, (struct tu_case){.depth = 1});
    add(c, "DANE-EE under an unknown root", unknown, p->I_B,
        (struct tu_case){.dane_ee = 1});
    add(c, "distrusted-after root", good, p->I,
        (struct tu_case){.distrust = 1});
    add(c, "distrusted-after, app callback overrides expiry only", good, p->I,
        (struct tu_case){.override_expired = 1, .distrust = 1});
}

void tu_corpus_cleanup(struct tu_corpus *c)
{
    for (size_t i = 0; i < c->nleaves; i++)
        X509_free(c->leaves[i]);
    *c = (struct tu_corpus){0};
}
