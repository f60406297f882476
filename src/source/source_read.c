/* Reading a consistent generation from a (possibly Kubernetes) directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/source_read.h"

struct fstamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

static int stamp(int dirfd, const char *name, struct fstamp *s)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, 0) != 0)
        return errno;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
    s->ctime = st.st_ctim;
    return 0;
}

static int same(const struct fstamp *a, const struct fstamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Resolve ..data: 1 with target set, 0 when absent, -errno on error. */
static int data_link(int dfd, char *target, size_t n)
{
    ssize_t len = readlinkat(dfd, "..data", target, n);
    if (len < 0)
        return (errno == ENOENT || errno == EINVAL) ? 0 : -errno;
    if ((size_t)len >= n) /* maybe cut: two targets could compare equal */
        return -ENAMETOOLONG;
    target[len] = '\0';
    return 1;
}

static void (*g_between_files)(void);

void ftls__read_generation_set_hook(void (*fn)(void))
{
    g_between_files = fn;
}

void ftls__generation_free(struct ftls__generation *g)
{
    if (g == NULL)
        return;
    ftls__buf_free(&g->a, 1);
    ftls__buf_free(&g->b, 1);
}

/* One attempt. Returns FTLS_OK, FTLS_E_RACE (retry), or a final error. */
static FTLS_NODISCARD ftls_code attempt(int dfd, const char *dir,
                                        const char *na, const char *nb,
                                        size_t cap, struct ftls__generation *g,
                                        ftls_error *err)
{
    char target[sizeof(g->data_target)], again[sizeof(g->data_target)];
    int k8s = data_link(dfd, target, sizeof(target));
    if (k8s < 0)
        return ftls__err_errno(err, FTLS_E_IO, -k8s, "%s/..data", dir);
    int gfd = k8s ? openat(dfd, target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                  : fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (gfd < 0) /* the generation was replaced and removed meanwhile */
        return (k8s && errno == ENOENT)
                   ? FTLS_E_RACE
                   : ftls__err_errno(err, ftls__code_from_errno(errno), errno,
                                     "%s/%s", dir, k8s ? target : ".");
    ftls_code rc = FTLS_OK;
    struct fstamp sa0, sb0, sa1, sb1;
    const char *names[2] = {na, nb};
    struct ftls__buf *bufs[2] = {&g->a, &g->b};
    struct fstamp *before[2] = {&sa0, &sb0}, *after[2] = {&sa1, &sb1};
    for (int i = 0; i < 2 && rc == FTLS_OK; i++) {
        if (names[i] == NULL)
            continue;
        int e = stamp(gfd, names[i], before[i]);
        if (e == 0) {
            rc = ftls__file_read(gfd, names[i], cap, bufs[i], err);
        } else if (e == ENOENT && k8s) {
            rc = FTLS_E_RACE;
        } else {
            rc = ftls__err_errno(err, ftls__code_from_errno(e), e, "%s/%s", dir,
                                 names[i]);
        }
        if (rc == FTLS_E_NOT_FOUND && k8s) /* deleted under us */
            rc = FTLS_E_RACE;
        if (i == 0 && g_between_files != NULL)
            g_between_files();
    }
    /* Re-check: same generation, files unchanged while we read them. */
    for (int i = 0; i < 2 && rc == FTLS_OK; i++)
        if (names[i] != NULL &&
            (stamp(gfd, names[i], after[i]) != 0 || !same(before[i], after[i])))
            rc = FTLS_E_RACE;
    if (rc == FTLS_OK && k8s &&
        (data_link(dfd, again, sizeof(again)) != 1 ||
         strcmp(target, again) != 0))
        rc = FTLS_E_RACE;
    if (rc == FTLS_OK)
        memcpy(g->data_target, k8s ? target : "",
               strlen(k8s ? target : "") + 1);
    close(gfd);
    if (rc != FTLS_OK)
        ftls__generation_free(g);
    return rc;
}

/* Every attempt raced. A ..data link that still points at nothing is a
 * broken volume, not a race: say so. */
static FTLS_NODISCARD ftls_code race_outcome(int dfd, const char *dir,
                                             ftls_error *err)
{
    char target[PATH_MAX];
    struct stat st;
    if (data_link(dfd, target, sizeof(target)) == 1 &&
        fstatat(dfd, target, &st, 0) != 0 && errno == ENOENT)
        return ftls__err(err, FTLS_E_NOT_FOUND,
                         "%s/..data points to '%s', which does not exist (a "
                         "broken or half-written secret volume)",
                         dir, target);
    return ftls__err(err, FTLS_E_RACE,
                     "%s: files kept changing while being read (%d attempts)",
                     dir, FTLS_RACE_RETRIES);
}

ftls_code ftls__read_generation(const char *dir, const char *name_a,
                                const char *name_b, size_t cap,
                                struct ftls__generation *out, ftls_error *err)
{
    memset(out, 0, sizeof(*out));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ftls__err_errno(err, ftls__code_from_errno(errno), errno, "%s",
                               dir);
    ftls_code rc = FTLS_E_RACE;
    for (int i = 0; i < FTLS_RACE_RETRIES && rc == FTLS_E_RACE; i++) {
        if (i > 0)
            ftls__backoff_ms(i < 3 ? 1 : 5);
        rc = attempt(dfd, dir, name_a, name_b, cap, out, err);
    }
    if (rc == FTLS_E_RACE)
        rc = race_outcome(dfd, dir, err);
    close(dfd);
    return rc;
}
