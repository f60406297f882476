/* The fork gate; see fork.h and docs/design/fork.md. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/fork.h"
#include "base/internal.h"
#include "base/testhook.h"

#define CHILD_HANDLERS_MAX 8

static atomic_long g_inflight; /* outermost operations in flight */
static atomic_int g_closed;    /* a fork() is being prepared */
static _Thread_local long tl_depth;
static _Atomic pid_t g_pid;
static _Atomic(ftls__fork_child_fn) g_child[CHILD_HANDLERS_MAX];
static atomic_int g_nchild;

void ftls__op_enter(void)
{
    if (tl_depth++ > 0)
        return;
    for (;;) {
        atomic_fetch_add(&g_inflight, 1);
        if (!atomic_load(&g_closed))
            return;
        /* A fork is being prepared: step back out and wait for it. */
        atomic_fetch_sub(&g_inflight, 1);
        while (atomic_load(&g_closed))
            sched_yield();
    }
}

int ftls__op_try_enter(void)
{
    if (tl_depth > 0) {
        tl_depth++;
        return 1;
    }
    atomic_fetch_add(&g_inflight, 1);
    if (!atomic_load(&g_closed)) {
        tl_depth = 1;
        return 1;
    }
    atomic_fetch_sub(&g_inflight, 1);
    return 0;
}

void ftls__op_exit(void)
{
    if (--tl_depth == 0)
        atomic_fetch_sub(&g_inflight, 1);
}

static void prepare(void)
{
    atomic_store(&g_closed, 1);
    /* A fork() from inside an operation (a callback that forks) owns its
     * own count; every other thread's operation must finish. */
    long own = tl_depth > 0 ? 1 : 0;
    while (atomic_load(&g_inflight) > own)
        sched_yield();
    FTLS_TEST_HOOK(FTLS_HOOK_FORK_PREPARE, NULL);
}

static void parent(void)
{
    atomic_store(&g_closed, 0);
}

static void child(void)
{
    atomic_store(&g_inflight, tl_depth > 0 ? 1 : 0);
    atomic_store(&g_pid, getpid());
    int n = atomic_load(&g_nchild);
    for (int i = 0; i < n && i < CHILD_HANDLERS_MAX; i++) {
        ftls__fork_child_fn fn = atomic_load(&g_child[i]);
        if (fn != NULL)
            fn();
    }
    atomic_store(&g_closed, 0);
}

__attribute__((constructor)) static void fork_init(void)
{
    atomic_store(&g_pid, getpid());
    if (pthread_atfork(prepare, parent, child) != 0)
        abort(); /* ENOMEM at load time: nothing sensible to continue with */
}

void ftls__fork_on_child(ftls__fork_child_fn fn)
{
    int i = atomic_fetch_add(&g_nchild, 1);
    if (i >= CHILD_HANDLERS_MAX)
        abort(); /* a fixed set of internal modules registers; a bug */
    atomic_store(&g_child[i], fn);
}

pid_t ftls__pid(void)
{
    return atomic_load(&g_pid);
}
