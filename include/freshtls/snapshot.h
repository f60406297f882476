/**
 * @file snapshot.h
 * @brief The snapshot cell: one slot holding the newest immutable,
 *        refcounted snapshot, readable from any thread without locks.
 *
 * A cell is the C counterpart of Rust's `ArcSwap<Arc<T>>`. A publisher
 * hands the cell an object (`void *data`) it will never modify again; the
 * cell wraps it in an ::ftls_snapshot with a generation number (1, 2, ...)
 * and makes it the current one atomically. Readers take a reference with
 * ftls_cell_get1_snapshot() and drop it with ftls_snapshot_free(). When
 * the last reference to a replaced snapshot goes, the cell's destructor is
 * called on its data, exactly once, on whichever thread dropped it.
 *
 * Design (docs/design/snapshot.md has the measurements): each snapshot has
 * an atomic reference count; the only hazard is the instant between a
 * reader loading the current pointer and incrementing that count. Readers
 * mark that instant in a per-thread slot that freshtls allocates lazily on
 * a thread's first read (no registration call); publishers, after swapping
 * the pointer, wait until no slot is inside such an instant before they
 * drop the cell's own reference to the old snapshot. On Linux the
 * publisher issues membarrier(2) so the reader's mark needs no fence. A
 * read therefore costs one load, two plain stores and one atomic
 * increment, and a release one atomic decrement.
 *
 * Readers never block on a publisher and never take a lock. A publisher
 * waits (yielding) only for readers that are inside the few-instruction
 * window above, never for readers that hold references.
 *
 * @par fork()
 * Cells keep working in a forked child: it can read and publish, even if
 * another thread of the parent was reading or publishing at the moment of
 * fork (docs/design/fork.md). The child sees the generation current at
 * fork and then only its own publishes.
 *
 * @warning The read path is not async-signal-safe; do not call
 *          ftls_cell_get1_snapshot() from a signal handler.
 *
 * @par Thread-safety
 * Every function is safe from any thread; ftls_cell_get1_snapshot() is
 * lock-free and never waits for a publisher. ftls_cell_free() must not
 * race with other calls on the same cell.
 */
#ifndef FRESHTLS_SNAPSHOT_H
#define FRESHTLS_SNAPSHOT_H

#include <stdint.h>
#include <freshtls/export.h>
#include <freshtls/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A slot holding the current snapshot. */
typedef struct ftls_cell ftls_cell;
/** One published, immutable, refcounted value. */
typedef struct ftls_snapshot ftls_snapshot;

/**
 * @brief Destructor for published data, called once when the last
 *        reference to its snapshot goes.
 * @param data the pointer given to ftls_cell_publish().
 * @param arg  the @p free_arg given to ftls_cell_new().
 * @warning Runs on whichever thread dropped the last reference, possibly
 *          after the cell itself has been freed; it must not call back
 *          into the same cell.
 */
typedef void (*ftls_snapshot_free_fn)(void *data, void *arg);

/**
 * @brief Create an empty cell.
 *
 * @param free_fn destructor for published data; may be NULL when the data
 *                needs no destruction.
 * @param free_arg passed to @p free_fn unchanged.
 * @param[out] out receives the cell; set to NULL on entry.
 * @param err optional error object.
 * @return FTLS_OK, FTLS_E_INVALID_ARGUMENT, FTLS_E_NOMEM.
 * @par Ownership: free with ftls_cell_free().
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_cell_new(ftls_snapshot_free_fn free_fn,
                                                void *free_arg, ftls_cell **out,
                                                ftls_error *err);

/**
 * @brief Free a cell and drop its reference to the current snapshot.
 *
 * Snapshots that callers still hold stay valid until they are freed.
 * NULL is a no-op.
 * @warning No thread may be inside any other call on this cell, and none
 *          may call one afterwards.
 * @since 0.1.0
 */
FTLS_API void ftls_cell_free(ftls_cell *cell);

/**
 * @brief Make @p data the current snapshot.
 *
 * On success the cell owns @p data and will destroy it with the cell's
 * destructor once it has been replaced and released by every holder. The
 * previous snapshot stays valid for everyone who holds it.
 *
 * @param cell the cell.
 * @param data must not be NULL; must not be modified after this call.
 * @param[out] generation optional; receives the new generation number
 *             (1 for the first publish, then strictly increasing).
 * @param err optional error object.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_NOMEM, in which case
 *         nothing changed and the caller still owns @p data.
 * @par Thread-safety: safe from any thread; concurrent publishers are
 *      serialised and each gets its own generation. May wait (yielding the
 *      CPU) for readers inside the short read window; never waits for
 *      readers that merely hold snapshots.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_cell_publish(ftls_cell *cell, void *data,
                                                    uint64_t *generation,
                                                    ftls_error *err);

/**
 * @brief Take a reference to the current snapshot ("acquire").
 *
 * @param cell the cell.
 * @param[out] out receives the snapshot; set to NULL on entry.
 * @return FTLS_OK; FTLS_E_EMPTY when nothing was published yet;
 *         FTLS_E_INVALID_ARGUMENT; FTLS_E_NOMEM only on a thread's very
 *         first read, when its reader slot cannot be allocated.
 * @par Ownership: the caller frees *out with ftls_snapshot_free(); it may
 *      do so on any thread.
 * @par Thread-safety: lock-free, safe from any number of threads
 *      concurrently with publishers. Not async-signal-safe.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_cell_get1_snapshot(ftls_cell *cell,
                                                          ftls_snapshot **out);

/**
 * @brief Generation of the current snapshot; 0 when empty or cell is NULL.
 *
 * Cheap (one atomic load); lets a caller that caches a snapshot check
 * whether a newer one exists without taking a reference.
 * @par Thread-safety: safe from any thread.
 * @return the generation of the newest published snapshot (0 before the
 *         first); lock-free.
 * @since 0.1.0
 */
FTLS_API uint64_t ftls_cell_generation(const ftls_cell *cell);

/**
 * @brief Drop one reference to a snapshot. NULL is a no-op.
 *
 * When this was the last reference to a snapshot that is no longer current,
 * the cell's destructor runs on its data before this returns.
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API void ftls_snapshot_free(ftls_snapshot *snap);

/**
 * @brief Take one more reference to a snapshot already held.
 * @return FTLS_OK or FTLS_E_INVALID_ARGUMENT (NULL).
 * @par Ownership: each successful call needs one ftls_snapshot_free().
 * @par Thread-safety: safe from any thread.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_snapshot_up_ref(ftls_snapshot *snap);

/**
 * @brief Leading members of every ::ftls_snapshot.
 *
 * Frozen ABI since 0.1.0: these two members, in this order, start every
 * snapshot, so that the accessors below inline into the caller's read path
 * (a cross-library call there costs as much as the acquire itself).
 * Language bindings that cannot use inline functions may read them
 * directly. Never write through this struct.
 */
struct ftls_snapshot_head {
    void *data;          /**< the published data */
    uint64_t generation; /**< 1 for the first publish, then increasing */
};

/**
 * @brief The published data.
 * @return the data pointer, or NULL when @p snap is NULL.
 * @warning Borrowed: valid while the caller holds @p snap. The data is
 *          shared with other threads and must be treated as read-only.
 * @par Thread-safety: safe from any thread.
 * @note Inline (see ::ftls_snapshot_head).
 * @since 0.1.0
 */
static inline void *ftls_snapshot_get0_data(const ftls_snapshot *snap)
{
    return snap ? ((const struct ftls_snapshot_head *)(const void *)snap)->data
                : (void *)0;
}

/**
 * @brief The snapshot's generation number; 0 when @p snap is NULL.
 * @par Thread-safety: safe from any thread.
 * @note Inline (see ::ftls_snapshot_head).
 * @since 0.1.0
 */
static inline uint64_t ftls_snapshot_generation(const ftls_snapshot *snap)
{
    return snap ? ((const struct ftls_snapshot_head *)(const void *)snap)
                      ->generation
                : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_SNAPSHOT_H */
