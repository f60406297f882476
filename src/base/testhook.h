/*
 * Test hooks: named points in the library where a test can run code to
 * widen a race window deterministically (block one thread until another has
 * done something). They exist only in the test build of the library
 * (freshtls_testlib, compiled with FTLS_TEST_HOOKS); in the shipped library
 * FTLS_TEST_HOOK() expands to nothing.
 */
#ifndef FTLS_TESTHOOK_H
#define FTLS_TESTHOOK_H

enum ftls__hook_point {
    FTLS_HOOK_CELL_PUBLISHED,  /* publish: after the swap, lock released */
    FTLS_HOOK_LEAF_MINT_BEGIN, /* leaf cache: about to mint (arg: name) */
    FTLS_HOOK_FORK_PREPARE, /* atfork prepare: gate closed, no op in flight */
    FTLS_HOOK_FILE_STATED, /* file read: size taken, nothing read (arg: path) */
    FTLS_HOOK_ROOTS_INDEX_BUILT, /* subject index built, not yet published */
    FTLS_HOOK__COUNT
};

typedef void (*ftls__hook_fn)(enum ftls__hook_point point, const void *arg);

#ifdef FTLS_TEST_HOOKS
/* Install (or with NULL remove) the process-wide hook function. */
void ftls__test_hook_set(ftls__hook_fn fn);
void ftls__test_hook_fire(enum ftls__hook_point point, const void *arg);
#define FTLS_TEST_HOOK(point, arg) ftls__test_hook_fire((point), (arg))
#else
#define FTLS_TEST_HOOK(point, arg) ((void)0)
#endif

#endif /* FTLS_TESTHOOK_H */
