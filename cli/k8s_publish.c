/* The Kubernetes AtomicWriter sequence (see k8s_publish.h). */
#define _XOPEN_SOURCE 700
#include "k8s_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* snprintf into a PATH_MAX buffer; 0 with ENAMETOOLONG on truncation. */
__attribute__((format(printf, 2, 3))) static int path_of(char out[PATH_MAX],
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return 0;
    }
    return 1;
}

int k8s_write_file(const char *path, const void *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return 0;
    int ok = write(fd, data, len) == (ssize_t)len;
    return close(fd) == 0 && ok;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

void k8s_rmrf(const char *path)
{
    if (path != NULL)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "..YYYY_MM_DD_hh_mm_ss.<ns><n>", unique within the process. */
static void timestamp_name(char out[96])
{
    static atomic_uint counter;
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(out, 96, "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld%u",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, now.tv_nsec, atomic_fetch_add(&counter, 1));
}

static int write_generation(const char *dir, const char *ts,
                            const struct k8s_file *files, int n)
{
    char p[PATH_MAX];
    if (!path_of(p, "%s/%s", dir, ts) || mkdir(p, 0755) != 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (!path_of(p, "%s/%s/%s", dir, ts, files[i].name) ||
            !k8s_write_file(p, files[i].data, files[i].len,
                            files[i].mode ? files[i].mode : 0644))
            return 0;
    return 1;
}

static int swap_data_link(const char *dir, const char *ts, long long *swap_ns)
{
    char tmp[PATH_MAX], data[PATH_MAX];
    if (!path_of(tmp, "%s/..data_tmp", dir) || !path_of(data, "%s/..data", dir))
        return 0;
    unlink(tmp);
    if (symlink(ts, tmp) != 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (rename(tmp, data) != 0)
        return 0;
    if (swap_ns != NULL)
        *swap_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    return 1;
}

int k8s_publish(const char *dir, const struct k8s_file *files, int n,
                long long *swap_ns)
{
    char ts[96], p[PATH_MAX], old[256] = "";
    timestamp_name(ts);
    if (!path_of(p, "%s/..data", dir))
        return 0;
    ssize_t ol = readlink(p, old, sizeof(old) - 1);
    if (ol > 0)
        old[ol] = '\0';
    if (!write_generation(dir, ts, files, n) ||
        !swap_data_link(dir, ts, swap_ns))
        return 0;
    for (int i = 0; i < n; i++) {
        char target[PATH_MAX];
        struct stat st;
        if (!path_of(p, "%s/%s", dir, files[i].name) ||
            !path_of(target, "..data/%s", files[i].name))
            return 0;
        if (lstat(p, &st) != 0 && symlink(target, p) != 0)
            return 0;
    }
    if (old[0] != '\0' && path_of(p, "%s/%s", dir, old))
        k8s_rmrf(p);
    return 1;
}
