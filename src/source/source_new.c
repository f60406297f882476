/* Sources: constructors, memory material and teardown. */
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "base/fork.h"
#include "source/source_internal.h"

static void cell_free_identity(void *data, void *arg)
{
    (void)arg;
    ftls_identity_free(data);
}

static void cell_free_roots(void *data, void *arg)
{
    (void)arg;
    ftls_roots_free(data);
}

void ftls_source_free(ftls_source *s)
{
    if (s == NULL)
        return;
    if (s->kind == FTLS__SRC_SYSTEM)
        ftls__source_system_detach(s);
    ftls_cell_free(s->cell);
    ftls_roots_free(s->opts.verify_roots);
    char *strs[] = {s->dir,       s->cert_name, s->key_name,    s->cert_path,
                    s->key_path,  s->path,      s->trust_files, s->trust_dirs,
                    s->pass_file, s->pass_env};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(strs); i++)
        ftls__free(strs[i]);
    ftls__buf_free(&s->mem_cert, 1);
    ftls__buf_free(&s->mem_key, 1);
    pthread_mutex_destroy(&s->mem_lock);
    pthread_mutex_destroy(&s->load_lock);
    pthread_mutex_destroy(&s->status_lock);
    pthread_mutex_destroy(&s->listener_lock);
    ftls__free(s->listeners);
    ftls__free(s->desc);
    ftls__free(s);
}

/* Duplicate an optional string; *ok cleared on allocation failure. */
static char *dup_opt(const char *s, int *ok)
{
    if (s == NULL)
        return NULL;
    char *d = ftls__strdup(s);
    if (d == NULL)
        *ok = 0;
    return d;
}

/* Free a half-built source and report FTLS_E_NOMEM. */
static FTLS_NODISCARD ftls_code nomem(ftls_source **out, ftls_error *err)
{
    ftls_source_free(*out);
    *out = NULL;
    return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
}

ftls_code ftls__source_describe_as(ftls_source **out, ftls_error *err,
                                   const char *fmt, ...)
{
    char *d = NULL;
    va_list ap;
    va_start(ap, fmt);
    ftls_code rc = ftls__str_vaprintf(&d, fmt, ap);
    va_end(ap);
    if (rc != FTLS_OK) /* FTLS_E_NOMEM: our formats cannot fail otherwise */
        return nomem(out, err);
    ftls__free((*out)->desc);
    (*out)->desc = d;
    return FTLS_OK;
}

ftls_code ftls__source_new(enum ftls__source_kind kind,
                           const ftls_identity_options *o, ftls_source **out,
                           ftls_error *err)
{
    ftls_source *s = ftls__calloc(1, sizeof(*s));
    if (s == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    s->kind = kind;
    pthread_mutex_init(&s->mem_lock, NULL);
    pthread_mutex_init(&s->load_lock, NULL);
    pthread_mutex_init(&s->status_lock, NULL);
    pthread_mutex_init(&s->listener_lock, NULL);
    int ok = 1;
    if (o != NULL) {
        s->opts = *o;
        s->opts.cert_name = s->opts.key_name = NULL;
        s->opts.passphrase_file = s->pass_file =
            dup_opt(o->passphrase_file, &ok);
        s->opts.passphrase_env = s->pass_env = dup_opt(o->passphrase_env, &ok);
        if (o->verify_roots != NULL &&
            ftls_roots_up_ref(o->verify_roots) != FTLS_OK)
            s->opts.verify_roots = NULL;
    }
    s->cert_name = dup_opt(o && o->cert_name ? o->cert_name : "tls.crt", &ok);
    s->key_name = dup_opt(o && o->key_name ? o->key_name : "tls.key", &ok);
    int trust = kind == FTLS__SRC_TRUST || kind == FTLS__SRC_SYSTEM;
    ftls_code rc =
        ok ? ftls_cell_new(trust ? cell_free_roots : cell_free_identity, NULL,
                           &s->cell, err)
           : ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    if (rc != FTLS_OK) {
        ftls_source_free(s);
        return rc;
    }
    *out = s;
    return FTLS_OK;
}

#define SOURCE_ARGS_OK(out, err)                                               \
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");                           \
    *out = NULL

ftls_code ftls_source_new_identity_dir(const char *dir,
                                       const ftls_identity_options *opts,
                                       ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    FTLS_GUARD_ARG(dir != NULL && *dir, err, "dir is NULL or empty");
    ftls_code rc = ftls__source_new(FTLS__SRC_DIR, opts, out, err);
    if (rc != FTLS_OK)
        return rc;
    if (((*out)->dir = ftls__strdup(dir)) == NULL)
        return nomem(out, err);
    return ftls__source_describe_as(out, err, "dir:%s", dir);
}

/* Split a path into directory and base name copies. Returns FTLS_OK,
 * FTLS_E_TOO_LARGE (longer than PATH_MAX) or FTLS_E_NOMEM. */
static FTLS_NODISCARD ftls_code split(const char *path, char **dir, char **base)
{
    char a[PATH_MAX], b[PATH_MAX];
    ftls_code rc = ftls__str_printf(a, sizeof(a), "%s", path);
    if (rc != FTLS_OK)
        return rc;
    memcpy(b, a, sizeof(a));
    *dir = ftls__strdup(dirname(a));
    *base = ftls__strdup(basename(b));
    return *dir != NULL && *base != NULL ? FTLS_OK : FTLS_E_NOMEM;
}

ftls_code ftls_source_new_identity_files(const char *cert_path,
                                         const char *key_path,
                                         const ftls_identity_options *opts,
                                         ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    FTLS_GUARD_ARG(cert_path && *cert_path && key_path && *key_path, err,
                   "cert_path or key_path is NULL or empty");
    ftls_code rc = ftls__source_new(FTLS__SRC_FILES, opts, out, err);
    if (rc != FTLS_OK)
        return rc;
    ftls_source *s = *out;
    char *cd = NULL, *cb = NULL, *kd = NULL, *kb = NULL;
    rc = split(cert_path, &cd, &cb);
    if (rc == FTLS_OK)
        rc = split(key_path, &kd, &kb);
    int ok = rc == FTLS_OK;
    if (ok && strcmp(cd, kd) == 0) { /* one directory: consistent reads */
        ftls__free(s->cert_name);
        ftls__free(s->key_name);
        s->dir = cd, s->cert_name = cb, s->key_name = kb;
        cd = cb = kb = NULL;
    } else if (ok) {
        s->cert_path = dup_opt(cert_path, &ok);
        s->key_path = dup_opt(key_path, &ok);
    }
    ftls__free(cd), ftls__free(cb), ftls__free(kd), ftls__free(kb);
    if (rc == FTLS_E_TOO_LARGE) {
        ftls_source_free(s);
        *out = NULL;
        return ftls__err(err, rc, "source: path longer than PATH_MAX");
    }
    if (!ok)
        return nomem(out, err);
    return ftls__source_describe_as(out, err, "files:%s+%s", cert_path,
                                    key_path);
}

static FTLS_NODISCARD ftls_code new_single(enum ftls__source_kind k,
                                           const char *prefix, const char *path,
                                           const ftls_identity_options *opts,
                                           ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    FTLS_GUARD_ARG(path != NULL && *path, err, "path is NULL or empty");
    ftls_code rc = ftls__source_new(k, opts, out, err);
    if (rc != FTLS_OK)
        return rc;
    if (((*out)->path = ftls__strdup(path)) == NULL)
        return nomem(out, err);
    return ftls__source_describe_as(out, err, "%s:%s", prefix, path);
}

ftls_code ftls_source_new_identity_pem(const char *path,
                                       const ftls_identity_options *opts,
                                       ftls_source **out, ftls_error *err)
{
    return new_single(FTLS__SRC_PEM, "pem", path, opts, out, err);
}

ftls_code ftls_source_new_identity_pkcs12(const char *path,
                                          const ftls_identity_options *opts,
                                          ftls_source **out, ftls_error *err)
{
    return new_single(FTLS__SRC_P12, "pkcs12", path, opts, out, err);
}

ftls_code ftls_source_new_identity_memory(const ftls_identity_options *opts,
                                          ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    ftls_code rc = ftls__source_new(FTLS__SRC_MEM, opts, out, err);
    return rc == FTLS_OK ? ftls__source_describe_as(out, err, "memory") : rc;
}

ftls_code ftls_source_new_trust(const char *files, const char *dirs,
                                ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    FTLS_GUARD_ARG((files && *files) || (dirs && *dirs), err,
                   "no files or directories given");
    ftls_code rc = ftls__source_new(FTLS__SRC_TRUST, NULL, out, err);
    if (rc != FTLS_OK)
        return rc;
    int ok = 1;
    (*out)->trust_files = dup_opt(files, &ok);
    (*out)->trust_dirs = dup_opt(dirs, &ok);
    if (!ok)
        return nomem(out, err);
    return ftls__source_describe_as(out, err, "trust:%s%s%s",
                                    files ? files : "",
                                    files && dirs ? "+" : "", dirs ? dirs : "");
}

ftls_code ftls__buf_copy(struct ftls__buf *dst, const void *p, size_t n)
{
    unsigned char *d = NULL;
    if (p != NULL) {
        if ((d = ftls__malloc(n + 1)) == NULL)
            return FTLS_E_NOMEM;
        memcpy(d, p, n);
        d[n] = '\0';
    }
    ftls__buf_free(dst, 1);
    dst->data = d;
    dst->len = p ? n : 0;
    return FTLS_OK;
}

ftls_code ftls_source_set_memory(ftls_source *src, const void *cert_pem,
                                 size_t cert_len, const void *key_pem,
                                 size_t key_len, ftls_error *err)
{
    FTLS_GUARD_ARG(src != NULL && cert_pem != NULL, err,
                   "src or cert_pem is NULL");
    if (src->kind != FTLS__SRC_MEM)
        return ftls__err(err, FTLS_E_STATE, "%s: not a memory source",
                         src->desc);
    ftls__lock(&src->mem_lock);
    ftls_code rc = ftls__buf_copy(&src->mem_cert, cert_pem, cert_len);
    if (rc == FTLS_OK)
        rc = ftls__buf_copy(&src->mem_key, key_pem, key_len);
    ftls__unlock(&src->mem_lock);
    return rc == FTLS_OK ? rc : ftls__err(err, rc, "source: out of memory");
}
