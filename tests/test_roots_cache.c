/* The process-wide roots: sticky first error, refresh by swap, failed
 * refresh keeps the last good set, the watcher picks up changes, and the
 * override never falls back silently. One scenario, in order, because the
 * cache is per process. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "test.h"
#include "testutil.h"

static char *g_dir, g_file[4096];
static X509 *g_root[2];

struct logs {
    atomic_int errors, infos;
};
static struct logs g_logs;

static void on_log(ftls_log_level level, const char *msg, void *ud)
{
    (void)msg, (void)ud;
    if (level == FTLS_LOG_ERROR)
        atomic_fetch_add(&g_logs.errors, 1);
    else
        atomic_fetch_add(&g_logs.infos, 1);
}

static void setup(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    snprintf(g_file, sizeof(g_file), "%s/roots.pem", g_dir);
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *k = tu_key();
        char cn[32];
        snprintf(cn, sizeof(cn), "Cache Root %d", i);
        struct tu_cert_opts o = {.cn = cn, .ca = 1};
        REQUIRE((g_root[i] = tu_cert(&o, k, NULL, NULL)) != NULL);
        EVP_PKEY_free(k);
    }
    setenv("SSL_CERT_FILE", g_file, 1);
    unsetenv("SSL_CERT_DIR");
    REQUIRE(ftls_log_set_callback(on_log, NULL, FTLS_LOG_INFO) == FTLS_OK);
}

static void test_sticky_first_error(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_roots *r = (ftls_roots *)0x1;
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, err),
                 FTLS_E_NOT_FOUND);
    CHECK(r == NULL);
    CHECK_STR_CONTAINS(ftls_error_message(err), "roots.pem");
    /* The override is unusable: auto and both do not fall back. */
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_AUTO, &r, err),
                 FTLS_E_NOT_FOUND);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_BOTH, &r, err),
                 FTLS_E_NOT_FOUND);
    /* The embedded bundle never depends on the file system. */
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_FALLBACK, &r, err), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 121);
    ftls_roots_free(r);
    /* Fixing the file does not change the answer until a refresh. */
    REQUIRE(tu_write_certs(g_file, "w", &g_root[0], 1));
    ftls_error_clear(err);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, err),
                 FTLS_E_NOT_FOUND);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_E_NOT_FOUND);
    CHECK_EQ_INT(ftls_roots_generation(), 0);
    ftls_error_free(err);
}

static ftls_roots *g_good;

static void test_refresh_succeeds(void)
{
    CHECK_EQ_INT(ftls_roots_refresh(NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_generation(), 1);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &g_good, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(g_good), 1);
    ftls_roots *again = NULL, *both = NULL, *autor = NULL;
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &again, NULL),
                 FTLS_OK);
    CHECK(again == g_good); /* same refcounted set, no reload */
    ftls_roots_free(again);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_AUTO, &autor, NULL),
                 FTLS_OK);
    CHECK(autor == g_good);
    ftls_roots_free(autor);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_BOTH, &both, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(both), 122);
    ftls_roots_free(both);
}

static void test_failed_refresh_keeps_previous(void)
{
    REQUIRE(tu_write_file(g_file, "garbage\n", 8));
    int errors_before = atomic_load(&g_logs.errors);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_roots_refresh(err), FTLS_E_NO_ROOTS);
    CHECK_STR_CONTAINS(ftls_error_message(err), "no PEM certificate");
    CHECK(atomic_load(&g_logs.errors) > errors_before); /* and it was logged */
    CHECK_EQ_INT(ftls_roots_generation(), 1);
    ftls_roots *r = NULL;
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, NULL), FTLS_OK);
    CHECK(r == g_good);
    ftls_roots_free(r);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_AUTO, &r, NULL), FTLS_OK);
    CHECK(r == g_good);
    ftls_roots_free(r);
    /* Holders of the old set keep it valid through later swaps. */
    CHECK_EQ_INT(ftls_roots_count(g_good), 1);
    ftls_error_free(err);
}

static void test_watcher_picks_up_change(void)
{
    CHECK_EQ_INT(ftls_roots_watch_start(20, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_watch_start(20, NULL), FTLS_E_STATE);
    usleep(50 * 1000); /* let the watcher take its first signature */
    uint64_t gen = ftls_roots_generation();
    REQUIRE(tu_write_certs(g_file, "w", g_root, 2));
    /* Wait for the swap; the bound is generous and only guards a hang. */
    for (int i = 0; i < 1000 && ftls_roots_generation() == gen; i++)
        usleep(10 * 1000);
    ftls_roots_watch_stop();
    ftls_roots_watch_stop(); /* idempotent */
    CHECK(ftls_roots_generation() > gen);
    ftls_roots *r = NULL;
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &r, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 2);
    CHECK(r != g_good);
    ftls_roots_free(r);
    ftls_roots_free(g_good);
}

int main(void)
{
    setup();
    RUN(test_sticky_first_error);
    RUN(test_refresh_succeeds);
    RUN(test_failed_refresh_keeps_previous);
    RUN(test_watcher_picks_up_change);
    CHECK(ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) == FTLS_OK);
    X509_free(g_root[0]);
    X509_free(g_root[1]);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
