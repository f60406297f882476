/* The snapshot cell; see include/freshtls/snapshot.h and
 * docs/design/snapshot.md for the design and its measurements. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/fork.h"
#include "base/grace.h"
#include "base/internal.h"
#include "base/testhook.h"

struct ftls_snapshot {
    struct ftls_snapshot_head head; /* must stay first: public inline ABI */
    _Atomic uint64_t refs;
    ftls_snapshot_free_fn free_fn;
    void *free_arg;
};
_Static_assert(offsetof(struct ftls_snapshot, head) == 0,
               "ftls_snapshot_head must lead ftls_snapshot");

struct ftls_cell {
    /* Readers touch only this line (plus the snapshot itself). */
    _Alignas(FTLS_CACHELINE) _Atomic(ftls_snapshot *) current;
    _Atomic uint64_t generation;
    /* Publisher-only state below, on its own line. */
    _Alignas(FTLS_CACHELINE) pthread_mutex_t publish_lock;
    uint64_t last_generation;
    ftls_snapshot_free_fn free_fn;
    void *free_arg;
    void *raw; /* the allocation this aligned struct lives in */
};

ftls_code ftls_cell_new(ftls_snapshot_free_fn free_fn, void *free_arg,
                        ftls_cell **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    ftls__grace_init();
    /* Over-allocate to honour the struct's cache-line alignment through any
     * ftls_mem_set_functions() allocator. */
    unsigned char *raw = ftls__calloc(1, sizeof(ftls_cell) + FTLS_CACHELINE);
    if (raw == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "cell: out of memory");
    ftls_cell *cell = (ftls_cell *)(((uintptr_t)raw + FTLS_CACHELINE - 1) &
                                    ~(uintptr_t)(FTLS_CACHELINE - 1));
    cell->raw = raw;
    if (pthread_mutex_init(&cell->publish_lock, NULL) != 0) {
        ftls__free(raw);
        return ftls__err(err, FTLS_E_NOMEM, "cell: cannot create lock");
    }
    atomic_init(&cell->current, NULL);
    atomic_init(&cell->generation, 0);
    cell->free_fn = free_fn;
    cell->free_arg = free_arg;
    *out = cell;
    return FTLS_OK;
}

void ftls_cell_free(ftls_cell *cell)
{
    if (cell == NULL)
        return;
    ftls_snapshot *cur = atomic_exchange(&cell->current, NULL);
    pthread_mutex_destroy(&cell->publish_lock);
    ftls__free(cell->raw);
    ftls_snapshot_free(cur);
}

ftls_code ftls_cell_publish(ftls_cell *cell, void *data, uint64_t *generation,
                            ftls_error *err)
{
    if (generation != NULL)
        *generation = 0;
    FTLS_GUARD_ARG(cell != NULL, err, "cell is NULL");
    FTLS_GUARD_ARG(data != NULL, err, "data is NULL");

    ftls_snapshot *snap = ftls__malloc(sizeof(*snap));
    if (snap == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "publish: out of memory");
    atomic_init(&snap->refs, 1); /* the cell's own reference */
    snap->head.data = data;
    snap->free_fn = cell->free_fn;
    snap->free_arg = cell->free_arg;

    /* Once the lock is released another publisher may replace and free
     * `snap`: everything we report about it is captured under the lock. */
    ftls__op_enter();
    ftls__lock(&cell->publish_lock);
    uint64_t gen = ++cell->last_generation;
    snap->head.generation = gen;
    ftls_snapshot *old =
        atomic_exchange_explicit(&cell->current, snap, memory_order_seq_cst);
    atomic_store_explicit(&cell->generation, gen, memory_order_release);
    ftls__unlock(&cell->publish_lock);
    ftls__op_exit();
    FTLS_TEST_HOOK(FTLS_HOOK_CELL_PUBLISHED, cell);

    if (generation != NULL)
        *generation = gen;
    if (old != NULL) {
        /* Readers that loaded `old` before the swap may not have counted
         * their reference yet; wait for them before dropping ours. */
        ftls__grace_wait();
        ftls_snapshot_free(old);
    }
    return FTLS_OK;
}

ftls_code ftls_cell_get1_snapshot(ftls_cell *cell, ftls_snapshot **out)
{
    if (out == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    *out = NULL;
    if (cell == NULL)
        return FTLS_E_INVALID_ARGUMENT;

    struct ftls__reader_slot *slot = ftls__tls_slot;
    if (__builtin_expect(slot == NULL, 0)) {
        slot = ftls__grace_slot_alloc();
        if (slot == NULL)
            return FTLS_E_NOMEM;
    }
    uint64_t seq = ftls__grace_enter(slot);
    ftls_snapshot *snap =
        atomic_load_explicit(&cell->current, FTLS_GRACE_LOAD_ORDER);
    if (snap != NULL)
        atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    ftls__grace_exit(slot, seq);

    if (snap == NULL)
        return FTLS_E_EMPTY;
    *out = snap;
    return FTLS_OK;
}

uint64_t ftls_cell_generation(const ftls_cell *cell)
{
    if (cell == NULL)
        return 0;
    return atomic_load_explicit(&((ftls_cell *)cell)->generation,
                                memory_order_acquire);
}

void ftls_snapshot_free(ftls_snapshot *snap)
{
    if (snap == NULL)
        return;
    uint64_t was =
        atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel);
    FTLS_ASSERT(was >= 1); /* a free without a reference is a double free */
    if (was != 1)
        return;
    if (snap->free_fn != NULL)
        snap->free_fn(snap->head.data, snap->free_arg);
    ftls__free(snap);
}

ftls_code ftls_snapshot_up_ref(ftls_snapshot *snap)
{
    if (snap == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return FTLS_OK;
}
