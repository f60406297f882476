/* What a watcher needs from a source: the directories and files to watch,
 * a polling fingerprint, and reporting how it is watched. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/fork.h"
#include "source/source_internal.h"

static void add_path(char (*arr)[4096], int *n, const char *p)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(arr[i], p) == 0)
            return;
    if (*n < FTLS_SOURCE_MAX_PATHS)
        snprintf(arr[(*n)++], 4096, "%s", p);
}

static void add_file(struct ftls__watch_spec *sp, const char *path)
{
    char a[PATH_MAX], real[PATH_MAX];
    add_path(sp->files, &sp->nfiles, path);
    snprintf(a, sizeof(a), "%s", path);
    add_path(sp->dirs, &sp->ndirs, dirname(a));
    /* Also watch where a symlinked file really lives (e.g. certbot's
     * live/ -> archive/), except inside Kubernetes' ..data generations,
     * which the top directory's watch covers. */
    if (realpath(path, real) != NULL && strstr(real, "/..") == NULL)
        add_path(sp->dirs, &sp->ndirs, dirname(real));
}

static void add_list(struct ftls__watch_spec *sp, const char *list, int dirs)
{
    if (list == NULL)
        return;
    char buf[8192];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok;
         tok = strtok_r(NULL, ":", &save)) {
        if (dirs) {
            add_path(sp->dirs, &sp->ndirs, tok);
            add_path(sp->files, &sp->nfiles, tok);
        } else {
            add_file(sp, tok);
        }
    }
}

int ftls__source_watchable(const ftls_source *s)
{
    return s->kind != FTLS__SRC_MEM && s->kind != FTLS__SRC_SYSTEM;
}

ftls_code ftls__source_watch_spec(const ftls_source *s,
                                  struct ftls__watch_spec *sp)
{
    char p[PATH_MAX + 300];
    sp->ndirs = sp->nfiles = 0;
    switch (s->kind) {
    case FTLS__SRC_DIR:
    case FTLS__SRC_FILES:
        if (s->dir != NULL) {
            add_path(sp->dirs, &sp->ndirs, s->dir);
            snprintf(p, sizeof(p), "%s/%s", s->dir, s->cert_name);
            add_file(sp, p);
            snprintf(p, sizeof(p), "%s/%s", s->dir, s->key_name);
            add_file(sp, p);
        } else {
            add_file(sp, s->cert_path);
            add_file(sp, s->key_path);
        }
        break;
    case FTLS__SRC_PEM:
    case FTLS__SRC_P12:
        add_file(sp, s->path);
        break;
    case FTLS__SRC_TRUST:
        add_list(sp, s->trust_files, 0);
        add_list(sp, s->trust_dirs, 1);
        break;
    case FTLS__SRC_MEM:
    case FTLS__SRC_SYSTEM: /* follows ftls_roots_refresh(); see ftls_roots_watch_start() */
        return FTLS_E_UNSUPPORTED;
    }
    return FTLS_OK;
}

void ftls__source_fingerprint(const ftls_source *s, unsigned char out[32])
{
    struct ftls__watch_spec *sp = ftls__malloc(sizeof(*sp));
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    if (sp == NULL || c == NULL || ftls__source_watch_spec(s, sp) != FTLS_OK ||
        !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
        goto done;
    for (int i = 0; i < sp->nfiles; i++) {
        struct stat st;
        memset(&st, 0, sizeof(st));
        int e = stat(sp->files[i], &st) == 0 ? 0 : errno;
        struct { uint64_t dev, ino, size, ms, mns, cs, cns; int e; } rec = {
            st.st_dev, st.st_ino, (uint64_t)st.st_size,
            (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
            (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec, e};
        EVP_DigestUpdate(c, &rec, sizeof(rec));
        struct ftls__buf b;
        if (e == 0 && S_ISREG(st.st_mode) &&
            ftls__file_read(AT_FDCWD, sp->files[i], FTLS_FILE_CAP_DEFAULT, &b,
                            NULL) == FTLS_OK) {
            EVP_DigestUpdate(c, b.data, b.len);
            ftls__buf_free(&b, 1);
        }
    }
    /* A Kubernetes swap changes the ..data target even for equal bytes. */
    char link[256];
    if (s->dir != NULL) {
        char lp[PATH_MAX + 16];
        snprintf(lp, sizeof(lp), "%s/..data", s->dir);
        ssize_t l = readlink(lp, link, sizeof(link));
        if (l > 0)
            EVP_DigestUpdate(c, link, (size_t)l);
    }
    EVP_DigestFinal_ex(c, out, &n);
done:
    EVP_MD_CTX_free(c);
    ftls__free(sp);
}

void ftls__source_set_watching(ftls_source *s, int mode, ftls_code why,
                               const char *message)
{
    ftls__lock(&s->status_lock);
    int before = s->status.watching;
    s->status.watching = mode;
    ftls__unlock(&s->status_lock);
    if (mode == 2 && before != 2) {
        struct ftls__pending_event pe = {FTLS_EVENT_DEGRADED, why, ""};
        snprintf(pe.message, sizeof(pe.message), "watching degraded to "
                 "polling: %s", message ? message : ftls_code_describe(why));
        ftls__source_emit(s, &pe, 1);
    }
}
