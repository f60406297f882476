/* Test-only hook dispatch; see testhook.h. Empty in the shipped library. */
#include "base/testhook.h"

#ifdef FTLS_TEST_HOOKS
#include <stdatomic.h>
#include <stddef.h>

static _Atomic(ftls__hook_fn) g_hook;

void ftls__test_hook_set(ftls__hook_fn fn)
{
    atomic_store(&g_hook, fn);
}

void ftls__test_hook_fire(enum ftls__hook_point point, const void *arg)
{
    ftls__hook_fn fn = atomic_load(&g_hook);
    if (fn != NULL)
        fn(point, arg);
}
#else
typedef int ftls__testhook_empty; /* ISO C forbids an empty unit */
#endif
