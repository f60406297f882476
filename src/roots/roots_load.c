/* Finding and reading root certificates: environment overrides, distro
 * locations, directories; partial problems are recorded, not fatal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/fileio.h"
#include "base/pem.h"
#include "base/str.h"
#include "roots/roots_internal.h"

static const char *const g_distro_files[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* Fedora, RHEL 7+ */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* older RHEL */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
    "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
    "/etc/ssl/cert.pem",                                 /* Alpine, BSDs */
};
static const char *const g_distro_dirs[] = {"/etc/ssl/certs",
                                            "/etc/pki/tls/certs"};

/* One pass over the sources, either loading roots or hashing metadata. */
struct walk {
    ftls_roots *r;   /* load mode */
    EVP_MD_CTX *sig; /* signature mode */
    int strict;      /* explicitly named paths: unusable is an error */
    struct {
        dev_t dev;
        ino_t ino;
    } * seen;
    size_t nseen, capseen;
};

static int seen_before(struct walk *w, const struct stat *st)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return 1;
    if (w->nseen == w->capseen) {
        size_t ncap = w->capseen ? w->capseen * 2 : 64;
        void *n = ftls__realloc(w->seen, ncap * sizeof(*w->seen));
        if (n == NULL)
            return -1;
        w->seen = n;
        w->capseen = ncap;
    }
    w->seen[w->nseen].dev = st->st_dev;
    w->seen[w->nseen].ino = st->st_ino;
    w->nseen++;
    return 0;
}

static void sig_add(struct walk *w, const char *path, const struct stat *st)
{
    struct {
        uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns;
        uint32_t mode;
    } rec = {(uint64_t)st->st_dev,          (uint64_t)st->st_ino,
             (uint64_t)st->st_size,         (uint64_t)st->st_mtim.tv_sec,
             (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
             (uint64_t)st->st_ctim.tv_nsec, (uint32_t)st->st_mode};
    EVP_DigestUpdate(w->sig, path, strlen(path) + 1);
    EVP_DigestUpdate(w->sig, &rec, sizeof(rec));
}

/* A failure on a path: an error when strict, else a recorded problem. */
static FTLS_NODISCARD ftls_code path_problem(struct walk *w, const char *path,
                                             int e, ftls_error *err)
{
    ftls_code code = ftls__code_from_errno(e);
    if (w->strict)
        return ftls__err_errno(err, code, e, "%s", path);
    char ebuf[128];
    if (w->r != NULL && ftls__roots_add_problem(
                            w->r, path, code, "%s",
                            ftls__strerror(e, ebuf, sizeof(ebuf))) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code read_certs(struct walk *w, int dirfd,
                                           const char *name, const char *path,
                                           ftls_error *err)
{
    struct ftls__buf buf;
    ftls_error *tmp = NULL;
    if (ftls_error_new(&tmp) != FTLS_OK)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    ftls_code rc =
        ftls__file_read(dirfd, name, FTLS_FILE_CAP_DEFAULT, &buf, tmp);
    if (rc != FTLS_OK) {
        if (w->strict || rc == FTLS_E_NOMEM)
            rc = ftls__err(err, rc, "%s", ftls_error_message(tmp));
        else if ((rc = ftls__roots_add_problem(w->r, path, rc, "%s",
                                               ftls_error_message(tmp))) !=
                 FTLS_OK)
            rc = ftls__err(err, rc, "roots: out of memory");
        ftls_error_free(tmp);
        return rc;
    }
    ftls_error_free(tmp);
    w->r->stats.files_read++;
    const char *source = ftls__roots_intern(w->r, path);
    if (source == NULL) {
        rc = FTLS_E_NOMEM;
    } else if (!ftls__pem_present(buf.data, buf.len)) {
        const char *what = buf.len == 0 ? "empty file"
                           : buf.data[0] == 0x30
                               ? "no PEM certificate (the file looks like DER; "
                                 "convert it with 'openssl x509 -inform der')"
                               : "no PEM certificate found";
        rc = ftls__roots_add_problem(w->r, path, FTLS_E_PARSE, "%s", what);
    } else {
        rc = ftls__roots_add_pem(w->r, buf.data, buf.len, source);
    }
    ftls__buf_free(&buf, 0);
    return rc == FTLS_OK ? FTLS_OK : ftls__err(err, rc, "roots: out of memory");
}

/* A file named directly (or a directory entry). */
static FTLS_NODISCARD ftls_code visit_file(struct walk *w, int dirfd,
                                           const char *name, const char *path,
                                           int from_dir, ftls_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, 0) != 0) {
        int e = errno;
        if (from_dir && (e == ENOENT || e == ELOOP)) /* dangling symlink */
            return FTLS_OK;
        return path_problem(w, path, e, err);
    }
    if (!S_ISREG(st.st_mode)) {
        if (from_dir) /* subdirectories, sockets, ...: not ours */
            return FTLS_OK;
        return path_problem(w, path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
                            err);
    }
    int dup = seen_before(w, &st);
    if (dup < 0)
        return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    if (dup)
        return FTLS_OK;
    if (w->sig != NULL) {
        sig_add(w, path, &st);
        return FTLS_OK;
    }
    return read_certs(w, dirfd, name, path, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open a directory, retrying transient errors. Returns the fd or -1 with
 * errno set. */
static int open_dir(const char *dir)
{
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && !ftls__errno_transient(errno))
            break;
    }
    return fd;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ftls__free(names[i]);
    ftls__free(names);
}

/* The entry names of d (without "." and ".."), sorted so that loading is
 * deterministic. Free with free_names(). */
static FTLS_NODISCARD ftls_code read_names(DIR *d, char ***out, size_t *count,
                                           ftls_error *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    *out = NULL;
    *count = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == '\0' || !strcmp(de->d_name, "..")))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = ftls__realloc(names, ncap * sizeof(*names));
            if (nn == NULL)
                goto nomem;
            names = nn;
            cap = ncap;
        }
        if ((names[n] = ftls__strdup(de->d_name)) == NULL)
            goto nomem;
        n++;
    }
    if (n > 1) /* an empty directory has no array: qsort(NULL, ...) is UB */
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *count = n;
    return FTLS_OK;
nomem:
    free_names(names, n);
    return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
}

/* Each entry of an opened directory, best-effort. */
static FTLS_NODISCARD ftls_code visit_entries(struct walk *w, DIR *d,
                                              const char *dir, ftls_error *err)
{
    char **names = NULL;
    size_t n = 0;
    ftls_code rc = read_names(d, &names, &n, err);
    for (size_t i = 0; i < n && rc == FTLS_OK; i++) {
        char path[PATH_MAX];
        if (ftls__path_join(path, sizeof(path), dir, names[i]) != FTLS_OK) {
            rc = path_problem(w, dir, ENAMETOOLONG, err);
            continue;
        }
        int strict = w->strict;
        w->strict = 0; /* entries of a named directory are best-effort */
        rc = visit_file(w, dirfd(d), names[i], path, 1, err);
        w->strict = strict;
    }
    free_names(names, n);
    return rc;
}

static FTLS_NODISCARD ftls_code visit_dir(struct walk *w, const char *dir,
                                          ftls_error *err)
{
    int fd = open_dir(dir);
    if (fd < 0) {
        if (!w->strict && errno == ENOENT) /* distro dir absent: normal */
            return FTLS_OK;
        return path_problem(w, dir, errno, err);
    }
    struct stat st;
    if (fstat(fd, &st) == 0) {
        int dup = seen_before(w, &st);
        if (dup != 0) { /* same directory reached by another name */
            close(fd);
            return dup < 0 ? ftls__err(err, FTLS_E_NOMEM, "out of memory")
                           : FTLS_OK;
        }
        if (w->sig != NULL)
            sig_add(w, dir, &st);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return path_problem(w, dir, e, err);
    }
    ftls_code rc = visit_entries(w, d, dir, err);
    closedir(d);
    return rc;
}

/* Visit each entry of a colon-separated list. */
static FTLS_NODISCARD ftls_code visit_list(struct walk *w, const char *list,
                                           int dirs, ftls_error *err)
{
    if (list == NULL)
        return FTLS_OK;
    const char *p = list;
    while (*p != '\0') {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len > 0) {
            char path[PATH_MAX];
            if (len >= sizeof(path))
                return ftls__err(err, FTLS_E_INVALID_ARGUMENT,
                                 "roots: path too long in list");
            memcpy(path, p, len);
            path[len] = '\0';
            if (w->r != NULL && ftls__roots_note_path(w->r, path) != FTLS_OK)
                return ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
            ftls_code rc = dirs ? visit_dir(w, path, err)
                                : visit_file(w, AT_FDCWD, path, path, 0, err);
            if (rc != FTLS_OK)
                return rc;
        }
        p += len + (colon != NULL);
    }
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code visit_default(struct walk *w, ftls_error *err)
{
    ftls_code rc;
    for (size_t i = 0; i < FTLS_ARRAY_LEN(g_distro_files); i++)
        if (access(g_distro_files[i], R_OK) == 0) {
            if ((rc = visit_list(w, g_distro_files[i], 0, err)) != FTLS_OK)
                return rc;
            break;
        }
    const char *deffile = X509_get_default_cert_file();
    if (deffile != NULL && access(deffile, R_OK) == 0 &&
        (rc = visit_list(w, deffile, 0, err)) != FTLS_OK)
        return rc;
    for (size_t i = 0; i < FTLS_ARRAY_LEN(g_distro_dirs); i++)
        if ((rc = visit_list(w, g_distro_dirs[i], 1, err)) != FTLS_OK)
            return rc;
    const char *defdir = X509_get_default_cert_dir();
    if (defdir != NULL && (rc = visit_list(w, defdir, 1, err)) != FTLS_OK)
        return rc;
    return FTLS_OK;
}

int ftls__roots_env_override(const char **file, const char **dir)
{
    *file = getenv("SSL_CERT_FILE");
    *dir = getenv("SSL_CERT_DIR");
    if (*file != NULL && **file == '\0')
        *file = NULL;
    if (*dir != NULL && **dir == '\0')
        *dir = NULL;
    return *file != NULL || *dir != NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Mark system roots that are byte-identical to a constrained bundle root
 * with its distrust-after date. */
static FTLS_NODISCARD ftls_code inherit_distrust(ftls_roots *r, ftls_error *err)
{
    ftls_roots *fb = NULL;
    ftls_code rc = ftls__fallback_get1(&fb, err);
    if (rc != FTLS_OK)
        return rc;
    for (size_t i = 0; i < fb->n; i++) {
        if (fb->v[i].distrust_after == 0)
            continue;
        long j = ftls__roots_find_sha256(r, fb->v[i].sha256);
        if (j >= 0)
            r->v[j].distrust_after = fb->v[i].distrust_after;
    }
    ftls_roots_free(fb);
    return FTLS_OK;
}

/* Summarise the problems into err when no root was found. */
static FTLS_NODISCARD ftls_code no_roots(const ftls_roots *r, const char *what,
                                         ftls_error *err)
{
    char msg[400];
    ftls__str_message(msg, sizeof(msg), "no root certificates in %s", what);
    for (size_t i = 0; i < r->nproblems; i++) {
        size_t off = strlen(msg);
        if (off + 4 >= sizeof(msg)) /* already cut (ends in "...") */
            break;
        ftls__str_message(msg + off, sizeof(msg) - off, "%s %s: %s",
                          i ? ";" : ":", r->problems[i].path,
                          r->problems[i].reason);
    }
    return ftls__err(err, FTLS_E_NO_ROOTS, "%s", msg);
}

static FTLS_NODISCARD ftls_code load(ftls_roots_origin kind, const char *files,
                                     const char *dirs, int use_default,
                                     const char *what, ftls_roots **out,
                                     ftls_error *err)
{
    uint64_t t0 = now_ns();
    ftls_roots *r = NULL;
    struct walk w = {0};
    ftls_code rc = ftls__roots_new(kind, &r, err);
    if (rc != FTLS_OK)
        return rc;
    w.r = r;
    w.strict = !use_default;
    if (use_default)
        rc = visit_default(&w, err);
    else if ((rc = visit_list(&w, files, 0, err)) == FTLS_OK)
        rc = visit_list(&w, dirs, 1, err);
    if (rc == FTLS_OK && r->n == 0)
        rc = no_roots(r, what, err);
    if (rc == FTLS_OK)
        rc = inherit_distrust(r, err);
    if (rc == FTLS_OK)
        rc = ftls__roots_finish(r, err);
    ftls__free(w.seen);
    if (rc != FTLS_OK) {
        ftls_roots_free(r);
        return rc;
    }
    r->stats.load_ns = now_ns() - t0;
    *out = r;
    return FTLS_OK;
}

ftls_code ftls__roots_load_system(ftls_roots **out, ftls_error *err)
{
    const char *file, *dir;
    if (ftls__roots_env_override(&file, &dir))
        return load(FTLS_ROOTS_SYSTEM, file, dir, 0,
                    "SSL_CERT_FILE/SSL_CERT_DIR", out, err);
    return load(FTLS_ROOTS_SYSTEM, NULL, NULL, 1, "the system locations", out,
                err);
}

ftls_code ftls_roots_load_paths(const char *files, const char *dirs,
                                ftls_roots **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG((files != NULL && *files) || (dirs != NULL && *dirs), err,
                   "no files or directories given");
    return load(FTLS_ROOTS_SYSTEM, files, dirs, 0, "the given paths", out, err);
}

ftls_code ftls_roots_load_pem(const void *pem, size_t len, const char *location,
                              ftls_roots **out, ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(pem != NULL, err, "pem is NULL");
    ftls_roots *r = NULL;
    ftls_code rc = ftls__roots_new(FTLS_ROOTS_SYSTEM, &r, err);
    if (rc != FTLS_OK)
        return rc;
    const char *name = location ? location : "memory";
    const char *src = ftls__roots_intern(r, name);
    if (src == NULL || ftls__roots_note_path(r, name) != FTLS_OK ||
        ftls__roots_add_pem(r, pem, len, src) != FTLS_OK)
        rc = ftls__err(err, FTLS_E_NOMEM, "roots: out of memory");
    else if (r->n == 0)
        rc = no_roots(r, name, err);
    if (rc == FTLS_OK && (rc = inherit_distrust(r, err)) == FTLS_OK)
        rc = ftls__roots_finish(r, err);
    if (rc != FTLS_OK) {
        ftls_roots_free(r);
        return rc;
    }
    *out = r;
    return FTLS_OK;
}

ftls_code ftls__roots_system_signature(unsigned char out[32], ftls_error *err)
{
    struct walk w = {0};
    ftls_code rc = FTLS_OK;
    unsigned len = 0;
    if ((w.sig = EVP_MD_CTX_new()) == NULL ||
        !EVP_DigestInit_ex(w.sig, EVP_sha256(), NULL)) {
        rc = ftls__err(err, FTLS_E_OPENSSL, "roots: cannot hash sources");
        goto done;
    }
    const char *file, *dir;
    if (ftls__roots_env_override(&file, &dir)) {
        /* Unusable entries still hash as "absent" so that fixing them is
         * noticed. */
        if ((rc = visit_list(&w, file, 0, NULL)) != FTLS_OK ||
            (rc = visit_list(&w, dir, 1, NULL)) != FTLS_OK)
            EVP_DigestUpdate(w.sig, &rc, sizeof(rc));
        rc = FTLS_OK;
    } else if ((rc = visit_default(&w, err)) != FTLS_OK) {
        goto done;
    }
    if (!EVP_DigestFinal_ex(w.sig, out, &len))
        rc = ftls__err(err, FTLS_E_OPENSSL, "roots: cannot hash sources");
done:
    EVP_MD_CTX_free(w.sig);
    ftls__free(w.seen);
    return rc;
}
