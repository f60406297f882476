/*
 * libfreshtls-preload.so: fresh identities inside an unmodified OpenSSL
 * program, loaded with LD_PRELOAD by `freshtls exec`.
 *
 * Inert unless FRESHTLS_EXEC=1 is in the environment: every interposed
 * call then only forwards to libssl. When active, each server context that
 * gets a certificate (SSL_CTX_use_certificate*, ..._chain_file) and a key
 * is attached to a freshtls identity source (attach mode: the program's
 * own verification settings stay as they are), and a watcher thread
 * reloads that source whenever its files change, so every new handshake
 * serves the newest valid certificate without a restart or a signal;
 * processes the program forks (workers, even after dropping privileges)
 * receive each validated generation from it (handoff.c). The
 * source is either the files the program itself loaded (the paths it gave
 * to the *_file calls), or the ones `freshtls exec` names:
 *   FRESHTLS_DIR=DIR               tls.crt + tls.key (a Kubernetes mount)
 *   FRESHTLS_CERT=F FRESHTLS_KEY=F explicit files
 * A generation that fails validation is never served: the previous one
 * stays, and the reason is logged. Log lines go to stderr, or to
 * FRESHTLS_LOG=FILE, each prefixed "freshtls-preload: ".
 *
 * Not yet (docs/design/shim.md): chaining a program's own certificate
 * callback, client trust (SSL_CTX_load_verify_*), detection of a
 * statically linked OpenSSL.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#include <freshtls/freshtls.h>

#include "handoff.h"

#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_log;
static ftls_watcher *g_watcher;
static ftls_source *g_explicit;   /* from FRESHTLS_DIR / FRESHTLS_CERT+KEY */
static _Atomic int g_active = -1; /* -1 unknown, 0 inert, 1 active */
static int g_ex_idx = -1;
static __thread int t_inside; /* our own calls into libssl pass through */

/* What the program loaded into one context. */
struct ctx_files {
    char *cert, *key;
    int attached;
    ftls_source *src; /* per-context source (program's own files) */
};

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    FILE *f = g_log ? g_log : stderr;
    va_list ap;
    va_start(ap, fmt);
    flockfile(f);
    fprintf(f, "freshtls-preload: %s [pid %ld] ", when, (long)getpid());
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
    va_end(ap);
}

static void on_log(ftls_log_level level, const char *msg, void *ud)
{
    (void)ud;
    say("%s: %s", ftls_log_level_name(level), msg);
}

static void on_event(const ftls_source_event *ev, void *ud)
{
    (void)ud;
    if (ev->type == FTLS_EVENT_LOADED)
        handoff_publish(ev->source);
    if (ev->type == FTLS_EVENT_UNCHANGED)
        return;
    say("%s %s: %s", ftls_source_event_name(ev->type),
        ftls_source_describe(ev->source), ev->message);
}

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                    long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct ctx_files *f = ptr;
    if (f == NULL)
        return;
    free(f->cert);
    free(f->key);
    /* f->src stays: the watcher and the attachment may still use it. */
    free(f);
}

/* A file source, loaded and watched, and the memory source that serves
 * its generations in this process and in forked workers (handoff.c);
 * NULL (logged) on failure. */
static ftls_source *start_source(ftls_source *src, ftls_error *err)
{
    if (ftls_source_set_event_callback(src, on_event, NULL) != FTLS_OK ||
        ftls_source_reload(src, err) != FTLS_OK ||
        ftls_watcher_add(g_watcher, src, err) != FTLS_OK) {
        if (ftls_error_code(err) != FTLS_OK)
            say("not attaching %s: %s", ftls_source_describe(src),
                ftls_error_message(err));
        ftls_source_free(src);
        return NULL;
    }
    ftls_source *mem = handoff_track(src);
    if (mem == NULL)
        say("cannot hand %s over to workers; not attaching",
            ftls_source_describe(src));
    return mem;
}

/* ---- a second OpenSSL in the process --------------------------------- */

struct libs {
    char names[4][256];
    int n;
};

static int count_libssl(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct libs *l = arg;
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    if (strncmp(base, "libssl.so", 9) == 0 && l->n < 4)
        snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", info->dlpi_name);
    return 0;
}

static void init_active(void)
{
    const char *on = getenv("FRESHTLS_EXEC");
    g_active = on != NULL && strcmp(on, "1") == 0;
    if (!g_active)
        return;
    /* A program built for another OpenSSL major loads its own libssl next
     * to the shim's: its objects must never reach this libfreshtls. */
    struct libs l = {.n = 0};
    dl_iterate_phdr(count_libssl, &l);
    if (l.n > 1) {
        say("two libssl libraries are loaded (%s and %s): the program uses "
            "another OpenSSL than this shim (built for %s); inert",
            l.names[0], l.names[1], OPENSSL_VERSION_TEXT);
        g_active = 0;
        return;
    }
    const char *logf = getenv("FRESHTLS_LOG");
    if (logf != NULL && (g_log = fopen(logf, "ae")) == NULL)
        fprintf(stderr, "freshtls-preload: cannot open FRESHTLS_LOG=%s\n",
                logf);
    if (ftls_log_set_callback(on_log, NULL, FTLS_LOG_WARN) != FTLS_OK ||
        ftls_watcher_new(NULL, &g_watcher, NULL) != FTLS_OK ||
        ftls_watcher_start(g_watcher, NULL) != FTLS_OK) {
        say("cannot start the watcher; inert");
        g_active = 0;
        return;
    }
    if (!handoff_init(say)) {
        say("cannot map the hand-over area; inert");
        g_active = 0;
        return;
    }
    g_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
    const char *dir = getenv("FRESHTLS_DIR"), *crt = getenv("FRESHTLS_CERT"),
               *key = getenv("FRESHTLS_KEY");
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        err = NULL; /* the calls below accept NULL */
    if ((dir && ftls_source_new_identity_dir(dir, NULL, &s, err) == FTLS_OK) ||
        (!dir && crt && key &&
         ftls_source_new_identity_files(crt, key, NULL, &s, err) == FTLS_OK))
        g_explicit = start_source(s, err);
    say("active (%s)",
        g_explicit ? (dir ? dir : crt) : "following the program's own files");
    ftls_error_free(err);
}

static int active(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_active < 0) {
        t_inside++;
        init_active();
        t_inside--;
    }
    int a = g_active == 1 && t_inside == 0;
    pthread_mutex_unlock(&g_lock);
    return a;
}

static struct ctx_files *files_of(SSL_CTX *ctx)
{
    struct ctx_files *f = SSL_CTX_get_ex_data(ctx, g_ex_idx);
    if (f == NULL && (f = calloc(1, sizeof(*f))) != NULL &&
        !SSL_CTX_set_ex_data(ctx, g_ex_idx, f)) {
        free(f);
        f = NULL;
    }
    return f;
}

/* Attach `ctx` once it has a certificate and a key, to the explicit
 * source or to one over the program's own files. */
static void maybe_attach(SSL_CTX *ctx, struct ctx_files *f)
{
    if (f->attached || (g_explicit == NULL && (!f->cert || !f->key)))
        return;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        err = NULL; /* the calls below accept NULL */
    ftls_source *src = g_explicit;
    if (src == NULL) {
        ftls_source *s = NULL;
        if (ftls_source_new_identity_files(f->cert, f->key, NULL, &s, err) ==
            FTLS_OK)
            src = f->src = start_source(s, err);
    }
    ftls_attach_identity id = {NULL, src};
    ftls_attach_config cfg = {.identities = &id, .n_identities = 1};
    if (src != NULL && ftls_ctx_attach(ctx, &cfg, err) == FTLS_OK) {
        f->attached = 1;
        say("attached a server context");
    } else if (src != NULL) {
        say("cannot attach: %s", ftls_error_message(err));
    }
    ftls_error_free(err);
}

static void note(SSL_CTX *ctx, const char *cert, const char *key, int any)
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_files *f = files_of(ctx);
    if (f != NULL) {
        if (cert != NULL) {
            free(f->cert);
            f->cert = strdup(cert);
        }
        if (key != NULL) {
            free(f->key);
            f->key = strdup(key);
        }
        if (any || f->key != NULL)
            maybe_attach(ctx, f);
    }
    t_inside--;
    pthread_mutex_unlock(&g_lock);
}

#define REAL(name, type)                                                       \
    static type real_##name;                                                   \
    if (real_##name == NULL)                                                   \
        real_##name = (type)dlsym(RTLD_NEXT, #name);

typedef int (*chain_file_fn)(SSL_CTX *, const char *);
typedef int (*typed_file_fn)(SSL_CTX *, const char *, int);
typedef int (*use_cert_fn)(SSL_CTX *, X509 *);

EXPORT int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file)
{
    REAL(SSL_CTX_use_certificate_chain_file, chain_file_fn);
    int r = real_SSL_CTX_use_certificate_chain_file(ctx, file);
    if (r == 1 && active())
        note(ctx, file, NULL, 0);
    return r;
}

EXPORT int SSL_CTX_use_certificate_file(SSL_CTX *ctx, const char *file,
                                        int type)
{
    REAL(SSL_CTX_use_certificate_file, typed_file_fn);
    int r = real_SSL_CTX_use_certificate_file(ctx, file, type);
    if (r == 1 && type == SSL_FILETYPE_PEM && active())
        note(ctx, file, NULL, 0);
    return r;
}

EXPORT int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type)
{
    REAL(SSL_CTX_use_PrivateKey_file, typed_file_fn);
    int r = real_SSL_CTX_use_PrivateKey_file(ctx, file, type);
    if (r == 1 && type == SSL_FILETYPE_PEM && active())
        note(ctx, NULL, file, 0);
    return r;
}

/* Certificates loaded by the program itself (openssl s_server does): only
 * an explicitly named source can follow them. */
EXPORT int SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x)
{
    REAL(SSL_CTX_use_certificate, use_cert_fn);
    int r = real_SSL_CTX_use_certificate(ctx, x);
    if (r == 1 && active() && g_explicit != NULL)
        note(ctx, NULL, NULL, 1);
    return r;
}

typedef SSL *(*ssl_new_fn)(SSL_CTX *);

EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    REAL(SSL_new, ssl_new_fn);
    if (g_active == 1 && t_inside == 0)
        handoff_refresh(); /* a generation the reader published */
    return real_SSL_new(ctx);
}
