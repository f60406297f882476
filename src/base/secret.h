/* Secrets on disk: passphrases from a file or the environment, a PEM
 * passphrase callback that never prompts, and the ownership and mode
 * checks for private-key files and the directories that hold them. */
#ifndef FTLS_BASE_SECRET_H
#define FTLS_BASE_SECRET_H

#include <freshtls/error.h>

#include "base/fileio.h"
#include "base/internal.h"

/* The passphrase from `file` (trailing line ends dropped) or, when file is
 * NULL, from the environment variable `env`; empty (data NULL) when both
 * are NULL. The copy is NUL-terminated; free it with ftls__buf_free(b, 1).
 * `what` names the consumer in errors ("ca", "source"). */
FTLS_NODISCARD ftls_code ftls__passphrase_get(const char *file, const char *env,
                                              const char *what,
                                              struct ftls__buf *out,
                                              ftls_error *err);

/* pem_password_cb: copies the NUL-terminated passphrase `u`; with u NULL
 * it fails, so OpenSSL never falls back to prompting on a terminal. */
int ftls__pem_pass_cb(char *buf, int size, int rwflag, void *u);

/* A private-key file may be read: a regular file owned by the effective
 * user, with no group or other permission bits, in a directory that only
 * its owner (the effective user or root) can write. Symlinks are resolved
 * first, and the directory checked is the real file's. FTLS_E_PERMISSION
 * names the failing check; FTLS_E_NOT_FOUND / FTLS_E_IO when it cannot be
 * examined. */
FTLS_NODISCARD ftls_code ftls__secret_file_check(const char *path,
                                                 const char *what,
                                                 ftls_error *err);

/* A directory may receive a private key: owned by the effective user or
 * root and writable by nobody else. */
FTLS_NODISCARD ftls_code ftls__secret_dir_check(const char *dir,
                                                const char *what,
                                                ftls_error *err);

#endif
