/* Kubernetes AtomicWriter rotations while reloading from several threads
 * and a watcher: no mismatched certificate/key pair is ever published.
 * Also: non-atomic writers, truncated writes, files vanishing mid-read. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "base/fileio.h"
#include "source/source_read.h"
#include "test.h"
#include "testutil.h"

#define ROTATIONS 150

static char *g_root;
static EVP_PKEY *kCA;
static X509 *CA;

struct material {
    char *crt, *key;
    size_t ncrt, nkey;
    EVP_PKEY *pkey;
};

static void make_material(int i, struct material *m)
{
    char cn[64];
    snprintf(cn, sizeof(cn), "gen-%d.example", i);
    m->pkey = tu_key();
    struct tu_cert_opts o = {.cn = cn, .dns = cn, .not_before_offset = -3600};
    X509 *leaf = tu_cert(&o, m->pkey, CA, kCA);
    REQUIRE(leaf != NULL);
    X509 *chain[2] = {leaf, CA};
    m->crt = tu_pem_certs(chain, 2, &m->ncrt);
    m->key = tu_pem_key(m->pkey, &m->nkey);
    REQUIRE(m->crt && m->key);
    X509_free(leaf);
}

static void free_material(struct material *m)
{
    free(m->crt);
    free(m->key);
    EVP_PKEY_free(m->pkey);
}

static int publish_material(const char *dir, const struct material *m)
{
    return tu_k8s_write_pair(dir, m->crt, m->ncrt, m->key, m->nkey);
}

/* The generation index encoded in the leaf's CN, or -1. */
static int gen_of(const ftls_identity *id)
{
    char cn[64] = "";
    tu_cn(ftls_identity_get0_leaf(id), cn, sizeof(cn));
    int i = -1;
    return sscanf(cn, "gen-%d", &i) == 1 ? i : -1;
}

static struct material g_m[ROTATIONS + 1];
static ftls_source *g_src;
static atomic_int g_done, g_mismatches, g_checks, g_unexpected_rc, g_reloads;
static char g_dir[4096];

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ROTATIONS; i++) {
        if (!publish_material(g_dir, &g_m[i]))
            atomic_fetch_add(&g_unexpected_rc, 1);
        if (i % 10 == 0)
            usleep(1000);
    }
    atomic_store(&g_done, 1);
    return NULL;
}

static void *reloader(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_done)) {
        ftls_code rc = ftls_source_reload(g_src, NULL);
        atomic_fetch_add(&g_reloads, 1);
        /* A race that outlasts the bounded retries is reported as such;
         * nothing else may go wrong with an atomic writer. */
        if (rc != FTLS_OK && rc != FTLS_E_RACE)
            atomic_fetch_add(&g_unexpected_rc, 1);
    }
    return NULL;
}

static void *checker(void *arg)
{
    (void)arg;
    int last = 0;
    while (!atomic_load(&g_done)) {
        ftls_identity *id = NULL;
        if (ftls_source_get1_identity(g_src, &id, NULL) != FTLS_OK)
            continue;
        int i = gen_of(id);
        if (i < 0 || i > ROTATIONS ||
            X509_check_private_key(ftls_identity_get0_leaf(id),
                                   ftls_identity_get0_key(id)) != 1 ||
            EVP_PKEY_eq(ftls_identity_get0_key(id), g_m[i].pkey) != 1 ||
            i < last)
            atomic_fetch_add(&g_mismatches, 1);
        last = i;
        atomic_fetch_add(&g_checks, 1);
        ftls_identity_free(id);
    }
    return NULL;
}

static void test_atomic_writer_loop(void)
{
    snprintf(g_dir, sizeof(g_dir), "%s/secret", g_root);
    REQUIRE(mkdir(g_dir, 0755) == 0);
    for (int i = 0; i <= ROTATIONS; i++)
        make_material(i, &g_m[i]);
    REQUIRE(publish_material(g_dir, &g_m[0]));
    REQUIRE(ftls_source_new_identity_dir(g_dir, NULL, &g_src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(g_src, NULL) == FTLS_OK);
    ftls_watcher *w = NULL;
    ftls_watcher_options wo = {.debounce_ms = 5};
    REQUIRE(ftls_watcher_new(&wo, &w, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_add(w, g_src, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_start(w, NULL) == FTLS_OK);
    pthread_t tw, tr[2], tc;
    REQUIRE(pthread_create(&tc, NULL, checker, NULL) == 0);
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&tr[i], NULL, reloader, NULL) == 0);
    REQUIRE(pthread_create(&tw, NULL, writer, NULL) == 0);
    pthread_join(tw, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(tr[i], NULL);
    pthread_join(tc, NULL);
    ftls_watcher_stop(w);
    CHECK_EQ_INT(ftls_source_reload(g_src, NULL), FTLS_OK);
    ftls_identity *id = NULL;
    REQUIRE(ftls_source_get1_identity(g_src, &id, NULL) == FTLS_OK);
    CHECK_EQ_INT(gen_of(id), ROTATIONS);
    ftls_identity_free(id);
    printf("# rotations=%d reloads=%d checks=%d generations=%llu\n", ROTATIONS,
           atomic_load(&g_reloads), atomic_load(&g_checks),
           (unsigned long long)ftls_source_generation(g_src));
    CHECK_EQ_INT(atomic_load(&g_mismatches), 0);
    CHECK_EQ_INT(atomic_load(&g_unexpected_rc), 0);
    CHECK(atomic_load(&g_checks) > 0);
    CHECK(ftls_source_generation(g_src) > 1);
    ftls_watcher_free(w);
    ftls_source_free(g_src);
}

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    REQUIRE(tu_write_file(path, data, n));
}

static void test_non_atomic_writer(void)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s/plain", g_root);
    REQUIRE(mkdir(d, 0755) == 0);
    put(d, "tls.crt", g_m[1].crt, g_m[1].ncrt);
    put(d, "tls.key", g_m[1].key, g_m[1].nkey);
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_dir(d, NULL, &s, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(s, NULL) == FTLS_OK);
    /* Certificate first: the half-updated pair is refused. */
    put(d, "tls.crt", g_m[2].crt, g_m[2].ncrt);
    CHECK_EQ_INT(ftls_source_reload(s, NULL), FTLS_E_KEY_MISMATCH);
    ftls_identity *id = NULL;
    REQUIRE(ftls_source_get1_identity(s, &id, NULL) == FTLS_OK);
    CHECK_EQ_INT(gen_of(id), 1);
    ftls_identity_free(id);
    /* Then the key: the new pair goes live. */
    put(d, "tls.key", g_m[2].key, g_m[2].nkey);
    CHECK_EQ_INT(ftls_source_reload(s, NULL), FTLS_OK);
    REQUIRE(ftls_source_get1_identity(s, &id, NULL) == FTLS_OK);
    CHECK_EQ_INT(gen_of(id), 2);
    ftls_identity_free(id);
    /* A truncated write of the certificate. */
    put(d, "tls.crt", g_m[3].crt, g_m[3].ncrt / 3);
    CHECK_EQ_INT(ftls_source_reload(s, NULL), FTLS_E_PARSE);
    CHECK_EQ_INT(ftls_source_generation(s), 2);
    ftls_source_free(s);
}

/* The old generation disappears between reading the two files. */
static char g_vanish_dir[4096];
static int g_vanish_armed;
static int vanishing_open(int dirfd, const char *path, int flags)
{
    if (g_vanish_armed && strcmp(path, "tls.key") == 0) {
        g_vanish_armed = 0;
        REQUIRE(
            publish_material(g_vanish_dir, &g_m[5])); /* deletes the old dir */
    }
    return openat(dirfd, path, flags);
}

static void test_file_vanishes_mid_read(void)
{
    snprintf(g_vanish_dir, sizeof(g_vanish_dir), "%s/vanish", g_root);
    REQUIRE(mkdir(g_vanish_dir, 0755) == 0);
    REQUIRE(publish_material(g_vanish_dir, &g_m[4]));
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_dir(g_vanish_dir, NULL, &s, NULL) ==
            FTLS_OK);
    g_vanish_armed = 1;
    ftls__fileio_set_hooks(vanishing_open, NULL);
    ftls_code rc = ftls_source_reload(s, NULL);
    ftls__fileio_set_hooks(NULL, NULL);
    CHECK_EQ_INT(rc, FTLS_OK);
    CHECK_EQ_INT(g_vanish_armed, 0);
    ftls_identity *id = NULL;
    REQUIRE(ftls_source_get1_identity(s, &id, NULL) == FTLS_OK);
    CHECK_EQ_INT(gen_of(id), 5); /* the consistent, newer generation */
    ftls_identity_free(id);
    ftls_source_free(s);
}

/* The swap lands after the certificate was read and before the key is
 * looked at: the key must not come from the new generation. */
static int g_swap_armed;
static void swap_between_files(void)
{
    if (g_swap_armed) {
        g_swap_armed = 0;
        REQUIRE(publish_material(g_vanish_dir, &g_m[7]));
    }
}

static void test_swap_between_cert_and_key(void)
{
    REQUIRE(publish_material(g_vanish_dir, &g_m[6]));
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_dir(g_vanish_dir, NULL, &s, NULL) ==
            FTLS_OK);
    g_swap_armed = 1;
    ftls__read_generation_set_hook(swap_between_files);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_code rc = ftls_source_reload(s, err);
    ftls__read_generation_set_hook(NULL);
    if (rc != FTLS_OK)
        fprintf(stderr, "reload: %s\n", ftls_error_message(err));
    CHECK_EQ_INT(rc, FTLS_OK);
    CHECK_EQ_INT(g_swap_armed, 0);
    ftls_identity *id = NULL;
    REQUIRE(ftls_source_get1_identity(s, &id, NULL) == FTLS_OK);
    CHECK_EQ_INT(gen_of(id), 7);
    ftls_identity_free(id);
    ftls_error_free(err);
    ftls_source_free(s);
}

/* A writer that never stops changing the file exhausts the retries. */
static int g_churn;
static int churning_open(int dirfd, const char *path, int flags)
{
    int fd = openat(dirfd, path, flags);
    if (g_churn && strcmp(path, "tls.crt") == 0) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/churn/tls.crt", g_root);
        struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
        utimensat(AT_FDCWD, p, ts, 0); /* ctime moves on every read */
    }
    return fd;
}

static void test_endless_churn_is_a_race_error(void)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s/churn", g_root);
    REQUIRE(mkdir(d, 0755) == 0);
    put(d, "tls.crt", g_m[1].crt, g_m[1].ncrt);
    put(d, "tls.key", g_m[1].key, g_m[1].nkey);
    ftls_source *s = NULL;
    REQUIRE(ftls_source_new_identity_dir(d, NULL, &s, NULL) == FTLS_OK);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    g_churn = 1;
    ftls__fileio_set_hooks(churning_open, NULL);
    CHECK_EQ_INT(ftls_source_reload(s, err), FTLS_E_RACE);
    ftls__fileio_set_hooks(NULL, NULL);
    g_churn = 0;
    CHECK_STR_CONTAINS(ftls_error_message(err), "kept changing");
    CHECK_EQ_INT(ftls_source_reload(s, NULL), FTLS_OK);
    ftls_error_free(err);
    ftls_source_free(s);
}

/* A ..data link that points at nothing is a broken volume, reported as
 * such (it once read "files kept changing"). */
static void test_dangling_data_link(void)
{
    char d[4096], t[4200];
    snprintf(d, sizeof(d), "%s/dangling", g_root);
    REQUIRE(mkdir(d, 0755) == 0);
    snprintf(t, sizeof(t), "%s/..data", d);
    REQUIRE(symlink("..2026_11_01_gone", t) == 0);
    snprintf(t, sizeof(t), "%s/tls.crt", d);
    REQUIRE(symlink("..data/tls.crt", t) == 0);
    snprintf(t, sizeof(t), "%s/tls.key", d);
    REQUIRE(symlink("..data/tls.key", t) == 0);
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    REQUIRE(ftls_source_new_identity_dir(d, NULL, &s, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_source_reload(s, err), FTLS_E_NOT_FOUND);
    CHECK_STR_CONTAINS(ftls_error_message(err),
                       "..data points to '..2026_11_01_gone', which does not "
                       "exist");
    ftls_error_free(err);
    ftls_source_free(s);
}

int main(void)
{
    REQUIRE((g_root = tu_tmpdir()) != NULL);
    kCA = tu_key();
    struct tu_cert_opts o = {
        .cn = "K8s Test CA", .ca = 1, .lifetime = 86400L * 365};
    REQUIRE((CA = tu_cert(&o, kCA, NULL, NULL)) != NULL);
    RUN(test_atomic_writer_loop);
    RUN(test_non_atomic_writer);
    RUN(test_file_vanishes_mid_read);
    RUN(test_swap_between_cert_and_key);
    RUN(test_endless_churn_is_a_race_error);
    RUN(test_dangling_data_link);
    for (int i = 0; i <= ROTATIONS; i++)
        free_material(&g_m[i]);
    X509_free(CA);
    EVP_PKEY_free(kCA);
    tu_rmrf(g_root);
    free(g_root);
    return TEST_SUMMARY();
}
