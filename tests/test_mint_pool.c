/* Prepared leaf keys (ftls_ca_prepare_keys): each used once, every leaf's
 * key its own and matching its certificate, the pool refilled in the
 * background and stopped with the CA, and after fork() a child never uses
 * a key its parent holds. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "mint/mint_internal.h"
#include "test.h"

#define POOL 8

/* SHA-256 of the leaf's public key (SubjectPublicKeyInfo DER). */
static void key_id(const ftls_leaf *leaf, unsigned char out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(ftls_leaf_get0_key(leaf), &der);
    REQUIRE(n > 0);
    SHA256(der, (size_t)n, out);
    OPENSSL_free(der);
}

static ftls_ca *new_ca(void)
{
    ftls_ca *ca = NULL;
    REQUIRE(ftls_ca_generate(NULL, &ca, NULL) == FTLS_OK);
    return ca;
}

static int wait_full(ftls_ca *ca, size_t want)
{
    for (int i = 0; i < 5000; i++) { /* up to 5 s */
        size_t ready;
        uint64_t taken;
        ftls__pool_stats(ca, &ready, &taken);
        if (ready >= want)
            return 1;
        usleep(1000);
    }
    return 0;
}

static ftls_leaf *mint(ftls_ca *ca, const char *host)
{
    ftls_leaf *leaf = NULL;
    REQUIRE(ftls_leaf_mint(ca, host, NULL, 0, &leaf, NULL) == FTLS_OK);
    CHECK(X509_check_private_key(ftls_leaf_get0_cert(leaf),
                                 ftls_leaf_get0_key(leaf)) == 1);
    CHECK(X509_verify(ftls_leaf_get0_cert(leaf),
                      X509_get0_pubkey(ftls_ca_get0_cert(ca))) == 1);
    return leaf;
}

static int seen(unsigned char (*ids)[32], size_t n, const unsigned char *id)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(ids[i], id, 32) == 0)
            return 1;
    return 0;
}

static void test_keys_prepared_used_once(void)
{
    ftls_ca *ca = new_ca();
    CHECK_EQ_INT(ftls_ca_prepare_keys(ca, POOL, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_ca_prepare_keys(ca, POOL, NULL), FTLS_E_STATE);
    REQUIRE(wait_full(ca, POOL));
    static unsigned char ids[300][32];
    for (size_t i = 0; i < 300; i++) {
        ftls_leaf *leaf = mint(ca, "pool.example");
        key_id(leaf, ids[i]);
        CHECK(!seen(ids, i, ids[i])); /* every leaf its own key */
        ftls_leaf_free(leaf);
    }
    size_t ready;
    uint64_t taken;
    ftls__pool_stats(ca, &ready, &taken);
    CHECK(taken >= POOL); /* the prepared ones were used */
    /* and refilled: in batches from half empty, so over half full */
    REQUIRE(wait_full(ca, POOL / 2 + 1));
    ftls_ca_free(ca); /* stops the thread while it waits for room */
}

struct minter {
    ftls_ca *ca;
    unsigned char ids[100][32];
};

static void *mint_many(void *arg)
{
    struct minter *m = arg;
    for (int i = 0; i < 100; i++) {
        ftls_leaf *leaf = NULL;
        if (ftls_leaf_mint(m->ca, "threads.example", NULL, 0, &leaf, NULL) !=
            FTLS_OK)
            return (void *)1;
        key_id(leaf, m->ids[i]);
        ftls_leaf_free(leaf);
    }
    return NULL;
}

static void test_threads_never_share_a_key(void)
{
    ftls_ca *ca = new_ca();
    REQUIRE(ftls_ca_prepare_keys(ca, 4, NULL) == FTLS_OK);
    static struct minter m[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        m[i].ca = ca;
        REQUIRE(pthread_create(&th[i], NULL, mint_many, &m[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rc = NULL;
        pthread_join(th[i], &rc);
        CHECK(rc == NULL);
    }
    static unsigned char all[400][32];
    for (int i = 0; i < 400; i++) {
        memcpy(all[i], m[i / 100].ids[i % 100], 32);
        CHECK(!seen(all, (size_t)i, all[i]));
    }
    ftls_ca_free(ca);
}

/* The parent fills its pool, forks, and then uses every prepared key; the
 * child mints too: no key may appear on both sides. */
static void test_fork_child_never_uses_parent_keys(void)
{
    ftls_ca *ca = new_ca();
    REQUIRE(ftls_ca_prepare_keys(ca, POOL, NULL) == FTLS_OK);
    REQUIRE(wait_full(ca, POOL));
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        int bad = 0;
        for (int i = 0; i < POOL; i++) {
            ftls_leaf *leaf = NULL;
            unsigned char id[32];
            if (ftls_leaf_mint(ca, "child.example", NULL, 0, &leaf, NULL) !=
                FTLS_OK)
                bad = 1;
            else
                key_id(leaf, id), bad |= write(fds[1], id, 32) != 32;
            ftls_leaf_free(leaf);
        }
        size_t ready;
        uint64_t taken;
        ftls__pool_stats(ca, &ready, &taken);
        ftls_ca_free(ca); /* wipes the inherited keys, no thread to join */
        _exit(bad || ready != 0 || taken != 0);
    }
    close(fds[1]);
    static unsigned char parent[POOL][32], child[POOL][32];
    for (int i = 0; i < POOL; i++) {
        ftls_leaf *leaf = mint(ca, "parent.example");
        key_id(leaf, parent[i]);
        ftls_leaf_free(leaf);
    }
    size_t got = 0;
    while (got < sizeof(child)) {
        ssize_t r =
            read(fds[0], (unsigned char *)child + got, sizeof(child) - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(got, sizeof(child));
    for (int i = 0; i < POOL; i++)
        CHECK(!seen(parent, POOL, child[i]));
    ftls_ca_free(ca);
}

static void test_misuse(void)
{
    ftls_ca *ca = new_ca();
    CHECK_EQ_INT(ftls_ca_prepare_keys(NULL, 4, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ca_prepare_keys(ca, 0, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_ca_prepare_keys(ca, 1025, NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_ca_free(ca); /* no pool: nothing to stop */
}

int main(void)
{
    RUN(test_keys_prepared_used_once);
    RUN(test_threads_never_share_a_key);
    RUN(test_fork_child_never_uses_parent_keys);
    RUN(test_misuse);
    return TEST_SUMMARY();
}
