/* freshtls proxy: an intercepting HTTPS forward proxy (proxy.h). This
 * file holds its options, its CA, its policy sources and --exec. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli.h"
#include "opt.h"
#include "proxy.h"
#include "serve_loop.h"

const struct cli_command cli_cmd_proxy = {
    "proxy",
    "intercepting HTTPS proxy (CONNECT) with minted leaves and an audit log",
    "usage: freshtls proxy [--listen ADDR:PORT] [--mint-ca CADIR]\n"
    "         [--intercept PAT] [--tunnel PAT] [--deny PAT] [--rules FILE]\n"
    "         [--default intercept|deny] [--upstream-ca FILE]\n"
    "         [--resolve HOST:PORT:ADDR] [--allow-ip] [--allow-sni-mismatch]\n"
    "         [--audit FILE] [--keylog FILE] [--max-conns N]\n"
    "         [--handshake-timeout S] [--idle-timeout S]\n"
    "         [--no-upstream-resume]\n"
    "         [--exec -- CMD [ARGS...]]\n\n"
    "Accepts HTTP CONNECT on --listen (default 127.0.0.1:8080; [::1]:PORT\n"
    "for IPv6; port 0 for any free one) and prints 'listening on ADDR' on\n"
    "stderr. Other methods get 405, malformed requests 400.\n\n"
    "Policy: each destination is intercepted, tunnelled (bytes passed\n"
    "through untouched, for pinned clients) or denied (403). PAT is a\n"
    "host-name glob ('*.example.com'; '*' crosses dots) or an address or\n"
    "CIDR block (for IP targets; deny blocks also apply to the addresses a\n"
    "name resolves to). --intercept, --tunnel and --deny repeat; --rules FILE\n"
    "holds lines 'intercept|tunnel|deny PAT' ('#' comments) and is re-read on\n"
    "SIGHUP. The first matching rule wins (flags before the file); with no\n"
    "match the --default applies (intercept). Nothing is tunnelled unless a\n"
    "rule says so.\n\n"
    "Interception: the client is shown a leaf minted for its SNI by the CA in\n"
    "CADIR (ca.crt, ca.key) or by an ephemeral CA whose certificate is\n"
    "written to a private directory and printed ('interception CA: PATH').\n"
    "Without SNI the CONNECT host is used; IP targets need --allow-ip. An SNI\n"
    "other than the CONNECT host is refused; --allow-sni-mismatch allows it\n"
    "and makes the SNI the name the rules, the upstream verification and\n"
    "the leaf are about (for clients that CONNECT to an address). Before the "
    "client's handshake completes, the target is reached\n"
    "over TLS and verified (name or IP) against the system roots, refreshed\n"
    "as they change, plus every --upstream-ca FILE (added, never replacing\n"
    "them); on failure the client gets a handshake_failure alert, never a\n"
    "leaf. The client's ALPN offer is passed on and the target's choice\n"
    "returned (h2 works end to end). --resolve maps HOST:PORT to ADDR as\n"
    "curl's option does. Sessions with a verified target are resumed for up\n"
    "to 10 minutes (never past its certificate's expiry; forgotten when the\n"
    "trust changes); --no-upstream-resume makes every upstream handshake a\n"
    "full one.\n\n"
    "Audit: one JSON line per connection (time, client, target, sni, action,\n"
    "rule, leaf hit/mint, upstream, upstream_verify, alpn, bytes each way,\n"
    "duration, error) to --audit FILE (appended, mode 0600) or stdout.\n"
    "--keylog FILE writes NSS key-log lines for both legs (mode 0600).\n\n"
    "Bounded: --max-conns (default 1024; at the cap the oldest connection\n"
    "still sending its CONNECT is closed), --handshake-timeout from accept\n"
    "to relay (default 10 s), --idle-timeout in the relay (default 300 s),\n"
    "16 KiB buffered per direction. SIGTERM/SIGINT stop accepting, drain\n"
    "(up to the idle timeout, at most 30 s) and exit 0.\n\n"
    "--exec -- CMD runs CMD with HTTPS_PROXY/HTTP_PROXY (both cases) set to\n"
    "this proxy and SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE and\n"
    "NODE_EXTRA_CA_CERTS pointing at the system roots plus the interception\n"
    "CA; the proxy exits with CMD's status. Audit lines then go to stderr\n"
    "unless --audit is given. Plain http:// requests reach the proxy too and\n"
    "get 405: nothing leaves unaudited.\n" CLI_CA_FILE_HELP,
    cmd_proxy,
};

enum { T_INTERCEPT, T_TUNNEL, T_DENY, T_UPSTREAM_CA, T_RESOLVE };

struct proxy_args {
    const char *listen, *mint_ca, *rules, *audit, *keylog;
    int fallback, allow_ip, allow_sni_mismatch, no_resume;
    long max_conns, handshake_s, idle_s;
    struct cli_list pats, cas, maps;
    struct cli_ca_files caf;
};

static const struct cli_opt g_opts[] = {
    CLI_STR("--listen", NULL, struct proxy_args, listen),
    CLI_STR("--mint-ca", NULL, struct proxy_args, mint_ca),
    CLI_LIST("--intercept", struct proxy_args, pats, T_INTERCEPT),
    CLI_LIST("--tunnel", struct proxy_args, pats, T_TUNNEL),
    CLI_LIST("--deny", struct proxy_args, pats, T_DENY),
    CLI_STR("--rules", NULL, struct proxy_args, rules),
    CLI_ENUM("--default", struct proxy_args, fallback, "intercept|deny"),
    CLI_LIST("--upstream-ca", struct proxy_args, cas, T_UPSTREAM_CA),
    CLI_LIST("--resolve", struct proxy_args, maps, T_RESOLVE),
    CLI_FLAG("--allow-ip", NULL, struct proxy_args, allow_ip),
    CLI_FLAG("--allow-sni-mismatch", NULL, struct proxy_args,
             allow_sni_mismatch),
    CLI_FLAG("--no-upstream-resume", NULL, struct proxy_args, no_resume),
    CLI_STR("--audit", NULL, struct proxy_args, audit),
    CLI_STR("--keylog", NULL, struct proxy_args, keylog),
    CLI_LONG("--max-conns", struct proxy_args, max_conns, 1, 1000000),
    CLI_LONG("--handshake-timeout", struct proxy_args, handshake_s, 1, 3600),
    CLI_LONG("--idle-timeout", struct proxy_args, idle_s, 1, 86400),
    CLI_CA_FILE_OPTS(struct proxy_args, caf),
    CLI_END,
};

struct proxy_app {
    struct proxy_args *a;
    char tmpdir[64]; /* ephemeral CA and --exec bundle; "" when none */
    char ca_path[96], bundle_path[96];
};

/* Rules from the flags (in order), then from --rules FILE. */
static int build_rules(const struct proxy_args *a, struct proxy_rules *r,
                       char *why, size_t n)
{
    static const enum proxy_action act[] = {PA_INTERCEPT, PA_TUNNEL, PA_DENY};
    r->fallback = a->fallback == 1 ? PA_DENY : PA_INTERCEPT;
    for (size_t i = 0; i < a->pats.n; i++)
        if (!proxy_rules_add(r, act[a->pats.v[i].tag], a->pats.v[i].value, why,
                             n))
            return 0;
    return a->rules == NULL || proxy_rules_load(r, a->rules, why, n);
}

static void reload(struct proxy *px)
{
    struct proxy_app *app = px->app;
    struct proxy_rules fresh = {0};
    char why[300];
    if (!build_rules(app->a, &fresh, why, sizeof(why))) {
        proxy_log("SIGHUP: rules not reloaded (the previous ones stay): %s",
                  why);
        proxy_rules_clear(&fresh);
    } else {
        proxy_rules_clear(&px->rules);
        px->rules = fresh;
        proxy_log("SIGHUP: %zu rules loaded", fresh.n);
    }
    if (!proxy_tls_reload_extra(px, why, sizeof(why)))
        proxy_log("SIGHUP: upstream CAs not reloaded: %s", why);
    if (ftls_roots_refresh(px->err) != FTLS_OK)
        proxy_log("SIGHUP: system roots not refreshed: %s",
                  ftls_error_message(px->err));
}

static int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0 && errno != EINTR)
            break;
        off += w > 0 ? (size_t)w : 0;
    }
    return close(fd) == 0 && off == len;
}

/* PEM of the CA certificate, optionally after the system roots. */
static int ca_bundle(struct proxy *px, int with_roots, const char *path)
{
    BIO *b = BIO_new(BIO_s_mem());
    ftls_roots *roots = NULL;
    int ok = b != NULL;
    if (ok && with_roots)
        ok =
            ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, &roots, px->err) ==
                FTLS_OK &&
            ftls_roots_export_pem_bio(roots, b, 0, 0, NULL, px->err) == FTLS_OK;
    ok = ok && PEM_write_bio_X509(b, ftls_ca_get0_cert(px->ca)) == 1;
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(b, &data) : 0;
    ok = ok && len > 0 && write_file(path, data, (size_t)len);
    ftls_roots_free(roots);
    BIO_free(b);
    return ok;
}

/* Leaf keys generated ahead of time: a new host name does not wait for
 * key generation (not fatal: mints then generate inline). */
static void prepare_keys(struct proxy *px)
{
    if (ftls_ca_prepare_keys(px->ca, 32, px->err) != FTLS_OK)
        proxy_log("leaf keys are generated inline: %s",
                  ftls_error_message(px->err));
}

static int setup_ca(struct proxy *px, struct proxy_app *app)
{
    struct proxy_args *a = app->a;
    if (a->mint_ca != NULL) {
        char *crt = cli_path(a->mint_ca, "ca.crt");
        char *key = cli_path(a->mint_ca, "ca.key");
        ftls_ca_file_options fo = cli_ca_file_options(&a->caf);
        int ok = crt && key &&
                 ftls_ca_load_ex(crt, key, &fo, &px->ca, px->err) == FTLS_OK;
        free(crt);
        free(key);
        if (!ok)
            cli_report("cannot load the interception CA", px->err);
        else
            prepare_keys(px);
        return ok;
    }
    ftls_ca_options o = {.common_name = "freshtls proxy ephemeral CA",
                         .validity = 7 * 86400};
    if (ftls_ca_generate(&o, &px->ca, px->err) != FTLS_OK) {
        cli_report("cannot generate a CA", px->err);
        return 0;
    }
    snprintf(app->ca_path, sizeof(app->ca_path), "%s/ca.pem", app->tmpdir);
    if (!ca_bundle(px, 0, app->ca_path)) {
        proxy_log("cannot write %s", app->ca_path);
        return 0;
    }
    proxy_log("interception CA: %s", app->ca_path);
    prepare_keys(px);
    return 1;
}

static void set_proxy_env(const char *bound, const char *bundle)
{
    char url[160];
    snprintf(url, sizeof(url), "http://%s", bound);
    const char *proxies[] = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                             "http_proxy"};
    const char *cas[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE",
                         "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"};
    for (size_t i = 0; i < 4; i++) {
        setenv(proxies[i], url, 1);
        setenv(cas[i], bundle, 1);
    }
}

static int start_child(struct proxy *px, struct proxy_app *app,
                       const char *bound, char **cmd)
{
    snprintf(app->bundle_path, sizeof(app->bundle_path), "%s/bundle.pem",
             app->tmpdir);
    if (!ca_bundle(px, 1, app->bundle_path)) {
        cli_report("cannot write the CA bundle for --exec", px->err);
        return 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        proxy_log("fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        set_proxy_env(bound, app->bundle_path);
        execvp(cmd[0], cmd);
        fprintf(stderr, "freshtls proxy: cannot run %s: %s\n", cmd[0],
                strerror(errno));
        _exit(127);
    }
    px->child_pid = pid;
    return 1;
}

static FILE *open_private(const char *path, const char *what)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (f == NULL) {
        proxy_log("%s %s: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

/* Options that need checking before anything starts; 0 after a usage
 * message. */
static int check_args(struct proxy_args *a, struct proxy *px)
{
    char why[300], msg[400];
    const char *w = NULL;
    if (!serve_check_spec(a->listen, &w)) {
        snprintf(msg, sizeof(msg), "--listen %s: %s", a->listen, w);
        return cli_usage_error("proxy", msg), 0;
    }
    if (!build_rules(a, &px->rules, why, sizeof(why)))
        return cli_usage_error("proxy", why), 0;
    px->maps = calloc(a->maps.n + 1, sizeof(*px->maps));
    px->upstream_ca = calloc(a->cas.n + 1, sizeof(char *));
    if (px->maps == NULL || px->upstream_ca == NULL)
        return cli_usage_error("proxy", "out of memory"), 0;
    for (size_t i = 0; i < a->maps.n; i++)
        if (!proxy_map_parse(a->maps.v[i].value, &px->maps[px->nmaps++], why,
                             sizeof(why)))
            return cli_usage_error("proxy", why), 0;
    for (size_t i = 0; i < a->cas.n; i++)
        px->upstream_ca[px->n_upstream_ca++] = (char *)a->cas.v[i].value;
    return 1;
}

/* Enough descriptors for the cap: two per connection. */
static void raise_fd_limit(long conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)conns * 2 + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int run(struct proxy *px, struct proxy_app *app, char **cmd)
{
    struct proxy_args *a = app->a;
    char why[300], bound[128];
    const char *w = NULL;
    if (!setup_ca(px, app))
        return CLI_FAIL;
    ftls_leaf_cache_options co = {.mint = {.allow_ip = a->allow_ip}};
    if (ftls_leaf_cache_new(px->ca, &co, &px->cache, px->err) != FTLS_OK) {
        cli_report("cannot create the leaf cache", px->err);
        return CLI_FAIL;
    }
    if (!proxy_tls_init(px, why, sizeof(why))) {
        proxy_log("%s", why);
        return CLI_FAIL;
    }
    if (ftls_roots_watch_start(5000, px->err) != FTLS_OK)
        proxy_log("system roots are not watched: %s",
                  ftls_error_message(px->err));
    px->listen_fd = serve_listen(a->listen, bound, sizeof(bound), &w);
    if (px->listen_fd < 0) {
        proxy_log("cannot listen on %s: %s", a->listen, w);
        return CLI_FAIL;
    }
    proxy_log("listening on %s", bound);
    if (cmd != NULL && !start_child(px, app, bound, cmd))
        return CLI_FAIL;
    serve_notify("READY=1");
    int rc = proxy_loop_run(px) == 0 ? CLI_OK : CLI_FAIL;
    if (px->child_pid > 0)
        return px->child_done ? px->child_status : CLI_FAIL;
    return rc;
}

static void cleanup(struct proxy *px, struct proxy_app *app)
{
    ftls_roots_watch_stop(); /* a no-op when it was not started */
    if (app->tmpdir[0] != '\0') {
        if (app->ca_path[0])
            unlink(app->ca_path);
        if (app->bundle_path[0])
            unlink(app->bundle_path);
        rmdir(app->tmpdir);
    }
    proxy_tls_free(px);
    proxy_rules_clear(&px->rules);
    ftls_leaf_cache_free(px->cache);
    ftls_ca_free(px->ca);
    free(px->maps);
    free(px->upstream_ca);
    if (px->audit != NULL && px->audit != stdout && px->audit != stderr)
        fclose(px->audit);
    if (px->keylog != NULL)
        fclose(px->keylog);
    ftls_error_free(px->err);
}

/* --exec -- CMD ARGS: everything after --exec (and an optional --) is
 * the command; *argc is cut before --exec. */
static char **split_exec(int *argc, char **argv)
{
    for (int i = 1; i < *argc; i++)
        if (strcmp(argv[i], "--exec") == 0) {
            char **cmd =
                argv + i + 1 + (i + 1 < *argc && !strcmp(argv[i + 1], "--"));
            *argc = i;
            return cmd;
        }
    return NULL;
}

/* Blocked before any thread starts: only the loop's signalfd sees them. */
static void block_signals(void)
{
    sigset_t set;
    proxy_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cmd_proxy(int argc, char **argv)
{
    char **cmd = split_exec(&argc, argv);
    if (cmd != NULL && cmd[0] == NULL)
        return cli_usage_error("proxy", "--exec needs a command");
    struct proxy_args a = {.listen = "127.0.0.1:8080",
                           .max_conns = 1024,
                           .handshake_s = 10,
                           .idle_s = 300};
    const char *pos = NULL;
    int npos = 0, rc = CLI_USAGE;
    static struct proxy px; /* large (scratch buffer): not on the stack */
    struct proxy_app app = {.a = &a};
    memset(&px, 0, sizeof(px));
    px.listen_fd = px.sig_fd = px.ep = -1;
    if (cli_parse("proxy", g_opts, &a, 1, argc, argv, &pos, 0, &npos) !=
            CLI_OK ||
        ftls_error_new(&px.err) != FTLS_OK || !check_args(&a, &px))
        goto done;
    rc = CLI_FAIL;
    px.lim = (struct proxy_limits){a.max_conns, a.handshake_s * 1000,
                                   a.idle_s * 1000,
                                   (a.idle_s < 30 ? a.idle_s : 30) * 1000};
    px.allow_ip = a.allow_ip;
    px.allow_sni_mismatch = a.allow_sni_mismatch;
    px.no_resume = a.no_resume;
    px.reload = reload;
    px.app = &app;
    px.audit = a.audit ? open_private(a.audit, "--audit")
               : cmd   ? stderr
                       : stdout;
    if (px.audit == NULL ||
        (a.keylog && (px.keylog = open_private(a.keylog, "--keylog")) == NULL))
        goto done;
    const char *tmp = getenv("TMPDIR");
    snprintf(app.tmpdir, sizeof(app.tmpdir), "%s/freshtls-proxy-XXXXXX",
             tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if ((a.mint_ca == NULL || cmd != NULL) && mkdtemp(app.tmpdir) == NULL) {
        proxy_log("cannot create a private directory: %s", strerror(errno));
        app.tmpdir[0] = '\0';
        goto done;
    }
    if (a.mint_ca != NULL && cmd == NULL)
        app.tmpdir[0] = '\0';
    block_signals();
    raise_fd_limit(a.max_conns);
    rc = run(&px, &app, cmd);
done:
    cleanup(&px, &app);
    free(a.pats.v);
    free(a.cas.v);
    free(a.maps.v);
    return rc;
}
