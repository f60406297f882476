/* Concurrent first calls load the system roots exactly once, and all get
 * the same set. The file opens are counted through the I/O test hook. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/fileio.h"
#include "test.h"
#include "testutil.h"

#define THREADS 8
static char g_file[4096];
static atomic_int g_opens;
static pthread_barrier_t g_start;
static ftls_roots *g_got[THREADS];

static int counting_open(int dirfd, const char *p, int flags)
{
    if (strcmp(p, g_file) == 0) {
        atomic_fetch_add(&g_opens, 1);
        usleep(20 * 1000); /* widen the window for racing first callers */
    }
    return openat(dirfd, p, flags);
}

static void *first_caller(void *arg)
{
    int i = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_start);
    if (ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &g_got[i], NULL) != FTLS_OK)
        g_got[i] = NULL;
    return NULL;
}

static void test_one_load_for_concurrent_first_calls(void)
{
    char *dir = tu_tmpdir();
    REQUIRE(dir != NULL);
    snprintf(g_file, sizeof(g_file), "%s/roots.pem", dir);
    EVP_PKEY *k = tu_key();
    struct tu_cert_opts o = {.cn = "Once Root", .ca = 1};
    X509 *root = tu_cert(&o, k, NULL, NULL);
    REQUIRE(root != NULL && tu_write_certs(g_file, "w", &root, 1));
    setenv("SSL_CERT_FILE", g_file, 1);
    unsetenv("SSL_CERT_DIR");
    ftls__fileio_set_hooks(counting_open, NULL);
    pthread_barrier_init(&g_start, NULL, THREADS);
    pthread_t th[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, first_caller, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ftls__fileio_set_hooks(NULL, NULL);
    CHECK_EQ_INT(atomic_load(&g_opens), 1);
    for (int i = 0; i < THREADS; i++) {
        CHECK(g_got[i] != NULL && g_got[i] == g_got[0]);
        ftls_roots_free(g_got[i]);
    }
    pthread_barrier_destroy(&g_start);
    X509_free(root);
    EVP_PKEY_free(k);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    RUN(test_one_load_for_concurrent_first_calls);
    return TEST_SUMMARY();
}
