/*
 * Snapshot cell stress: several readers and one publisher race. Readers
 * hold snapshots across publishes and verify canaries until they release;
 * at the end every snapshot ever published must have been destroyed exactly
 * once. Meant to run under TSan and ASan (CI does both).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <freshtls/freshtls.h>
#include "test.h"

#define READERS 3
#define MIN_ACQUIRES 1000000L /* in total over all readers */
#define PUBLISHES 10000
#define HOLD 4 /* snapshots each reader keeps in flight */
#define CANARY_HEAD 0xC0FFEE11DEADBEEFULL
#define CANARY_TAIL 0x5AFE5AFE5AFE5AFEULL
#define POISON 0xDDDDDDDDDDDDDDDDULL

struct payload {
    uint64_t head;
    uint64_t tag; /* publisher's sequence number, 1..PUBLISHES */
    unsigned char body[48];
    uint64_t tail;
};

static ftls_cell *g_cell;
static atomic_int g_publisher_done;
static atomic_long g_acquires;
static atomic_long g_canary_failures;
static atomic_long g_order_failures;
static atomic_int g_destroy_count[PUBLISHES + 1];

static int payload_ok(const struct payload *p)
{
    if (p->head != CANARY_HEAD || p->tail != CANARY_TAIL)
        return 0;
    for (size_t i = 0; i < sizeof(p->body); i++)
        if (p->body[i] != (unsigned char)(p->tag * 31 + i))
            return 0;
    return 1;
}

static void destroy_payload(void *data, void *arg)
{
    (void)arg;
    struct payload *p = data;
    if (!payload_ok(p))
        atomic_fetch_add(&g_canary_failures, 1);
    if (p->tag >= 1 && p->tag <= PUBLISHES)
        atomic_fetch_add(&g_destroy_count[p->tag], 1);
    p->head = p->tail = POISON;
    free(p);
}

static struct payload *make_payload(uint64_t tag)
{
    struct payload *p = malloc(sizeof(*p));
    REQUIRE(p != NULL);
    p->head = CANARY_HEAD;
    p->tail = CANARY_TAIL;
    p->tag = tag;
    for (size_t i = 0; i < sizeof(p->body); i++)
        p->body[i] = (unsigned char)(tag * 31 + i);
    return p;
}

static void check_and_release(ftls_snapshot *s)
{
    if (s == NULL)
        return;
    const struct payload *p = ftls_snapshot_get0_data(s);
    if (!payload_ok(p) || p->tag != ftls_snapshot_generation(s))
        atomic_fetch_add(&g_canary_failures, 1);
    ftls_snapshot_free(s);
}

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    ftls_snapshot *held[HOLD] = {0};
    uint64_t last_gen = 0;
    long mine = 0;
    while (!atomic_load(&g_publisher_done) ||
           mine < (MIN_ACQUIRES + READERS - 1) / READERS) {
        ftls_snapshot *s = NULL;
        if (ftls_cell_get1_snapshot(g_cell, &s) != FTLS_OK) {
            atomic_fetch_add(&g_canary_failures, 1);
            break;
        }
        mine++;
        uint64_t gen = ftls_snapshot_generation(s);
        if (gen < last_gen) /* generations seen by one reader never go back */
            atomic_fetch_add(&g_order_failures, 1);
        last_gen = gen;
        /* Keep the snapshot for a while (a random slot), verifying the one
         * it replaces before releasing it. */
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 16) % HOLD;
        check_and_release(held[slot]);
        held[slot] = s;
        for (int i = 0; i < HOLD; i++)
            if (held[i] != NULL &&
                !payload_ok(ftls_snapshot_get0_data(held[i])))
                atomic_fetch_add(&g_canary_failures, 1);
    }
    for (int i = 0; i < HOLD; i++)
        check_and_release(held[i]);
    atomic_fetch_add(&g_acquires, mine);
    return NULL;
}

static void *publisher(void *arg)
{
    (void)arg;
    for (uint64_t tag = 2; tag <= PUBLISHES; tag++) {
        uint64_t gen = 0;
        struct payload *p = make_payload(tag);
        REQUIRE(ftls_cell_publish(g_cell, p, &gen, NULL) == FTLS_OK);
        if (gen != tag)
            atomic_fetch_add(&g_order_failures, 1);
    }
    atomic_store(&g_publisher_done, 1);
    return NULL;
}

static void test_stress_readers_vs_publisher(void)
{
    REQUIRE(ftls_cell_new(destroy_payload, NULL, &g_cell, NULL) == FTLS_OK);
    REQUIRE(ftls_cell_publish(g_cell, make_payload(1), NULL, NULL) == FTLS_OK);

    pthread_t r[READERS], w;
    for (uintptr_t i = 0; i < READERS; i++)
        REQUIRE(pthread_create(&r[i], NULL, reader, (void *)(i + 1)) == 0);
    REQUIRE(pthread_create(&w, NULL, publisher, NULL) == 0);
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);

    CHECK_EQ_INT(ftls_cell_generation(g_cell), PUBLISHES);
    ftls_cell_free(g_cell);

    printf("# acquires=%ld publishes=%d\n", atomic_load(&g_acquires),
           PUBLISHES);
    CHECK(atomic_load(&g_acquires) >= MIN_ACQUIRES);
    CHECK_EQ_INT(atomic_load(&g_canary_failures), 0);
    CHECK_EQ_INT(atomic_load(&g_order_failures), 0);
    long destroyed = 0;
    for (int tag = 1; tag <= PUBLISHES; tag++) {
        int n = atomic_load(&g_destroy_count[tag]);
        if (n != 1)
            fprintf(stderr, "snapshot %d destroyed %d times\n", tag, n);
        CHECK_EQ_INT(n, 1);
        destroyed += n;
    }
    CHECK_EQ_INT(destroyed, PUBLISHES);
}

int main(void)
{
    RUN(test_stress_readers_vs_publisher);
    return TEST_SUMMARY();
}
