/* Snapshot cell: publish/acquire semantics, generations, destruction. */
#include <pthread.h>
#include <stdatomic.h>

#include <freshtls/freshtls.h>
#include "test.h"

static atomic_int g_destroyed;

static void destroy_int(void *data, void *arg)
{
    CHECK(arg == &g_destroyed);
    atomic_fetch_add(&g_destroyed, 1);
    free(data);
}

static int *new_int(int v)
{
    int *p = malloc(sizeof(*p));
    REQUIRE(p != NULL);
    *p = v;
    return p;
}

static void test_empty_cell(void)
{
    ftls_cell *cell = NULL;
    ftls_snapshot *s = (ftls_snapshot *)0x1;
    REQUIRE(ftls_cell_new(destroy_int, &g_destroyed, &cell, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_cell_get1_snapshot(cell, &s), FTLS_E_EMPTY);
    CHECK(s == NULL);
    CHECK_EQ_INT(ftls_cell_generation(cell), 0);
    ftls_cell_free(cell);
}

static void test_publish_acquire_replace(void)
{
    atomic_store(&g_destroyed, 0);
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(destroy_int, &g_destroyed, &cell, NULL) == FTLS_OK);
    uint64_t gen = 0;
    CHECK_EQ_INT(ftls_cell_publish(cell, new_int(1), &gen, NULL), FTLS_OK);
    CHECK_EQ_INT(gen, 1);
    CHECK_EQ_INT(ftls_cell_generation(cell), 1);

    ftls_snapshot *a = NULL;
    CHECK_EQ_INT(ftls_cell_get1_snapshot(cell, &a), FTLS_OK);
    REQUIRE(a != NULL);
    CHECK_EQ_INT(*(int *)ftls_snapshot_get0_data(a), 1);
    CHECK_EQ_INT(ftls_snapshot_generation(a), 1);

    CHECK_EQ_INT(ftls_cell_publish(cell, new_int(2), &gen, NULL), FTLS_OK);
    CHECK_EQ_INT(gen, 2);
    /* `a` is still held, so generation 1 is alive. */
    CHECK_EQ_INT(atomic_load(&g_destroyed), 0);
    CHECK_EQ_INT(*(int *)ftls_snapshot_get0_data(a), 1);

    ftls_snapshot *b = NULL;
    CHECK_EQ_INT(ftls_cell_get1_snapshot(cell, &b), FTLS_OK);
    CHECK_EQ_INT(*(int *)ftls_snapshot_get0_data(b), 2);
    CHECK_EQ_INT(ftls_snapshot_generation(b), 2);

    ftls_snapshot_free(a);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 1); /* last holder of gen 1 */
    ftls_snapshot_free(b);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 1); /* gen 2 still current */
    ftls_cell_free(cell);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 2);
}

static void test_unheld_old_destroyed_at_publish(void)
{
    atomic_store(&g_destroyed, 0);
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(destroy_int, &g_destroyed, &cell, NULL) == FTLS_OK);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(ftls_cell_publish(cell, new_int(i), NULL, NULL), FTLS_OK);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 99);
    CHECK_EQ_INT(ftls_cell_generation(cell), 100);
    ftls_cell_free(cell);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 100);
}

static void test_snapshot_outlives_cell(void)
{
    atomic_store(&g_destroyed, 0);
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(destroy_int, &g_destroyed, &cell, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_cell_publish(cell, new_int(7), NULL, NULL), FTLS_OK);
    ftls_snapshot *s = NULL;
    CHECK_EQ_INT(ftls_cell_get1_snapshot(cell, &s), FTLS_OK);
    CHECK_EQ_INT(ftls_snapshot_up_ref(s), FTLS_OK);
    ftls_cell_free(cell);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 0);
    CHECK_EQ_INT(*(int *)ftls_snapshot_get0_data(s), 7);
    ftls_snapshot_free(s);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 0);
    ftls_snapshot_free(s);
    CHECK_EQ_INT(atomic_load(&g_destroyed), 1);
}

static void test_null_destructor(void)
{
    static int payload = 5;
    ftls_cell *cell = NULL;
    REQUIRE(ftls_cell_new(NULL, NULL, &cell, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_cell_publish(cell, &payload, NULL, NULL), FTLS_OK);
    CHECK_EQ_INT(ftls_cell_publish(cell, &payload, NULL, NULL), FTLS_OK);
    ftls_cell_free(cell);
}

/* Concurrent publishers each get a distinct generation, with no gaps. */
#define PUB_THREADS 4
#define PUB_EACH 500
static ftls_cell *g_cell;
static void *publisher(void *arg)
{
    uint64_t *gens = arg;
    for (int i = 0; i < PUB_EACH; i++)
        if (ftls_cell_publish(g_cell, new_int(i), &gens[i], NULL) != FTLS_OK)
            gens[i] = 0;
    return NULL;
}

static void test_concurrent_publishers_unique_generations(void)
{
    static uint64_t gens[PUB_THREADS][PUB_EACH];
    static unsigned char seen[PUB_THREADS * PUB_EACH + 1];
    atomic_store(&g_destroyed, 0);
    REQUIRE(ftls_cell_new(destroy_int, &g_destroyed, &g_cell, NULL) == FTLS_OK);
    pthread_t th[PUB_THREADS];
    for (int t = 0; t < PUB_THREADS; t++)
        REQUIRE(pthread_create(&th[t], NULL, publisher, gens[t]) == 0);
    for (int t = 0; t < PUB_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < PUB_THREADS; t++)
        for (int i = 0; i < PUB_EACH; i++) {
            uint64_t g = gens[t][i];
            CHECK(g >= 1 && g <= PUB_THREADS * PUB_EACH);
            if (g >= 1 && g <= PUB_THREADS * PUB_EACH) {
                CHECK(!seen[g]);
                seen[g] = 1;
            }
        }
    CHECK_EQ_INT(ftls_cell_generation(g_cell), PUB_THREADS * PUB_EACH);
    ftls_cell_free(g_cell);
    CHECK_EQ_INT(atomic_load(&g_destroyed), PUB_THREADS * PUB_EACH);
}

int main(void)
{
    RUN(test_empty_cell);
    RUN(test_publish_acquire_replace);
    RUN(test_unheld_old_destroyed_at_publish);
    RUN(test_snapshot_outlives_cell);
    RUN(test_null_destructor);
    RUN(test_concurrent_publishers_unique_generations);
    return TEST_SUMMARY();
}
