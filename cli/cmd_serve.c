/* freshtls serve: a small HTTPS server that hot-reloads its identity and
 * client CAs (or mints a leaf per SNI name), tells each client which
 * certificate it served, and stays bounded under abuse (serve_loop.c). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "serve_app.h"

const struct cli_command cli_cmd_serve = {
    "serve",
    "HTTPS server that hot-reloads identity and client CAs",
    "usage: freshtls serve --dir DIR [--client-ca PATH]\n"
    "                      [--pass-file FILE | --pass-env VAR] [options]\n"
    "       freshtls serve --mint-ca CADIR [--ca-pass-file FILE | "
    "--ca-pass-env VAR]\n"
    "                      [--insecure-ca-perms] [options]\n"
    "options: [--listen ADDR:PORT] [--metrics ADDR:PORT] [--max-conns N]\n"
    "         [--handshake-timeout S] [--request-timeout S]\n\n"
    "Serves HTTP/1.1 GET over TLS with the certificate in DIR (tls.crt,\n"
    "tls.key; a Kubernetes secret mount works). Each response names the\n"
    "certificate that was served (subject, serial, generation). With\n"
    "--client-ca (a CA file or directory) clients must present a certificate\n"
    "issued by it; rejected clients are logged. An encrypted tls.key needs\n"
    "--pass-file or --pass-env (never a prompt). Both are watched and\n"
    "reloaded on change; each reload is logged. --listen defaults to\n"
    "127.0.0.1:8443; use port 0 for any free port and [::1]:PORT for IPv6.\n"
    "Prints 'listening on ADDR:PORT' when ready.\n\n"
    "With --mint-ca, a leaf is minted per SNI host name with the CA in\n"
    "CADIR (ca.crt, ca.key), as an intercepting proxy does; a handshake\n"
    "without SNI or with a refused name fails and is logged.\n\n"
    "Bounded: one thread serves every connection; at most --max-conns\n"
    "(default 512; at the cap the oldest connection that has not sent its\n"
    "request is closed to make room). A handshake must finish within\n"
    "--handshake-timeout seconds (default 10) and the request within\n"
    "--request-timeout (default 10), however slowly bytes trickle in. When\n"
    "descriptors run out, accepting pauses briefly instead of spinning.\n\n"
    "Signals: SIGHUP reloads now (the sources, or the CA files) and logs the\n"
    "result; SIGINT/SIGTERM stop accepting, let open connections finish\n"
    "(up to the two timeouts) and exit 0. Under systemd (NOTIFY_SOCKET) it\n"
    "reports READY, RELOADING and STOPPING (examples/freshtls-serve.service).\n"
    "--metrics ADDR:PORT serves Prometheus text (any GET) on a separate\n"
    "address; keep it on loopback.\n" CLI_CA_FILE_HELP,
    cmd_serve,
};

struct serve_args {
    const char *dir, *client_ca, *mint_ca, *listen, *metrics;
    long max_conns, handshake_s, request_s;
    struct cli_ca_files caf;
    ftls_identity_options io; /* --pass-file / --pass-env for DIR's key */
};

static const struct cli_opt g_serve_opts[] = {
    CLI_STR("--dir", NULL, struct serve_args, dir),
    CLI_STR("--client-ca", NULL, struct serve_args, client_ca),
    CLI_STR("--mint-ca", NULL, struct serve_args, mint_ca),
    CLI_STR("--listen", NULL, struct serve_args, listen),
    CLI_STR("--metrics", NULL, struct serve_args, metrics),
    CLI_LONG("--max-conns", struct serve_args, max_conns, 1, 100000),
    CLI_LONG("--handshake-timeout", struct serve_args, handshake_s, 1, 3600),
    CLI_LONG("--request-timeout", struct serve_args, request_s, 1, 3600),
    CLI_STR("--pass-file", NULL, struct serve_args, io.passphrase_file),
    CLI_STR("--pass-env", NULL, struct serve_args, io.passphrase_env),
    CLI_CA_FILE_OPTS(struct serve_args, caf),
    CLI_END,
};

static void stamp(char *when, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void audit_log(const char *name, ftls_code why, const char *msg,
                      void *ud)
{
    (void)ud;
    char when[32];
    stamp(when, sizeof(when));
    fprintf(stderr, "%s refused handshake for '%s': %s [%s]\n", when, name, msg,
            ftls_code_name(why));
}

/* Source events from the watcher thread (or a SIGHUP reload): one line
 * each; failures are counted for the metrics. */
static void log_event(const ftls_source_event *ev, void *ud)
{
    struct serve_source *s = ud;
    if (ev->type == FTLS_EVENT_UNCHANGED)
        return;
    if (ev->type == FTLS_EVENT_REJECTED)
        atomic_fetch_add(&s->reload_failures, 1);
    char when[32];
    stamp(when, sizeof(when));
    fprintf(stderr, "%s %s %s: %s\n", when, ftls_source_event_name(ev->type),
            ftls_source_describe(ev->source), ev->message);
}

/* ---- minting contexts that own their cache and CA ---------------------- */

struct mint_owned {
    ftls_leaf_cache *cache;
    ftls_ca *ca;
};

static int g_owned_idx = -1;
static pthread_once_t g_owned_once = PTHREAD_ONCE_INIT;

static void owned_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                       long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct mint_owned *o = ptr;
    if (o != NULL) {
        ftls_leaf_cache_free(o->cache);
        ftls_ca_free(o->ca);
        free(o);
    }
}

static void owned_init(void)
{
    g_owned_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, owned_free);
}

ftls_leaf_cache *serve_app_cache(const struct serve_app *app)
{
    if (app->mint_ctx == NULL || g_owned_idx < 0)
        return NULL;
    struct mint_owned *o = SSL_CTX_get_ex_data(app->mint_ctx, g_owned_idx);
    return o ? o->cache : NULL;
}

/* A server context minting per SNI with the CA in app->mint_dir. */
static SSL_CTX *mint_ctx_new(struct serve_app *app)
{
    pthread_once(&g_owned_once, owned_init);
    char *crt = cli_path(app->mint_dir, "ca.crt");
    char *key = cli_path(app->mint_dir, "ca.key");
    ftls_ca_file_options fo = cli_ca_file_options(&app->caf);
    struct mint_owned *o = calloc(1, sizeof(*o));
    SSL_CTX *ctx = NULL;
    int ok = crt && key && o && g_owned_idx >= 0 &&
             ftls_ca_load_ex(crt, key, &fo, &o->ca, app->err) == FTLS_OK &&
             /* leaf keys generated ahead of the handshakes that need them */
             ftls_ca_prepare_keys(o->ca, 32, app->err) == FTLS_OK &&
             ftls_leaf_cache_new(o->ca, NULL, &o->cache, app->err) == FTLS_OK &&
             (ctx = SSL_CTX_new(TLS_server_method())) != NULL &&
             SSL_CTX_set_ex_data(ctx, g_owned_idx, o) == 1;
    struct mint_owned *owned = ok ? o : NULL;
    if (ok)
        o = NULL; /* owned by ctx from here on */
    ok = ok && ftls_leaf_cache_attach(ctx, owned->cache, audit_log, NULL,
                                      app->err) == FTLS_OK;
    if (!ok) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    owned_free(NULL, o, NULL, 0, 0, NULL);
    free(crt);
    free(key);
    return ctx;
}

/* ---- the loop's hooks ------------------------------------------------------ */

static SSL *new_ssl(void *ud)
{
    struct serve_app *app = ud;
    if (app->factory == NULL)
        return SSL_new(app->mint_ctx);
    SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(app->factory);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx); /* the SSL keeps its context */
    return ssl;
}

static void describe_cert(X509 *x, char *out, size_t n)
{
    char subj[256] = "-", serial[80] = "-";
    if (x != NULL) {
        X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex)
            snprintf(serial, sizeof(serial), "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
    }
    snprintf(out, n, "subject=%s serial=%s", subj, serial);
}

static size_t respond(void *ud, SSL *ssl, const char *req, char *out,
                      size_t cap)
{
    struct serve_app *app = ud;
    char body[1200], served[400], peer[400], origin[128];
    int get = strncmp(req, "GET ", 4) == 0;
    describe_cert(SSL_get_certificate(ssl), served, sizeof(served));
    X509 *pc = SSL_get0_peer_certificate(ssl);
    describe_cert(pc, peer, sizeof(peer));
    ftls_ctx_stats st;
    if (app->factory != NULL &&
        ftls_ctx_factory_get_stats(app->factory, &st) == FTLS_OK)
        snprintf(origin, sizeof(origin), "context generation: %llu",
                 (unsigned long long)st.generation);
    else /* minted: the name passed ftls_leaf_normalize_name() */
        snprintf(origin, sizeof(origin), "minted for: %.100s",
                 SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    int blen = snprintf(body, sizeof(body),
                        "served certificate: %s\n%s\nclient certificate: %s\n",
                        served, origin, pc ? peer : "none");
    int n = snprintf(out, cap,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                     get ? "200 OK" : "405 Method Not Allowed", blen, body);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void reload(void *ud)
{
    struct serve_app *app = ud;
    char when[32], mono[64];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(mono, sizeof(mono), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL +
                 (unsigned long long)ts.tv_nsec / 1000ULL);
    serve_notify(mono);
    stamp(when, sizeof(when));
    fprintf(stderr, "%s SIGHUP: reloading\n", when);
    for (size_t i = 0; i < app->nsources; i++)
        if (ftls_source_reload(app->sources[i].src, NULL) != FTLS_OK)
            continue; /* the REJECTED event has logged why */
    if (app->mint_dir != NULL) {
        SSL_CTX *fresh = mint_ctx_new(app);
        if (fresh == NULL) {
            cli_report("SIGHUP: the CA could not be reloaded; keeping the "
                       "current one",
                       app->err);
        } else {
            SSL_CTX_free(app->mint_ctx); /* open connections keep theirs */
            app->mint_ctx = fresh;
            fprintf(stderr, "%s SIGHUP: reloaded the CA from %s\n", when,
                    app->mint_dir);
        }
    }
    serve_notify("READY=1");
}

/* ---- setup ----------------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Log a source's events (one line each), load it, watch it. 1 on
 * success; -1 when the load failed (its REJECTED line said why); 0 when
 * something else failed (app->err says what). */
static int add_source(struct serve_app *app, ftls_source *src,
                      const char *label)
{
    struct serve_source *s = &app->sources[app->nsources++];
    s->src = src;
    s->label = label;
    atomic_init(&s->reload_failures, 0);
    if (ftls_source_set_event_callback(src, log_event, s) != FTLS_OK)
        return 0;
    if (ftls_source_reload(src, app->err) != FTLS_OK)
        return -1;
    return ftls_watcher_add(app->w, src, app->err) == FTLS_OK;
}

static int setup_identity(struct serve_app *app, const char *dir,
                          const char *client_ca,
                          const ftls_identity_options *io)
{
    ftls_ctx_template t = {.is_server = 1};
    ftls_source *id = NULL, *cas = NULL;
    int added = 0;
    if (ftls_watcher_new(NULL, &app->w, app->err) != FTLS_OK ||
        ftls_source_new_identity_dir(dir, io, &id, app->err) != FTLS_OK ||
        (added = add_source(app, id, "identity")) != 1 ||
        ftls_ctx_factory_new(&t, &app->factory, app->err) != FTLS_OK ||
        ftls_ctx_factory_set_identity(app->factory, id, app->err) != FTLS_OK) {
        if (added != -1) /* a failed load was logged as its REJECTED line */
            cli_report("cannot load the identity", app->err);
        return 0;
    }
    int d = client_ca != NULL && is_dir(client_ca);
    if (client_ca != NULL &&
        (ftls_source_new_trust(d ? NULL : client_ca, d ? client_ca : NULL, &cas,
                               app->err) != FTLS_OK ||
         (added = add_source(app, cas, "client_ca")) != 1 ||
         ftls_ctx_factory_set_client_cas(app->factory, cas, app->err) !=
             FTLS_OK)) {
        if (added != -1)
            cli_report("cannot load the client CAs", app->err);
        return 0;
    }
    if (ftls_ctx_factory_build(app->factory, app->err) != FTLS_OK ||
        ftls_watcher_start(app->w, app->err) != FTLS_OK) {
        cli_report("cannot start", app->err);
        return 0;
    }
    return 1;
}

static int listen_both(const struct serve_args *a, int *tls_fd, int *mfd)
{
    char bound[128], mbound[128];
    const char *why = NULL;
    *mfd = -1;
    if ((*tls_fd = serve_listen(a->listen, bound, sizeof(bound), &why)) < 0) {
        fprintf(stderr, "freshtls serve: cannot listen on %s: %s\n", a->listen,
                why);
        return 0;
    }
    if (a->metrics != NULL &&
        (*mfd = serve_listen(a->metrics, mbound, sizeof(mbound), &why)) < 0) {
        fprintf(stderr, "freshtls serve: cannot listen on %s (--metrics): %s\n",
                a->metrics, why);
        close(*tls_fd);
        return 0;
    }
    printf("listening on %s\n", bound);
    if (*mfd >= 0)
        printf("metrics on %s\n", mbound);
    fflush(stdout);
    return 1;
}

static void app_free(struct serve_app *app)
{
    ftls_watcher_free(app->w); /* first: no more events */
    ftls_ctx_factory_free(app->factory);
    SSL_CTX_free(app->mint_ctx);
    for (size_t i = 0; i < app->nsources; i++)
        ftls_source_free(app->sources[i].src);
    ftls_error_free(app->err);
}

int cmd_serve(int argc, char **argv)
{
    struct serve_args a = {.listen = "127.0.0.1:8443",
                           .max_conns = 512,
                           .handshake_s = 10,
                           .request_s = 10};
    const char *pos = NULL;
    int npos = 0, rc = CLI_FAIL, tls_fd = -1, mfd = -1;
    if (cli_parse("serve", g_serve_opts, &a, 1, argc, argv, &pos, 0, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    if ((a.dir == NULL) == (a.mint_ca == NULL) || (a.mint_ca && a.client_ca))
        return cli_usage_error("serve", "give --dir (optionally with "
                                        "--client-ca) or --mint-ca");
    const char *why = NULL;
    char msg[300];
    const char *specs[2][2] = {{"--listen", a.listen},
                               {"--metrics", a.metrics}};
    for (int i = 0; i < 2; i++)
        if (specs[i][1] != NULL && !serve_check_spec(specs[i][1], &why)) {
            snprintf(msg, sizeof(msg), "%s %s: %s", specs[i][0], specs[i][1],
                     why);
            return cli_usage_error("serve", msg);
        }
    /* Blocked before any thread starts, so only the loop's signalfd
     * receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    static struct serve_app app;
    memset(&app, 0, sizeof(app));
    app.caf = a.caf;
    app.mint_dir = a.mint_ca;
    if (ftls_error_new(&app.err) != FTLS_OK)
        return CLI_FAIL;
    int ready = a.mint_ca ? (app.mint_ctx = mint_ctx_new(&app)) != NULL
                          : setup_identity(&app, a.dir, a.client_ca, &a.io);
    if (!ready && a.mint_ca)
        cli_report("cannot set up minting", app.err);
    if (ready && listen_both(&a, &tls_fd, &mfd)) {
        struct serve_limits lim = {a.max_conns, a.handshake_s * 1000,
                                   a.request_s * 1000,
                                   (a.handshake_s + a.request_s) * 1000};
        struct serve_hooks h = {&app, new_ssl, respond, serve_metrics_page,
                                reload};
        serve_notify("READY=1");
        rc = serve_loop_run(tls_fd, mfd, &lim, &h) == 0 ? CLI_OK : CLI_FAIL;
    }
    app_free(&app);
    return rc;
}
