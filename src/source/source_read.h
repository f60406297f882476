/* Generation-consistent reading of one or two files from a directory. */
#ifndef FTLS_SOURCE_READ_H
#define FTLS_SOURCE_READ_H

#include <limits.h>

#include "base/fileio.h"

#define FTLS_RACE_RETRIES 8

struct ftls__generation {
    struct ftls__buf a, b;      /* first and (optional) second file */
    char data_target[PATH_MAX]; /* resolved ..data target, "" when none */
};

/*
 * Read `name_a` and optionally `name_b` from directory `dir` as one
 * generation. When `dir/..data` is a symlink (Kubernetes AtomicWriter), it
 * is resolved once and both files are read relative to the resolved
 * directory's fd. Afterwards ..data must still point there and both files
 * must be unchanged (device, inode, size, mtime, ctime); otherwise the
 * read is retried up to FTLS_RACE_RETRIES times (FTLS_E_RACE after). An
 * ENOENT in a generation that was replaced meanwhile is retried too.
 * Both buffers are wiped when freed with ftls__generation_free().
 */
FTLS_NODISCARD ftls_code ftls__read_generation(const char *dir,
                                               const char *name_a,
                                               const char *name_b, size_t cap,
                                               struct ftls__generation *out,
                                               ftls_error *err);
void ftls__generation_free(struct ftls__generation *g);

/* Test hook: called after the first file of a generation was read and
 * before the second is looked at (the window of envoy #13370). */
void ftls__read_generation_set_hook(void (*fn)(void));

#endif
