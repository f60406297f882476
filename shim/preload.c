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
 * Trust likewise: the program's verify paths (SSL_CTX_load_verify_*,
 * SSL_CTX_set_default_verify_paths: the system store) become trust
 * sources, or FRESHTLS_ROOTS=system|FILE for clients and
 * FRESHTLS_CLIENT_CA=FILE for servers that verify clients. A context is
 * attached at its first SSL_new(), when its configuration is complete;
 * interposers live in interpose.c.
 * A generation that fails validation is never served: the previous one
 * stays, and the reason is logged. Log lines go to stderr, or to
 * FRESHTLS_LOG=FILE, each prefixed "freshtls-preload: ".
 *
 * Limits: docs/design/shim.md.
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
#include "shim.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_log;
static ftls_watcher *g_watcher;   /* identity files, in the reader process */
static ftls_source *g_explicit;   /* memory twin of FRESHTLS_DIR / CERT+KEY */
static _Atomic int g_active = -1; /* -1 unknown, 0 inert, 1 active */
static int g_ex_idx = -1;
static __thread int t_inside; /* our own calls into libssl pass through */

/* What the program did to one context. */
struct ctx_state {
    char *cert, *key;   /* identity files it loaded */
    int has_cert;       /* a certificate was set, however */
    ftls_source *id;    /* memory twin serving its identity */
    char *files, *dirs; /* verify paths, colon-joined */
    int system;         /* SSL_CTX_set_default_verify_paths */
    int attached;       /* attach decided (in this process's copy) */
    int owns_cert_cb;   /* freshtls's certificate callback is installed */
    /* The program's callbacks, chained behind freshtls's (interpose.c). */
    int (*app_cert_cb)(SSL *, void *);
    void *app_cert_arg;
    void (*app_info_cb)(const SSL *, int, int);
};

void shim_say(const char *fmt, ...)
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
    shim_say("%s: %s", ftls_log_level_name(level), msg);
}

static void on_event(const ftls_source_event *ev, void *ud)
{
    (void)ud;
    if (ev->type == FTLS_EVENT_LOADED)
        handoff_publish(ev->source);
    if (ev->type != FTLS_EVENT_UNCHANGED)
        shim_say("%s %s: %s", ftls_source_event_name(ev->type),
                 ftls_source_describe(ev->source), ev->message);
}

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                    long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct ctx_state *st = ptr;
    if (st == NULL)
        return;
    free(st->cert), free(st->key), free(st->files), free(st->dirs);
    /* Sources stay: watchers and handed-over slots may still use them. */
    free(st);
}

/* An identity file source, loaded and watched here (the reader), and the
 * memory twin that serves it in this process and in forked workers;
 * NULL (logged) on failure. */
static ftls_source *start_identity(ftls_source *src, ftls_error *err)
{
    if (ftls_source_set_event_callback(src, on_event, NULL) != FTLS_OK ||
        ftls_source_reload(src, err) != FTLS_OK ||
        ftls_watcher_add(g_watcher, src, err) != FTLS_OK) {
        if (ftls_error_code(err) != FTLS_OK)
            shim_say("not following %s: %s", ftls_source_describe(src),
                     ftls_error_message(err));
        ftls_source_free(src);
        return NULL;
    }
    ftls_source *mem = handoff_track(src);
    if (mem == NULL)
        shim_say("cannot hand %s over to workers; not following it",
                 ftls_source_describe(src));
    return mem;
}

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

/* A program built for another OpenSSL major loads its own libssl next to
 * the shim's: its objects must never reach this libfreshtls. */
static int one_openssl(void)
{
    struct libs l = {.n = 0};
    dl_iterate_phdr(count_libssl, &l);
    if (l.n > 1)
        shim_say("two libssl libraries are loaded (%s and %s): the program "
                 "uses another OpenSSL than this shim (built for %s); inert",
                 l.names[0], l.names[1], OPENSSL_VERSION_TEXT);
    return l.n <= 1;
}

/* Read the environment and start; 1 when active. g_active is stored by
 * the caller once everything here is in place. */
static int init_active(void)
{
    const char *on = getenv("FRESHTLS_EXEC");
    if (on == NULL || strcmp(on, "1") != 0)
        return 0;
    const char *logf = getenv("FRESHTLS_LOG");
    if (logf != NULL && (g_log = fopen(logf, "ae")) == NULL)
        fprintf(stderr, "freshtls-preload: cannot open FRESHTLS_LOG=%s\n",
                logf);
    if (!one_openssl() ||
        ftls_log_set_callback(on_log, NULL, FTLS_LOG_WARN) != FTLS_OK ||
        ftls_watcher_new(NULL, &g_watcher, NULL) != FTLS_OK ||
        ftls_watcher_start(g_watcher, NULL) != FTLS_OK ||
        !handoff_init(shim_say)) {
        shim_say("cannot start (watcher or hand-over area); inert");
        return 0;
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
        g_explicit = start_identity(s, err);
    shim_say("active (%s)", g_explicit ? (dir ? dir : crt)
                                       : "following the program's own files");
    ftls_error_free(err);
    return 1;
}

int shim_active(void)
{
    if (t_inside > 0) /* our own call (which may hold g_lock) */
        return 0;
    int a = atomic_load(&g_active);
    if (a >= 0) /* decided: no lock on the per-connection path */
        return a;
    pthread_mutex_lock(&g_lock);
    if ((a = atomic_load(&g_active)) < 0) {
        t_inside++;
        a = init_active();
        t_inside--;
        atomic_store(&g_active, a); /* after everything it set up */
    }
    pthread_mutex_unlock(&g_lock);
    return a;
}

static struct ctx_state *state_of(SSL_CTX *ctx)
{
    struct ctx_state *st = SSL_CTX_get_ex_data(ctx, g_ex_idx);
    if (st == NULL && (st = calloc(1, sizeof(*st))) != NULL &&
        !SSL_CTX_set_ex_data(ctx, g_ex_idx, st)) {
        free(st);
        st = NULL;
    }
    return st;
}

static void replace(char **slot, const char *v)
{
    if (v == NULL)
        return;
    free(*slot);
    *slot = strdup(v);
}

/* Files already followed (a server that rebuilds its contexts on its own
 * reload signal loads the same pair again): one source per pair. */
static struct pair {
    char *cert, *key;
    ftls_source *twin;
} g_pairs[8];
static size_t g_npairs;

static ftls_source *known_pair(const char *cert, const char *key)
{
    for (size_t i = 0; i < g_npairs; i++)
        if (strcmp(g_pairs[i].cert, cert) == 0 &&
            strcmp(g_pairs[i].key, key) == 0)
            return g_pairs[i].twin;
    return NULL;
}

static void remember_pair(const char *cert, const char *key, ftls_source *twin)
{
    if (g_npairs == sizeof(g_pairs) / sizeof(g_pairs[0]))
        return;
    char *c = strdup(cert), *k = strdup(key);
    if (c == NULL || k == NULL) {
        free(c), free(k);
        return;
    }
    g_pairs[g_npairs++] = (struct pair){c, k, twin};
}

/* The identity source for st once it has what it needs (reader only). */
static void identity_ready(struct ctx_state *st)
{
    if (st->id != NULL || st->attached)
        return;
    if (g_explicit != NULL && st->has_cert) {
        st->id = g_explicit;
    } else if (st->cert != NULL && st->key != NULL &&
               (st->id = known_pair(st->cert, st->key)) == NULL) {
        ftls_source *s = NULL;
        ftls_error *err = NULL;
        if (ftls_error_new(&err) != FTLS_OK)
            err = NULL;
        if (ftls_source_new_identity_files(st->cert, st->key, NULL, &s, err) ==
                FTLS_OK &&
            (st->id = start_identity(s, err)) != NULL)
            remember_pair(st->cert, st->key, st->id);
        ftls_error_free(err);
    }
}

void shim_note_identity(SSL_CTX *ctx, const char *cert, const char *key)
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_state *st = state_of(ctx);
    if (st != NULL) {
        replace(&st->cert, cert);
        replace(&st->key, key);
        st->has_cert |= cert != NULL;
        identity_ready(st);
    }
    t_inside--;
    pthread_mutex_unlock(&g_lock);
}

void shim_note_certificate(SSL_CTX *ctx)
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_state *st = state_of(ctx);
    if (st != NULL) {
        st->has_cert = 1;
        identity_ready(st);
    }
    t_inside--;
    pthread_mutex_unlock(&g_lock);
}

static void append(char **list, const char *v)
{
    if (v == NULL)
        return;
    size_t n = *list ? strlen(*list) : 0, m = strlen(v);
    char *p = realloc(*list, n + m + 2);
    if (p == NULL)
        return;
    if (n)
        p[n++] = ':';
    memcpy(p + n, v, m + 1);
    *list = p;
}

void shim_note_trust(SSL_CTX *ctx, const char *file, const char *dir,
                     int system)
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_state *st = state_of(ctx);
    if (st != NULL) {
        append(&st->files, file);
        append(&st->dirs, dir);
        st->system |= system;
    }
    t_inside--;
    pthread_mutex_unlock(&g_lock);
}

/* The trust to attach: freshtls exec's, else the program's own. */
static ftls_source *trust_for(const struct ctx_state *st, int server)
{
    const char *named =
        getenv(server ? "FRESHTLS_CLIENT_CA" : "FRESHTLS_ROOTS");
    if (named != NULL)
        return strcmp(named, "system") == 0 ? shim_trust_source(NULL, NULL, 1)
                                            : shim_trust_source(named, NULL, 0);
    if (st->files != NULL || st->dirs != NULL)
        return shim_trust_source(st->files, st->dirs, 0);
    return st->system ? shim_trust_source(NULL, NULL, 1) : NULL;
}

static int cert_trampoline(SSL *ssl, void *arg)
{
    struct ctx_state *st = arg;
    return st->app_cert_cb ? st->app_cert_cb(ssl, st->app_cert_arg) : 1;
}

static void info_trampoline(const SSL *ssl, int where, int ret)
{
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    struct ctx_state *st = ctx ? SSL_CTX_get_ex_data(ctx, g_ex_idx) : NULL;
    if (st != NULL && st->app_info_cb != NULL)
        st->app_info_cb(ssl, where, ret);
}

/* First SSL_new on ctx: attach what was noted. A server verifies clients
 * against its trust only when it asks for client certificates. The
 * program's certificate and info callbacks keep running behind
 * freshtls's, including ones it sets later (interpose.c). */
static void attach(SSL_CTX *ctx, struct ctx_state *st)
{
    st->attached = 1;
    int server = st->has_cert;
    int verifies = (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0;
    ftls_source *trust = (!server || verifies) ? trust_for(st, server) : NULL;
    if (st->id == NULL && trust == NULL)
        return;
    ftls_attach_identity id = {NULL, st->id};
    ftls_attach_config cfg = {.identities = st->id ? &id : NULL,
                              .n_identities = st->id != NULL,
                              .app_cert_cb = cert_trampoline,
                              .app_cert_arg = st};
    st->app_info_cb = SSL_CTX_get_info_callback(ctx);
    SSL_CTX_set_info_callback(ctx, info_trampoline); /* chained by attach */
    if (server)
        cfg.client_cas = trust;
    else
        cfg.roots = trust;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        err = NULL;
    int done = ftls_ctx_attach(ctx, &cfg, err) == FTLS_OK;
    st->owns_cert_cb = done && st->id != NULL;
    if (done)
        shim_say("attached a %s context (%s%s%s)", server ? "server" : "client",
                 st->id ? "identity" : "", st->id && trust ? ", " : "",
                 trust ? (server ? "client CAs" : "roots") : "");
    else
        shim_say("cannot attach: %s", ftls_error_message(err));
    ftls_error_free(err);
}

int shim_chain_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg)
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_state *st = state_of(ctx);
    int kept = st != NULL && st->owns_cert_cb;
    if (st != NULL) {
        st->app_cert_cb = cb;
        st->app_cert_arg = arg;
    }
    t_inside--;
    pthread_mutex_unlock(&g_lock);
    return kept;
}

int shim_chain_info_cb(SSL_CTX *ctx, void (*cb)(const SSL *, int, int))
{
    pthread_mutex_lock(&g_lock);
    t_inside++;
    struct ctx_state *st = state_of(ctx);
    int kept = st != NULL && st->attached;
    if (kept)
        st->app_info_cb = cb;
    t_inside--;
    pthread_mutex_unlock(&g_lock);
    return kept;
}

void shim_before_ssl_new(SSL_CTX *ctx)
{
    handoff_refresh(); /* generations the reader published */
    struct ctx_state *st = SSL_CTX_get_ex_data(ctx, g_ex_idx);
    if (st != NULL && st->attached)
        return; /* the common case, without the lock */
    pthread_mutex_lock(&g_lock);
    t_inside++;
    if ((st = state_of(ctx)) != NULL && !st->attached)
        attach(ctx, st);
    t_inside--;
    pthread_mutex_unlock(&g_lock);
}
