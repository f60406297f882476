/* Secrets on disk (see secret.h). */
#include "base/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/str.h"

ftls_code ftls__passphrase_get(const char *file, const char *env,
                               const char *what, struct ftls__buf *out,
                               ftls_error *err)
{
    out->data = NULL;
    out->len = 0;
    if (file != NULL) {
        ftls_code rc = ftls__file_read(AT_FDCWD, file, 4096, out, err);
        if (rc != FTLS_OK)
            return rc;
        size_t n = out->len; /* strip the line end; the wipe keeps the size */
        while (n > 0 && (out->data[n - 1] == '\n' || out->data[n - 1] == '\r'))
            out->data[--n] = '\0';
        return FTLS_OK;
    }
    if (env == NULL)
        return FTLS_OK;
    const char *v = getenv(env);
    if (v == NULL)
        return ftls__err(err, FTLS_E_NOT_FOUND,
                         "%s: passphrase variable %s is not set", what, env);
    if ((out->data = (unsigned char *)ftls__strdup(v)) == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "%s: out of memory", what);
    out->len = strlen(v);
    return FTLS_OK;
}

int ftls__pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pass = u;
    if (pass == NULL)
        return -1; /* no passphrase configured: fail, never prompt */
    size_t n = strlen(pass);
    if (size < 0 || n > (size_t)size)
        return -1;
    memcpy(buf, pass, n);
    return (int)n;
}

static int owner_ok(uid_t owner, int allow_root)
{
    return owner == geteuid() || (allow_root && owner == 0);
}

ftls_code ftls__secret_dir_check(const char *dir, const char *what,
                                 ftls_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return ftls__err_errno(err, ftls__code_from_errno(errno), errno,
                               "%s: %s", what, dir);
    if (!S_ISDIR(st.st_mode))
        return ftls__err(err, FTLS_E_IO, "%s: %s is not a directory", what,
                         dir);
    if (!owner_ok(st.st_uid, 1))
        return ftls__err(err, FTLS_E_PERMISSION,
                         "%s: directory %s is owned by uid %lu, not by this "
                         "user or root: its owner could replace the key",
                         what, dir, (unsigned long)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return ftls__err(err, FTLS_E_PERMISSION,
                         "%s: directory %s is writable by %s (mode %04o): "
                         "they could replace the key",
                         what, dir,
                         (st.st_mode & S_IWOTH) ? "others" : "its group",
                         (unsigned)(st.st_mode & 07777));
    return FTLS_OK;
}

ftls_code ftls__secret_file_check(const char *path, const char *what,
                                  ftls_error *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (realpath(path, real) == NULL || stat(real, &st) != 0)
        return ftls__err_errno(err, ftls__code_from_errno(errno), errno,
                               "%s: %s", what, path);
    if (!S_ISREG(st.st_mode))
        return ftls__err(err, FTLS_E_IO, "%s: %s is not a regular file", what,
                         path);
    if (!owner_ok(st.st_uid, 0))
        return ftls__err(err, FTLS_E_PERMISSION,
                         "%s: key %s is owned by uid %lu, not by this user "
                         "(uid %lu)",
                         what, path, (unsigned long)st.st_uid,
                         (unsigned long)geteuid());
    if (st.st_mode & 077)
        return ftls__err(err, FTLS_E_PERMISSION,
                         "%s: key %s is accessible by group or others (mode "
                         "%04o); chmod 600 it",
                         what, path, (unsigned)(st.st_mode & 07777));
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0'; /* "/key" lives in "/" */
    else if (slash != NULL)
        *slash = '\0';
    return ftls__secret_dir_check(real, what, err);
}
