/* Allocation-failure injection: every allocation freshtls makes on these
 * paths is failed in turn; each call must report FTLS_E_NOMEM cleanly,
 * leave no half-built object behind (LSan checks under ASan), and leave
 * previously published state intact. */
#include <pthread.h>
#include <stdatomic.h>

#include <freshtls/freshtls.h>
#include "test.h"

static atomic_long g_countdown = -1; /* fail when it reaches 0 */
static atomic_long g_failures;

static void *failing_malloc(size_t n)
{
    if (atomic_load(&g_countdown) >= 0 &&
        atomic_fetch_sub(&g_countdown, 1) == 0) {
        atomic_fetch_add(&g_failures, 1);
        return NULL;
    }
    return malloc(n);
}

static void *failing_realloc(void *p, size_t n)
{
    if (atomic_load(&g_countdown) >= 0 &&
        atomic_fetch_sub(&g_countdown, 1) == 0) {
        atomic_fetch_add(&g_failures, 1);
        return NULL;
    }
    return realloc(p, n);
}

static void fail_nth(long n)
{
    atomic_store(&g_countdown, n);
}

static void no_failures(void)
{
    atomic_store(&g_countdown, -1);
}

static int g_freed;
static void count_free(void *data, void *arg)
{
    (void)arg;
    g_freed++;
    free(data);
}

static void test_error_new_nomem(void)
{
    ftls_error *err = (ftls_error *)0x1;
    fail_nth(0);
    CHECK_EQ_INT(ftls_error_new(&err), FTLS_E_NOMEM);
    CHECK(err == NULL);
    no_failures();
}

static void test_cell_new_nomem(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_cell *cell = (ftls_cell *)0x1;
    fail_nth(0);
    CHECK_EQ_INT(ftls_cell_new(count_free, NULL, &cell, err), FTLS_E_NOMEM);
    no_failures();
    CHECK(cell == NULL);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_E_NOMEM);
    CHECK_EQ_INT(ftls_error_category(err), FTLS_CAT_RESOURCE);
    ftls_error_free(err);
}

static void test_publish_nomem_keeps_previous(void)
{
    ftls_cell *cell = NULL;
    g_freed = 0;
    REQUIRE(ftls_cell_new(count_free, NULL, &cell, NULL) == FTLS_OK);
    int *first = malloc(sizeof(int)), *second = malloc(sizeof(int));
    REQUIRE(first && second);
    *first = 1;
    *second = 2;
    REQUIRE(ftls_cell_publish(cell, first, NULL, NULL) == FTLS_OK);
    ftls_snapshot *s = NULL;
    REQUIRE(ftls_cell_get1_snapshot(cell, &s) == FTLS_OK); /* slot allocated */
    ftls_snapshot_free(s);

    uint64_t gen = 77;
    fail_nth(0);
    CHECK_EQ_INT(ftls_cell_publish(cell, second, &gen, NULL), FTLS_E_NOMEM);
    no_failures();
    CHECK_EQ_INT(gen, 0);
    CHECK_EQ_INT(g_freed, 0); /* caller still owns `second` */
    CHECK_EQ_INT(ftls_cell_generation(cell), 1);
    REQUIRE(ftls_cell_get1_snapshot(cell, &s) == FTLS_OK);
    CHECK_EQ_INT(*(int *)ftls_snapshot_get0_data(s), 1);
    ftls_snapshot_free(s);
    free(second);
    ftls_cell_free(cell);
    CHECK_EQ_INT(g_freed, 1);
}

/* A thread's first read allocates its reader slot; that may fail. */
static ftls_cell *g_cell;
static void *first_read_fails(void *arg)
{
    ftls_code expected = *(ftls_code *)arg;
    ftls_snapshot *s = (ftls_snapshot *)0x1;
    fail_nth(0);
    ftls_code rc = ftls_cell_get1_snapshot(g_cell, &s);
    no_failures();
    CHECK_EQ_INT(rc, expected);
    if (rc == FTLS_OK)
        ftls_snapshot_free(s);
    if (rc != FTLS_OK)
        CHECK(s == NULL);
    /* The next read on the same thread succeeds. */
    CHECK_EQ_INT(ftls_cell_get1_snapshot(g_cell, &s), FTLS_OK);
    ftls_snapshot_free(s);
    return NULL;
}

static void test_first_read_slot_nomem(void)
{
    static int payload = 3;
    REQUIRE(ftls_cell_new(NULL, NULL, &g_cell, NULL) == FTLS_OK);
    REQUIRE(ftls_cell_publish(g_cell, &payload, NULL, NULL) == FTLS_OK);
    /* The first new thread must allocate a slot, and that fails. Threads
     * started after it has exited reuse its slot without allocating. */
    ftls_code expect[3] = {FTLS_E_NOMEM, FTLS_OK, FTLS_OK};
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, first_read_fails, &expect[i]) == 0);
        pthread_join(t, NULL);
    }
    ftls_cell_free(g_cell);
}

int main(void)
{
    REQUIRE(ftls_mem_set_functions(failing_malloc, failing_realloc, free) ==
            FTLS_OK);
    RUN(test_error_new_nomem);
    RUN(test_cell_new_nomem);
    RUN(test_publish_nomem_keeps_previous);
    RUN(test_first_read_slot_nomem);
    printf("# injected failures: %ld\n", atomic_load(&g_failures));
    return TEST_SUMMARY();
}
