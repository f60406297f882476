/*
 * Careful file I/O shared by every loader: bounded reads of regular files
 * with retry of transient errors, and atomic (temp + rename) writes.
 */
#ifndef FTLS_FILEIO_H
#define FTLS_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "base/internal.h"

/* Default cap on any single input file: far above any real bundle. */
#define FTLS_FILE_CAP_DEFAULT ((size_t)32 * 1024 * 1024)

struct ftls__buf {
    unsigned char *data;
    size_t len;
};

/*
 * Read the whole regular file at `path` (relative to `dirfd`, or AT_FDCWD),
 * following symlinks. Fails with FTLS_E_TOO_LARGE beyond `cap` bytes,
 * FTLS_E_NOT_FOUND, FTLS_E_PERMISSION, FTLS_E_IO (incl. "not a regular
 * file"). EINTR/EAGAIN/EIO/EMFILE/ENFILE are retried a few times with a
 * short backoff; the first attempt never sleeps. The buffer is
 * NUL-terminated one byte past len (not counted).
 */
FTLS_NODISCARD ftls_code ftls__file_read(int dirfd, const char *path,
                                         size_t cap, struct ftls__buf *out,
                                         ftls_error *err);
/* Free a buffer; wipe it first when `secret`. */
void ftls__buf_free(struct ftls__buf *b, int secret);

/* Atomic write: temp file in the same directory, fsync, then rename (or,
 * with `no_overwrite`, link, so an existing file is never replaced:
 * FTLS_E_EXISTS). The file gets exactly `mode`. No partial file is left
 * behind on failure. */
FTLS_NODISCARD ftls_code ftls__file_write_atomic(const char *path,
                                                 const void *data, size_t len,
                                                 mode_t mode, int no_overwrite,
                                                 ftls_error *err);

/* Sleep through the (test-replaceable) backoff hook. */
void ftls__backoff_ms(unsigned ms);

/* 1 for errno values worth retrying. */
int ftls__errno_transient(int e);

/* Test hooks: replace openat() and the backoff sleep. NULL restores. */
typedef int (*ftls__openat_fn)(int dirfd, const char *path, int flags);
typedef void (*ftls__sleep_fn)(unsigned ms);
void ftls__fileio_set_hooks(ftls__openat_fn open_fn, ftls__sleep_fn sleep_fn);

#endif
