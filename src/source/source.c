/* Sources: read a generation, validate it, publish it or keep the old. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/fork.h"
#include "source/identity_internal.h"
#include "source/source_internal.h"
#include "source/source_read.h"

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
    char *strs[] = {s->dir, s->cert_name, s->key_name, s->cert_path,
                    s->key_path, s->path, s->trust_files, s->trust_dirs,
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

ftls_code ftls__source_new(enum ftls__source_kind kind, const ftls_identity_options *o,
                           ftls_source **out, ftls_error *err)
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
        s->opts.passphrase_file = s->pass_file = dup_opt(o->passphrase_file, &ok);
        s->opts.passphrase_env = s->pass_env = dup_opt(o->passphrase_env, &ok);
        if (o->verify_roots != NULL && ftls_roots_up_ref(o->verify_roots) != FTLS_OK)
            s->opts.verify_roots = NULL;
    }
    s->cert_name = dup_opt(o && o->cert_name ? o->cert_name : "tls.crt", &ok);
    s->key_name = dup_opt(o && o->key_name ? o->key_name : "tls.key", &ok);
    int trust = kind == FTLS__SRC_TRUST || kind == FTLS__SRC_SYSTEM;
    ftls_code rc = ok ? ftls_cell_new(trust ? cell_free_roots
                                            : cell_free_identity,
                                      NULL, &s->cell, err)
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
    if (((*out)->dir = ftls__strdup(dir)) == NULL) {
        ftls_source_free(*out);
        *out = NULL;
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    }
    snprintf((*out)->desc, sizeof((*out)->desc), "dir:%s", dir);
    return FTLS_OK;
}

/* Split a path into directory and base name copies. */
static int split(const char *path, char **dir, char **base)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (snprintf(a, sizeof(a), "%s", path) >= (int)sizeof(a))
        return 0;
    memcpy(b, a, sizeof(a));
    *dir = ftls__strdup(dirname(a));
    *base = ftls__strdup(basename(b));
    return *dir != NULL && *base != NULL;
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
    int ok = split(cert_path, &cd, &cb) && split(key_path, &kd, &kb);
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
    if (!ok) {
        ftls_source_free(s);
        *out = NULL;
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    }
    snprintf(s->desc, sizeof(s->desc), "files:%s+%s", cert_path, key_path);
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code new_single(enum ftls__source_kind k, const char *prefix, const char *path,
                            const ftls_identity_options *opts,
                            ftls_source **out, ftls_error *err)
{
    SOURCE_ARGS_OK(out, err);
    FTLS_GUARD_ARG(path != NULL && *path, err, "path is NULL or empty");
    ftls_code rc = ftls__source_new(k, opts, out, err);
    if (rc != FTLS_OK)
        return rc;
    if (((*out)->path = ftls__strdup(path)) == NULL) {
        ftls_source_free(*out);
        *out = NULL;
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    }
    snprintf((*out)->desc, sizeof((*out)->desc), "%s:%s", prefix, path);
    return FTLS_OK;
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
    if (rc == FTLS_OK)
        snprintf((*out)->desc, sizeof((*out)->desc), "memory");
    return rc;
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
    if (!ok) {
        ftls_source_free(*out);
        *out = NULL;
        return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
    }
    snprintf((*out)->desc, sizeof((*out)->desc), "trust:%s%s%s",
             files ? files : "", files && dirs ? "+" : "", dirs ? dirs : "");
    return FTLS_OK;
}

static FTLS_NODISCARD ftls_code copy_buf(struct ftls__buf *dst, const void *p, size_t n)
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
    ftls_code rc = copy_buf(&src->mem_cert, cert_pem, cert_len);
    if (rc == FTLS_OK)
        rc = copy_buf(&src->mem_key, key_pem, key_len);
    ftls__unlock(&src->mem_lock);
    return rc == FTLS_OK ? rc : ftls__err(err, rc, "source: out of memory");
}

/* ---- reading --------------------------------------------------------------- */

/* Passphrase from a file or the environment; empty when none configured.
 * The copy is NUL-terminated and wiped whole by ftls__buf_free(.., 1),
 * whatever bytes it holds. */
static FTLS_NODISCARD ftls_code get_pass(const ftls_source *s, struct ftls__buf *out,
                          ftls_error *err)
{
    out->data = NULL;
    out->len = 0;
    if (s->pass_file != NULL) {
        ftls_code rc = ftls__file_read(AT_FDCWD, s->pass_file, 4096, out, err);
        if (rc != FTLS_OK)
            return rc;
        size_t n = out->len; /* strip the line end, wipe keeps the size */
        while (n > 0 && (out->data[n - 1] == '\n' || out->data[n - 1] == '\r'))
            out->data[--n] = '\0';
        return FTLS_OK;
    }
    if (s->pass_env != NULL) {
        const char *v = getenv(s->pass_env);
        if (v == NULL)
            return ftls__err(err, FTLS_E_NOT_FOUND, "passphrase variable %s is "
                             "not set", s->pass_env);
        if ((out->data = (unsigned char *)ftls__strdup(v)) == NULL)
            return ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
        out->len = strlen(v);
    }
    return FTLS_OK;
}

/* Read the raw material of one generation. */
static FTLS_NODISCARD ftls_code read_raw(ftls_source *s, struct ftls__generation *g,
                          char *wa, char *wb, size_t wn, ftls_error *err)
{
    memset(g, 0, sizeof(*g));
    switch (s->kind) {
    case FTLS__SRC_DIR:
    case FTLS__SRC_FILES:
        if (s->dir != NULL) {
            snprintf(wa, wn, "%s/%s", s->dir, s->cert_name);
            snprintf(wb, wn, "%s/%s", s->dir, s->key_name);
            return ftls__read_generation(s->dir, s->cert_name, s->key_name,
                                         FTLS_FILE_CAP_DEFAULT, g, err);
        }
        snprintf(wa, wn, "%s", s->cert_path);
        snprintf(wb, wn, "%s", s->key_path);
        ftls_code rc = ftls__file_read(AT_FDCWD, s->cert_path,
                                       FTLS_FILE_CAP_DEFAULT, &g->a, err);
        if (rc == FTLS_OK)
            rc = ftls__file_read(AT_FDCWD, s->key_path, FTLS_FILE_CAP_DEFAULT,
                                 &g->b, err);
        if (rc != FTLS_OK)
            ftls__generation_free(g);
        return rc;
    case FTLS__SRC_PEM:
    case FTLS__SRC_P12:
        snprintf(wa, wn, "%s", s->path);
        snprintf(wb, wn, "%s", s->path);
        return ftls__file_read(AT_FDCWD, s->path, FTLS_FILE_CAP_DEFAULT, &g->a,
                               err);
    case FTLS__SRC_MEM:
        snprintf(wa, wn, "memory certificate");
        snprintf(wb, wn, "memory key");
        ftls__lock(&s->mem_lock);
        ftls_code mrc = FTLS_OK;
        if (s->mem_cert.data == NULL)
            mrc = ftls__err(err, FTLS_E_EMPTY, "memory source: no material set");
        else if (copy_buf(&g->a, s->mem_cert.data, s->mem_cert.len) != FTLS_OK ||
                 copy_buf(&g->b, s->mem_key.data, s->mem_key.len) != FTLS_OK)
            mrc = ftls__err(err, FTLS_E_NOMEM, "source: out of memory");
        ftls__unlock(&s->mem_lock);
        if (mrc != FTLS_OK)
            ftls__generation_free(g);
        return mrc;
    case FTLS__SRC_TRUST:
    case FTLS__SRC_SYSTEM:
        break;
    }
    return ftls__err(err, FTLS_E_INTERNAL, "source: bad kind");
}

static void hash_generation(const struct ftls__generation *g,
                            unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    if (c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(c);
        return;
    }
    uint64_t la = g->a.len, lb = g->b.len;
    EVP_DigestUpdate(c, &la, sizeof(la));
    if (g->a.data)
        EVP_DigestUpdate(c, g->a.data, g->a.len);
    EVP_DigestUpdate(c, &lb, sizeof(lb));
    if (g->b.data)
        EVP_DigestUpdate(c, g->b.data, g->b.len);
    EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

static void hash_roots(const ftls_roots *r, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    memset(out, 0, 32);
    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        for (size_t i = 0; i < ftls_roots_count(r); i++) {
            ftls_root_info info;
            if (ftls_roots_get0_info(r, i, &info) == FTLS_OK)
                EVP_DigestUpdate(c, info.sha256, 32);
        }
        EVP_DigestFinal_ex(c, out, &n);
    }
    EVP_MD_CTX_free(c);
}

/* Parse and validate an identity generation. */
static FTLS_NODISCARD ftls_code build_identity(ftls_source *s, struct ftls__generation *g,
                                const char *wa, const char *wb,
                                ftls_identity **out, ftls_error *err)
{
    struct ftls__buf pw;
    ftls_code rc = get_pass(s, &pw, err);
    if (rc != FTLS_OK)
        return rc;
    const char *pass = (const char *)pw.data;
    if (s->kind == FTLS__SRC_P12)
        rc = ftls__identity_from_pkcs12(g->a.data, g->a.len, wa, pass, out, err);
    else if (s->kind == FTLS__SRC_PEM || (s->kind == FTLS__SRC_MEM && g->b.data == NULL))
        rc = ftls__identity_from_pem(g->a.data, g->a.len, wa, NULL, 0, NULL,
                                     pass, out, err);
    else
        rc = ftls__identity_from_pem(g->a.data, g->a.len, wa, g->b.data,
                                     g->b.len, wb, pass, out, err);
    ftls__buf_free(&pw, 1);
    if (rc == FTLS_OK &&
        (rc = ftls__identity_validate(*out, &s->opts, (int64_t)time(NULL), wa,
                                      err)) != FTLS_OK) {
        ftls_identity_free(*out);
        *out = NULL;
    }
    return rc;
}


void ftls__source_emit(ftls_source *s, const struct ftls__pending_event *pe, int n)
{
    for (int i = 0; i < n; i++) {
        ftls_source_event ev = {pe[i].type, s, ftls_source_generation(s),
                                pe[i].code, pe[i].message};
        if (pe[i].type == FTLS_EVENT_REJECTED ||
            pe[i].type == FTLS_EVENT_EXPIRED)
            ftls__log(FTLS_LOG_ERROR, "%s: %s", s->desc, pe[i].message);
        else if (pe[i].type != FTLS_EVENT_UNCHANGED)
            ftls__log(pe[i].type == FTLS_EVENT_LOADED ? FTLS_LOG_INFO
                                                      : FTLS_LOG_WARN,
                      "%s: %s", s->desc, pe[i].message);
        if (s->cb != NULL)
            s->cb(&ev, s->cb_ud);
    }
}

/* Reload under load_lock; returns events to emit after unlocking. */
static FTLS_NODISCARD ftls_code reload_locked(ftls_source *s, struct ftls__pending_event *pe,
                               int *npe, ftls_error *err)
{
    char wa[PATH_MAX + 300], wb[PATH_MAX + 300];
    struct ftls__generation g;
    ftls_identity *id = NULL;
    ftls_roots *roots = NULL;
    unsigned char h[32];
    ftls_code rc;
    int64_t now = (int64_t)time(NULL);
    if (ftls__source_is_trust(s)) {
        rc = s->kind == FTLS__SRC_SYSTEM
                 ? ftls_roots_get1_shared(s->system_which, &roots, err)
                 : ftls_roots_load_paths(s->trust_files, s->trust_dirs, &roots,
                                         err);
        if (rc == FTLS_OK)
            hash_roots(roots, h); /* identical root sets are "unchanged" */
    } else if ((rc = read_raw(s, &g, wa, wb, sizeof(wa), err)) == FTLS_OK) {
        hash_generation(&g, h);
        if (!(s->have_hash && memcmp(h, s->content_hash, 32) == 0))
            rc = build_identity(s, &g, wa, wb, &id, err);
        ftls__generation_free(&g);
    }
    ftls__lock(&s->status_lock);
    s->status.last_attempt = now;
    s->status.last_error = rc;
    snprintf(s->status.last_error_message, sizeof(s->status.last_error_message),
             "%s", rc == FTLS_OK ? "" : ftls_error_message(err));
    ftls__unlock(&s->status_lock);
    if (rc != FTLS_OK) {
        pe[*npe].type = FTLS_EVENT_REJECTED;
        pe[*npe].code = rc;
        snprintf(pe[*npe].message, sizeof(pe[*npe].message), "%s%s",
                 err ? ftls_error_message(err) : ftls_code_describe(rc),
                 ftls_source_generation(s) ? "; keeping the previous generation"
                                           : "");
        (*npe)++;
        return rc;
    }
    if (s->have_hash && memcmp(h, s->content_hash, 32) == 0) {
        ftls_roots_free(roots);
        pe[*npe].type = FTLS_EVENT_UNCHANGED;
        pe[*npe].code = FTLS_OK;
        snprintf(pe[*npe].message, sizeof(pe[*npe].message), "unchanged");
        (*npe)++;
        return FTLS_OK;
    }
    uint64_t gen = 0;
    void *data = id ? (void *)id : (void *)roots;
    if (id != NULL)
        id->generation = ftls_cell_generation(s->cell) + 1;
    rc = ftls_cell_publish(s->cell, data, &gen, err);
    if (rc != FTLS_OK) {
        ftls_identity_free(id);
        ftls_roots_free(roots);
        return rc;
    }
    memcpy(s->content_hash, h, 32);
    s->have_hash = 1;
    ftls__lock(&s->status_lock);
    s->status.generation = gen;
    s->status.last_success = now;
    if (id != NULL) {
        memcpy(s->status.sha256, id->sha256, 32);
        s->status.not_after = id->not_after;
    }
    ftls__unlock(&s->status_lock);
    pe[*npe].type = FTLS_EVENT_LOADED;
    pe[*npe].code = FTLS_OK;
    if (id != NULL) {
        char subj[256];
        X509_NAME_oneline(X509_get_subject_name(id->leaf), subj, sizeof(subj));
        snprintf(pe[*npe].message, sizeof(pe[*npe].message),
                 "loaded generation %llu: %s", (unsigned long long)gen, subj);
    } else {
        snprintf(pe[*npe].message, sizeof(pe[*npe].message),
                 "loaded generation %llu: %zu roots", (unsigned long long)gen,
                 ftls_roots_count(roots));
    }
    (*npe)++;
    return FTLS_OK;
}

ftls_code ftls_source_reload(ftls_source *s, ftls_error *err)
{
    FTLS_GUARD_ARG(s != NULL, err, "src is NULL");
    ftls_error *local = NULL;
    if (err == NULL && ftls_error_new(&local) == FTLS_OK)
        err = local; /* the event needs a message even if the caller doesn't */
    struct ftls__pending_event pe[3];
    int npe = 0;
    ftls__lock(&s->load_lock);
    uint64_t before = ftls_cell_generation(s->cell);
    ftls_code rc = reload_locked(s, pe, &npe, err);
    int published = ftls_cell_generation(s->cell) != before;
    ftls__unlock(&s->load_lock);
    if (published) {
        ftls__lock(&s->listener_lock);
        for (int i = 0; i < s->nlisteners; i++)
            s->listeners[i].fn(s, s->listeners[i].arg);
        ftls__unlock(&s->listener_lock);
    }
    ftls__source_emit(s, pe, npe);
    if (published) /* expiring/expired at load, once for this generation */
        (void)ftls__source_check_expiry(s, (int64_t)time(NULL));
    ftls_error_free(local);
    return rc;
}

/* ---- reading the published state ------------------------------------------ */

static FTLS_NODISCARD ftls_code get1(ftls_source *s, int want_trust, void **out,
                      ftls_error *err)
{
    FTLS_GUARD_ARG(out != NULL, err, "out is NULL");
    *out = NULL;
    FTLS_GUARD_ARG(s != NULL, err, "src is NULL");
    if (ftls__source_is_trust(s) != want_trust)
        return ftls__err(err, FTLS_E_STATE, "%s: not %s source", s->desc,
                         want_trust ? "a trust" : "an identity");
    ftls_snapshot *snap = NULL;
    ftls_code rc = ftls_cell_get1_snapshot(s->cell, &snap);
    if (rc != FTLS_OK)
        return ftls__err(err, rc, "%s: %s", s->desc,
                         rc == FTLS_E_EMPTY ? "nothing loaded yet"
                                            : ftls_code_describe(rc));
    void *data = ftls_snapshot_get0_data(snap);
    if (want_trust)
        rc = ftls_roots_up_ref(data);
    else
        rc = ftls_identity_up_ref(data);
    if (rc == FTLS_OK)
        *out = data;
    ftls_snapshot_free(snap);
    return rc;
}

ftls_code ftls_source_get1_identity(ftls_source *s, ftls_identity **out,
                                    ftls_error *err)
{
    return get1(s, 0, (void **)out, err);
}

ftls_code ftls_source_get1_roots(ftls_source *s, ftls_roots **out,
                                 ftls_error *err)
{
    return get1(s, 1, (void **)out, err);
}

uint64_t ftls_source_generation(const ftls_source *s)
{
    return s ? ftls_cell_generation(s->cell) : 0;
}

ftls_code ftls_source_get_status(const ftls_source *s, ftls_source_status *st)
{
    if (s == NULL || st == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    ftls__lock((pthread_mutex_t *)&s->status_lock);
    *st = s->status;
    ftls__unlock((pthread_mutex_t *)&s->status_lock);
    int64_t now = (int64_t)time(NULL), warn = ftls__source_warn_seconds(s);
    st->seconds_left = st->not_after ? st->not_after - now : 0;
    if (st->generation == 0)
        st->health = FTLS_HEALTH_EMPTY;
    else if (st->not_after && st->seconds_left < 0)
        st->health = FTLS_HEALTH_EXPIRED;
    else if (st->last_error != FTLS_OK)
        st->health = FTLS_HEALTH_STALE;
    else if (st->not_after && warn >= 0 && st->seconds_left <= warn)
        st->health = FTLS_HEALTH_EXPIRING;
    else
        st->health = FTLS_HEALTH_OK;
    return FTLS_OK;
}

ftls_code ftls_source_set_event_callback(ftls_source *s, ftls_source_event_fn fn,
                                         void *userdata)
{
    if (s == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    s->cb = fn;
    s->cb_ud = userdata;
    return FTLS_OK;
}

const char *ftls_source_describe(const ftls_source *s)
{
    return s ? s->desc : "";
}

const char *ftls_source_event_name(ftls_source_event_type t)
{
    switch (t) {
    case FTLS_EVENT_LOADED:
        return "loaded";
    case FTLS_EVENT_REJECTED:
        return "rejected";
    case FTLS_EVENT_UNCHANGED:
        return "unchanged";
    case FTLS_EVENT_EXPIRING:
        return "expiring";
    case FTLS_EVENT_DEGRADED:
        return "degraded";
    case FTLS_EVENT_EXPIRED:
        return "expired";
    }
    return "unknown";
}

ftls_code ftls__source_add_listener(ftls_source *s, ftls__source_listener_fn fn,
                                    void *arg)
{
    ftls__lock(&s->listener_lock);
    ftls_code rc = FTLS_E_NOMEM;
    if (s->nlisteners == s->caplisteners) {
        int ncap = s->caplisteners ? s->caplisteners * 2 : 4;
        struct ftls__listener *n =
            ftls__realloc(s->listeners, (size_t)ncap * sizeof(*n));
        if (n != NULL) {
            s->listeners = n;
            s->caplisteners = ncap;
        }
    }
    if (s->nlisteners < s->caplisteners) {
        s->listeners[s->nlisteners].fn = fn;
        s->listeners[s->nlisteners].arg = arg;
        s->nlisteners++;
        rc = FTLS_OK;
    }
    ftls__unlock(&s->listener_lock);
    return rc;
}

void ftls__source_remove_listener(ftls_source *s, ftls__source_listener_fn fn,
                                  void *arg)
{
    ftls__lock(&s->listener_lock);
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].fn == fn && s->listeners[i].arg == arg) {
            s->listeners[i] = s->listeners[--s->nlisteners];
            break;
        }
    ftls__unlock(&s->listener_lock);
}
