/*
 * Reader windows and grace periods for the snapshot cell.
 *
 * A reader brackets the few instructions between loading a shared pointer
 * and taking a reference on its target with grace_enter()/grace_exit().
 * A writer that has unpublished a pointer calls ftls__grace_wait(); when it
 * returns, no reader can still be inside a window that began before the
 * unpublish, so the writer may drop its own reference.
 *
 * Each thread owns one slot, allocated on its first read and recycled when
 * the thread exits. A slot's sequence number is odd while its thread is in
 * a window. On Linux the writer calls membarrier(2), which lets the reader
 * publish its odd number with a plain store and a compiler barrier instead
 * of a full fence (the asymmetric-fence technique of liburcu).
 */
#ifndef FTLS_GRACE_H
#define FTLS_GRACE_H

#include <stdatomic.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define FTLS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FTLS_TSAN 1
#endif
#endif

#define FTLS_CACHELINE 64

/*
 * Memory order of the reader's load of the protected pointer. TSan cannot
 * model standalone fences or membarrier, so TSan builds make both sides of
 * the reader/writer handshake sequentially consistent instead.
 */
#ifdef FTLS_TSAN
#define FTLS_GRACE_LOAD_ORDER memory_order_seq_cst
#else
#define FTLS_GRACE_LOAD_ORDER memory_order_acquire
#endif

struct ftls__reader_slot {
    _Atomic uint64_t seq; /* odd while the owning thread is in a window */
    atomic_int in_use;    /* 1 while a live thread owns the slot */
    struct ftls__reader_slot *next; /* registry link; slots are never freed */
    char pad[FTLS_CACHELINE - sizeof(uint64_t) - sizeof(int) - sizeof(void *)];
};

extern _Thread_local struct ftls__reader_slot *ftls__tls_slot
    __attribute__((tls_model("initial-exec")));
/* 1 once membarrier(PRIVATE_EXPEDITED) is registered for this process. */
extern int ftls__grace_asymmetric;

/* Process-wide one-time setup; call before the first reader or writer. */
void ftls__grace_init(void);
/* Slow path of the first read on a thread; NULL when allocation fails. */
struct ftls__reader_slot *ftls__grace_slot_alloc(void);
/* Wait until every window that began before this call has ended. */
void ftls__grace_wait(void);

static inline uint64_t ftls__grace_enter(struct ftls__reader_slot *slot)
{
    uint64_t s = atomic_load_explicit(&slot->seq, memory_order_relaxed);
#ifdef FTLS_TSAN
    atomic_store_explicit(&slot->seq, s + 1, memory_order_seq_cst);
#else
    atomic_store_explicit(&slot->seq, s + 1, memory_order_relaxed);
    if (__builtin_expect(ftls__grace_asymmetric, 1))
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
#endif
    return s;
}

static inline void ftls__grace_exit(struct ftls__reader_slot *slot, uint64_t s)
{
    atomic_store_explicit(&slot->seq, s + 2, memory_order_release);
}

#endif /* FTLS_GRACE_H */
