/* Bounded, retrying reads and atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/str.h"
#include "base/testhook.h"

#define READ_ATTEMPTS 4
static const unsigned g_backoff_ms[READ_ATTEMPTS - 1] = {1, 5, 25};

static int default_openat(int dirfd, const char *path, int flags)
{
    return openat(dirfd, path, flags);
}

static void default_sleep(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static ftls__openat_fn g_openat = default_openat;
static ftls__sleep_fn g_sleep = default_sleep;

void ftls__fileio_set_hooks(ftls__openat_fn open_fn, ftls__sleep_fn sleep_fn)
{
    g_openat = open_fn ? open_fn : default_openat;
    g_sleep = sleep_fn ? sleep_fn : default_sleep;
}

void ftls__backoff_ms(unsigned ms)
{
    g_sleep(ms);
}

int ftls__errno_transient(int e)
{
    return e == EINTR || e == EAGAIN || e == EIO || e == EMFILE || e == ENFILE;
}

void ftls__buf_free(struct ftls__buf *b, int secret)
{
    if (b == NULL)
        return;
    if (secret)
        ftls__free_secret(b->data, b->len + 1);
    else
        ftls__free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* Grow a buffer that may hold secret bytes (any loader may be reading a
 * private key): copy into a new allocation and wipe the old one, since
 * realloc() would free the old bytes unwiped. */
static unsigned char *grow_secret(unsigned char *old, size_t used,
                                  size_t old_size, size_t new_size)
{
    unsigned char *n = ftls__malloc(new_size);
    if (n == NULL)
        return NULL;
    if (old != NULL) {
        memcpy(n, old, used);
        ftls__free_secret(old, old_size);
    }
    return n;
}

/* Read fd to EOF into a buffer that grows (by copy-and-wipe) from
 * `size`, never past cap bytes of content. Returns 0 with data and len set,
 * or an errno value (EFBIG over cap), with nothing returned and every byte read
 * wiped. */
static int read_all(int fd, size_t size, size_t cap, unsigned char **data,
                    size_t *len)
{
    unsigned char *buf = grow_secret(NULL, 0, 0, size);
    size_t n = 0;
    int e = buf == NULL ? ENOMEM : 0;
    while (e == 0) {
        if (n + 1 >= size) { /* EOF not seen yet: the file may have grown */
            size_t nsize = size * 2 > cap + 2 ? cap + 2 : size * 2;
            unsigned char *g = size >= cap + 2
                                   ? NULL /* read more than cap */
                                   : grow_secret(buf, n, size, nsize);
            if (g == NULL) {
                e = size >= cap + 2 ? EFBIG : ENOMEM;
                break;
            }
            buf = g;
            size = nsize;
        }
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = errno;
        else if (r == 0)
            break;
        else if ((n += (size_t)r) > cap)
            e = EFBIG;
    }
    if (e != 0) {
        if (buf != NULL) /* a partial read of what may be a key */
            ftls__free_secret(buf, size);
        return e;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* One attempt. Returns 0, or an errno value (EFBIG for over cap, EISDIR
 * etc. for non-regular files) and leaves *out empty. */
static int read_once(int dirfd, const char *path, size_t cap,
                     struct ftls__buf *out, int *not_regular)
{
    int fd =
        g_openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno;
    int e = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        e = errno;
    } else if (!S_ISREG(st.st_mode)) {
        *not_regular = 1;
        e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    } else if ((unsigned long long)st.st_size > cap) {
        e = EFBIG;
    } else {
        FTLS_TEST_HOOK(FTLS_HOOK_FILE_STATED, path);
        /* room for the NUL and an EOF probe */
        e = read_all(fd, (size_t)st.st_size + 2, cap, &out->data, &out->len);
    }
    close(fd);
    return e;
}

ftls_code ftls__file_read(int dirfd, const char *path, size_t cap,
                          struct ftls__buf *out, ftls_error *err)
{
    FTLS_GUARD_ARG(path != NULL && out != NULL, err, "path or out is NULL");
    out->data = NULL;
    out->len = 0;
    int e = 0, not_regular = 0;
    for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
        if (attempt > 0)
            g_sleep(g_backoff_ms[attempt - 1]);
        e = read_once(dirfd, path, cap, out, &not_regular);
        if (e == 0)
            return FTLS_OK;
        if (!ftls__errno_transient(e))
            break;
    }
    if (e == EFBIG)
        return ftls__err(err, FTLS_E_TOO_LARGE,
                         "%s: file larger than the %zu-byte limit", path, cap);
    if (not_regular)
        return ftls__err(err, FTLS_E_IO, "%s: not a regular file", path);
    if (ftls__errno_transient(e))
        return ftls__err_errno(err, FTLS_E_IO, e,
                               "%s: read failed after %d "
                               "attempts",
                               path, READ_ATTEMPTS);
    return ftls__err_errno(err, ftls__code_from_errno(e), e, "%s", path);
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    ftls_code rc;
    if (slash == NULL)
        rc = ftls__str_printf(dir, sizeof(dir), ".");
    else if (slash == path)
        rc = ftls__str_printf(dir, sizeof(dir), "/");
    else
        rc = ftls__str_printf(dir, sizeof(dir), "%.*s", (int)(slash - path),
                              path);
    if (rc != FTLS_OK)
        return; /* cannot happen: path itself fit in PATH_MAX */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

ftls_code ftls__file_write_atomic(const char *path, const void *data,
                                  size_t len, mode_t mode, int no_overwrite,
                                  ftls_error *err)
{
    FTLS_GUARD_ARG(path != NULL && (data != NULL || len == 0), err,
                   "path or data is NULL");
    char tmp[PATH_MAX];
    if (ftls__str_printf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) != FTLS_OK)
        return ftls__err(err, FTLS_E_TOO_LARGE, "%s: path too long", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ftls__err_errno(err, ftls__code_from_errno(errno), errno,
                               "%s: cannot create temporary file", path);
    int e = 0;
    const char *step = "write";
    if (fchmod(fd, mode) != 0) {
        e = errno;
        step = "chmod";
    } else if ((e = write_all(fd, data, len)) != 0) {
        step = "write";
    } else if (fsync(fd) != 0) {
        e = errno;
        step = "fsync";
    }
    if (close(fd) != 0 && e == 0) {
        e = errno;
        step = "close";
    }
    if (e == 0) {
        if (no_overwrite) {
            if (link(tmp, path) != 0) {
                e = errno;
                step = "link";
            }
            unlink(tmp);
        } else if (rename(tmp, path) != 0) {
            e = errno;
            step = "rename";
        }
    }
    if (e != 0) {
        unlink(tmp);
        if (e == EEXIST)
            return ftls__err(err, FTLS_E_EXISTS,
                             "%s: already exists; refusing to overwrite", path);
        return ftls__err_errno(err, ftls__code_from_errno(e), e,
                               "%s: %s failed", path, step);
    }
    fsync_parent(path);
    return FTLS_OK;
}
