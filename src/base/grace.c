/* Per-thread reader slots and the writer's grace-period wait. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#include "base/fork.h"
#include "base/grace.h"
#include "base/internal.h"

_Thread_local struct ftls__reader_slot *ftls__tls_slot
    __attribute__((tls_model("initial-exec")));
int ftls__grace_asymmetric;

static _Atomic(struct ftls__reader_slot *) g_slots;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static int g_key_ok;

#if defined(__linux__) && defined(__NR_membarrier)
static int membarrier(int cmd)
{
    return (int)syscall(__NR_membarrier, cmd, 0, 0);
}
#endif

/* Thread exit: hand the slot back for reuse by a later thread. */
static void slot_release(void *p)
{
    struct ftls__reader_slot *slot = p;
    ftls__tls_slot = NULL;
    atomic_store_explicit(&slot->in_use, 0, memory_order_release);
}

static void register_membarrier(void)
{
    ftls__grace_asymmetric = 0;
#if defined(__linux__) && defined(__NR_membarrier) && !defined(FTLS_TSAN)
    /* ThreadSanitizer cannot see membarrier's ordering, so TSan builds use
     * the symmetric fences on both sides instead. */
    int cmds = membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
        ftls__grace_asymmetric = 1;
#endif
}

/* In a forked child only the forking thread exists. Every other slot
 * belonged to a thread that is gone: a window it had open will never close
 * and would block ftls__grace_wait() forever, so close it and free the slot
 * for reuse. The membarrier registration is redone for the child's new
 * address space (a registered parent does not make a registered child). */
static void grace_after_fork_child(void)
{
    for (struct ftls__reader_slot *s =
             atomic_load_explicit(&g_slots, memory_order_acquire);
         s != NULL; s = s->next) {
        if (s == ftls__tls_slot)
            continue;
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
        if (seq & 1)
            atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
        atomic_store_explicit(&s->in_use, 0, memory_order_release);
    }
    register_membarrier();
}

static void grace_init_once(void)
{
    g_key_ok = pthread_key_create(&g_key, slot_release) == 0;
    register_membarrier();
    ftls__fork_on_child(grace_after_fork_child);
}

void ftls__grace_init(void)
{
    pthread_once(&g_once, grace_init_once);
}

static struct ftls__reader_slot *slot_claim_free(void)
{
    struct ftls__reader_slot *s;
    for (s = atomic_load_explicit(&g_slots, memory_order_acquire); s != NULL;
         s = s->next) {
        int expected = 0;
        if (atomic_load_explicit(&s->in_use, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&s->in_use, &expected, 1))
            return s;
    }
    return NULL;
}

static struct ftls__reader_slot *slot_new(void)
{
    /* Over-allocate so the slot can sit on its own cache line. Slots live
     * for the rest of the process; the registry keeps them reachable. */
    unsigned char *raw =
        ftls__calloc(1, sizeof(struct ftls__reader_slot) + FTLS_CACHELINE);
    if (raw == NULL)
        return NULL;
    uintptr_t a = ((uintptr_t)raw + FTLS_CACHELINE - 1) &
                  ~(uintptr_t)(FTLS_CACHELINE - 1);
    struct ftls__reader_slot *s = (struct ftls__reader_slot *)a;
    atomic_init(&s->seq, 0);
    atomic_init(&s->in_use, 1);
    s->next = atomic_load_explicit(&g_slots, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &g_slots, &s->next, s, memory_order_release, memory_order_relaxed))
        ;
    return s;
}

struct ftls__reader_slot *ftls__grace_slot_alloc(void)
{
    ftls__grace_init();
    struct ftls__reader_slot *s = slot_claim_free();
    if (s == NULL)
        s = slot_new();
    if (s == NULL)
        return NULL;
    /* Without the key the slot is simply never recycled: a bounded leak of
     * one cache line per thread, not a correctness problem. */
    if (g_key_ok)
        (void)pthread_setspecific(g_key, s);
    ftls__tls_slot = s;
    return s;
}

static void wait_barrier(void)
{
#if defined(__linux__) && defined(__NR_membarrier)
    if (ftls__grace_asymmetric) {
        if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
            return;
        /* Registered but refused: cannot happen on a sane kernel. The
         * global command is slower but gives the same guarantee. */
        if (membarrier(MEMBARRIER_CMD_GLOBAL) == 0)
            return;
        abort(); /* readers rely on the barrier; continuing would be unsafe */
    }
#endif
#ifndef FTLS_TSAN
    atomic_thread_fence(memory_order_seq_cst);
#endif
    /* TSan builds: the caller's seq_cst exchange and the seq_cst loads in
     * ftls__grace_wait() pair with the reader's seq_cst store and load. */
}

void ftls__grace_wait(void)
{
    wait_barrier();
    for (struct ftls__reader_slot *s =
             atomic_load_explicit(&g_slots, memory_order_acquire);
         s != NULL; s = s->next) {
        uint64_t seen = atomic_load_explicit(&s->seq, memory_order_seq_cst);
        if ((seen & 1) == 0)
            continue;
        /* The window is a handful of instructions; if it is still open the
         * reader was most likely preempted, so yield to let it finish. */
        for (unsigned spins = 0;
             atomic_load_explicit(&s->seq, memory_order_acquire) == seen;
             spins++) {
            if (spins >= 64)
                sched_yield();
        }
    }
}
