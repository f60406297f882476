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
#include "base/str.h"
#include "source/source_internal.h"

/* Add a file and the directories that tell us about it. */
static FTLS_NODISCARD ftls_code add_file(struct ftls__watch_spec *sp,
                                         const char *path)
{
    char a[PATH_MAX], real[PATH_MAX];
    ftls_code rc = ftls__str_printf(a, sizeof(a), "%s", path);
    if (rc == FTLS_OK)
        rc = ftls__strlist_add(&sp->files, path);
    if (rc == FTLS_OK)
        rc = ftls__strlist_add(&sp->dirs, dirname(a));
    /* Also watch where a symlinked file really lives (e.g. certbot's
     * live/ -> archive/), except inside Kubernetes' ..data generations,
     * which the top directory's watch covers. */
    if (rc == FTLS_OK && realpath(path, real) != NULL &&
        strstr(real, "/..") == NULL)
        rc = ftls__strlist_add(&sp->dirs, dirname(real));
    return rc;
}

/* Add each entry of a ':'-separated list, as files or as directories. */
static FTLS_NODISCARD ftls_code add_list(struct ftls__watch_spec *sp,
                                         const char *list, int dirs)
{
    if (list == NULL)
        return FTLS_OK;
    char *buf = ftls__strdup(list);
    if (buf == NULL)
        return FTLS_E_NOMEM;
    ftls_code rc = FTLS_OK;
    for (char *save = NULL, *tok = strtok_r(buf, ":", &save);
         tok != NULL && rc == FTLS_OK; tok = strtok_r(NULL, ":", &save)) {
        if (!dirs)
            rc = add_file(sp, tok);
        else if ((rc = ftls__strlist_add(&sp->dirs, tok)) == FTLS_OK)
            rc = ftls__strlist_add(&sp->files, tok);
    }
    ftls__free(buf);
    return rc;
}

int ftls__source_watchable(const ftls_source *s)
{
    return s->kind != FTLS__SRC_MEM && s->kind != FTLS__SRC_SYSTEM;
}

void ftls__watch_spec_free(struct ftls__watch_spec *sp)
{
    ftls__strlist_free(&sp->dirs);
    ftls__strlist_free(&sp->files);
}

/* The directory-or-files case of ftls__source_watch_spec. */
static FTLS_NODISCARD ftls_code spec_identity_files(const ftls_source *s,
                                                    struct ftls__watch_spec *sp)
{
    if (s->dir == NULL) {
        ftls_code rc = add_file(sp, s->cert_path);
        return rc == FTLS_OK ? add_file(sp, s->key_path) : rc;
    }
    char p[PATH_MAX];
    ftls_code rc = ftls__strlist_add(&sp->dirs, s->dir);
    if (rc == FTLS_OK)
        rc = ftls__path_join(p, sizeof(p), s->dir, s->cert_name);
    if (rc == FTLS_OK)
        rc = add_file(sp, p);
    if (rc == FTLS_OK)
        rc = ftls__path_join(p, sizeof(p), s->dir, s->key_name);
    return rc == FTLS_OK ? add_file(sp, p) : rc;
}

ftls_code ftls__source_watch_spec(const ftls_source *s,
                                  struct ftls__watch_spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    ftls_code rc = FTLS_E_UNSUPPORTED;
    switch (s->kind) {
    case FTLS__SRC_DIR:
    case FTLS__SRC_FILES: rc = spec_identity_files(s, sp); break;
    case FTLS__SRC_PEM:
    case FTLS__SRC_P12: rc = add_file(sp, s->path); break;
    case FTLS__SRC_TRUST:
        rc = add_list(sp, s->trust_files, 0);
        if (rc == FTLS_OK)
            rc = add_list(sp, s->trust_dirs, 1);
        break;
    case FTLS__SRC_MEM:
    case FTLS__SRC_SYSTEM: /* follows ftls_roots_refresh(); see ftls_roots_watch_start() */
        break;
    }
    if (rc != FTLS_OK)
        ftls__watch_spec_free(sp);
    return rc;
}

void ftls__source_fingerprint(const ftls_source *s, unsigned char out[32])
{
    struct ftls__watch_spec spec, *sp = &spec;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    memset(sp, 0, sizeof(*sp));
    /* An unreadable spec leaves the fingerprint all zero: polling then
     * sees no change, and arming already reported why. */
    if (c == NULL || ftls__source_watch_spec(s, sp) != FTLS_OK ||
        !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
        goto done;
    for (size_t i = 0; i < sp->files.n; i++) {
        struct stat st;
        memset(&st, 0, sizeof(st));
        int e = stat(sp->files.v[i], &st) == 0 ? 0 : errno;
        struct {
            uint64_t dev, ino, size, ms, mns, cs, cns;
            int e;
        } rec = {st.st_dev,
                 st.st_ino,
                 (uint64_t)st.st_size,
                 (uint64_t)st.st_mtim.tv_sec,
                 (uint64_t)st.st_mtim.tv_nsec,
                 (uint64_t)st.st_ctim.tv_sec,
                 (uint64_t)st.st_ctim.tv_nsec,
                 e};
        EVP_DigestUpdate(c, &rec, sizeof(rec));
        struct ftls__buf b;
        if (e == 0 && S_ISREG(st.st_mode) &&
            ftls__file_read(AT_FDCWD, sp->files.v[i], FTLS_FILE_CAP_DEFAULT, &b,
                            NULL) == FTLS_OK) {
            EVP_DigestUpdate(c, b.data, b.len);
            ftls__buf_free(&b, 1);
        }
    }
    /* A Kubernetes swap changes the ..data target even for equal bytes. */
    char link[PATH_MAX], lp[PATH_MAX];
    if (s->dir != NULL &&
        ftls__path_join(lp, sizeof(lp), s->dir, "..data") == FTLS_OK) {
        ssize_t l = readlink(lp, link, sizeof(link));
        if (l > 0)
            EVP_DigestUpdate(c, link, (size_t)l);
    }
    EVP_DigestFinal_ex(c, out, &n);
done:
    EVP_MD_CTX_free(c);
    ftls__watch_spec_free(sp);
}

void ftls__source_set_watching(ftls_source *s, int mode, ftls_code why,
                               const char *message)
{
    ftls__lock(&s->status_lock);
    int before = s->status.watching;
    s->status.watching = mode;
    ftls__unlock(&s->status_lock);
    if (mode == 2 && before != 2 && why != FTLS_OK) {
        struct ftls__pending_event pe = {FTLS_EVENT_DEGRADED, why, ""};
        ftls__str_message(pe.message, sizeof(pe.message),
                          "watching degraded "
                          "to polling: %s",
                          message ? message : ftls_code_describe(why));
        ftls__source_emit(s, &pe, 1);
    }
}
