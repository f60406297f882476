/* freshtls demo: everything working in one command. An ephemeral CA and a
 * Kubernetes-style secret; a TLS server on loopback fed by a context
 * factory; client threads doing continuous handshakes; AtomicWriter
 * rotations underneath; a summary table. Exit 0 only with no failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "report.h"
#include "demo_pki.h"
#include "k8s_publish.h"

#include <openssl/pem.h>

const struct cli_command cli_cmd_demo = {
    "demo",
    "rotate a certificate under continuous handshakes and report",
    "usage: freshtls demo [--rotations N] [--interval MS] [--clients N] "
    "[--json]\n\n"
    "Self-contained: creates an ephemeral CA and a Kubernetes-style secret\n"
    "directory in a temporary folder, starts a TLS server on 127.0.0.1 whose\n"
    "contexts come from a freshtls factory watching that directory, starts\n"
    "client threads doing continuous verified handshakes, and rotates the\n"
    "identity N times (default 30) the way Kubernetes' AtomicWriter does,\n"
    "every MS milliseconds (default 100). Then prints handshakes, failures,\n"
    "rotations, reload latency p50/p99, generations freed and peak RSS.\n"
    "Exit status 0 only if no handshake failed and every rotation was\n"
    "picked up. --json prints the figures as one JSON object on stdout (the\n"
    "running commentary goes to stderr).\n",
    cmd_demo,
};

#define DEMO_HOST "demo.freshtls.test"

struct demo {
    ftls_ctx_factory *server, *client;
    int lfd, port;
    atomic_int stop;     /* clients: no new connections */
    atomic_int srv_stop; /* servers: the listener is shut, clients are done */
    atomic_long handshakes, failures;
    char first_failure[256];
    char last_serial[80]; /* served to the most recent client, under lock */
    pthread_mutex_t lock;
};

static void note_failure(struct demo *d, const char *what)
{
    atomic_fetch_add(&d->failures, 1);
    pthread_mutex_lock(&d->lock);
    if (d->first_failure[0] == '\0')
        snprintf(d->first_failure, sizeof(d->first_failure), "%s", what);
    pthread_mutex_unlock(&d->lock);
}

/* Serves until the listener is shut, which happens only after every
 * client thread is done: a connection a client made just before the stop
 * is still answered (it used to wait for a server that had left). */
static void *server_worker(void *arg)
{
    struct demo *d = arg;
    for (;;) {
        int fd = accept(d->lfd, NULL, NULL);
        if (fd < 0 && atomic_load(&d->srv_stop))
            break;
        if (fd < 0)
            continue;
        /* Bounded: a peer that goes quiet (a client stopped mid-request
         * at shutdown) cannot keep this thread, and the demo, waiting. */
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(d->server);
        SSL *ssl = SSL_new(ctx);
        SSL_CTX_free(ctx);
        char buf[256];
        if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 &&
            SSL_read(ssl, buf, sizeof(buf)) > 0) {
            char serial[80];
            demo_serial_hex(SSL_get_certificate(ssl), serial);
            int n = snprintf(buf, sizeof(buf), "serial=%s\n", serial);
            if (SSL_write(ssl, buf, n) == n)
                SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

/* One verified handshake and request; fills the served serial. Returns 1
 * on success, 0 with `why` set on failure. */
static int client_once(struct demo *d, char serial[80], char *why, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {5, 0}; /* bounded, whatever the server does */
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(d->client);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx);
    int ok = 0;
    char buf[256];
    snprintf(why, n, "connect");
    if (fd >= 0 && ssl && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        SSL_set_fd(ssl, fd) == 1 && SSL_set_tlsext_host_name(ssl, DEMO_HOST) &&
        X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), DEMO_HOST, 0)) {
        snprintf(why, n, "handshake: %s",
                 SSL_connect(ssl) == 1 ? "ok"
                                       : X509_verify_cert_error_string(
                                             SSL_get_verify_result(ssl)));
        int got = 0;
        if (strcmp(why, "handshake: ok") == 0 &&
            SSL_write(ssl, "GET\n", 4) == 4 &&
            (got = SSL_read(ssl, buf, sizeof(buf) - 1)) > 0) {
            buf[got] = '\0';
            ok = sscanf(buf, "serial=%79[0-9A-F]", serial) == 1;
            if (!ok)
                snprintf(why, n, "bad response");
            SSL_shutdown(ssl);
        }
    }
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    return ok;
}

static void *client_worker(void *arg)
{
    struct demo *d = arg;
    while (!atomic_load(&d->stop)) {
        char why[200], serial[80];
        int ok = client_once(d, serial, why, sizeof(why));
        atomic_fetch_add(&d->handshakes, 1);
        if (!ok) {
            note_failure(d, why);
        } else {
            pthread_mutex_lock(&d->lock);
            memcpy(d->last_serial, serial, sizeof(serial));
            pthread_mutex_unlock(&d->lock);
        }
    }
    return NULL;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* tls.crt (0644) and tls.key (0600) as one AtomicWriter generation. */
static int publish_pair(const char *dir, const char *crt, size_t nc,
                        const char *key, size_t nk, long long *swap_ns)
{
    const struct k8s_file files[2] = {{"tls.crt", crt, nc, 0644},
                                      {"tls.key", key, nk, 0600}};
    return k8s_publish(dir, files, 2, swap_ns);
}

static int setup_pki(const char *root, ftls_ca **ca, char *secret, size_t n,
                     char *ca_file, size_t m, char newest[80])
{
    char *crt, *key, ca_key[PATH_MAX];
    size_t nc, nk;
    long long t;
    snprintf(secret, n, "%s/secret", root);
    snprintf(ca_file, m, "%s/ca.crt", root);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", root);
    ftls_ca_options co = {.common_name = "freshtls demo CA",
                          .validity = 60 * 86400};
    if (ftls_ca_generate(&co, ca, NULL) != FTLS_OK ||
        ftls_ca_export(*ca, ca_file, ca_key, NULL) != FTLS_OK ||
        mkdir(secret, 0755) != 0 ||
        !demo_leaf_pem(*ca, DEMO_HOST, &crt, &nc, &key, &nk, newest))
        return 0;
    int ok = publish_pair(secret, crt, nc, key, nk, &t);
    OPENSSL_cleanse(key, nk);
    free(key);
    free(crt);
    return ok;
}

static int start_listener(struct demo *d)
{
    d->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (d->lfd < 0 || bind(d->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(d->lfd, 128) != 0 ||
        getsockname(d->lfd, (struct sockaddr *)&a, &al) != 0)
        return 0;
    d->port = ntohs(a.sin_port);
    return 1;
}

struct opts {
    long rotations, interval_ms, clients;
    int json;
};

static const struct cli_opt g_demo_opts[] = {
    CLI_LONG("--rotations", struct opts, rotations, 0, 100000),
    CLI_LONG("--interval", struct opts, interval_ms, 0, 100000),
    CLI_LONG("--clients", struct opts, clients, 1, 16),
    CLI_FLAG("--json", NULL, struct opts, json),
    CLI_END,
};

static int parse(int argc, char **argv, struct opts *o)
{
    o->rotations = 30, o->interval_ms = 100, o->clients = 2;
    const char *pos = NULL;
    int npos = 0;
    return cli_parse("demo", g_demo_opts, o, 1, argc, argv, &pos, 0, &npos);
}

/* Everything one demo run owns. */
struct run {
    struct opts o;
    struct demo d;
    char tmpl[32], secret[PATH_MAX], ca_file[PATH_MAX], newest[80];
    char *root;
    ftls_ca *ca;
    ftls_error *err;
    ftls_source *id, *trust;
    ftls_watcher *w;
    pthread_t srv_th[2], cli_th[16];
    int nsrv, ncli, picked_up;
    long long *lat; /* reload latency of each rotation picked up, ns */
};

/* The PKI, the sources, both factories and the watcher. */
static int setup(struct run *r)
{
    snprintf(r->tmpl, sizeof(r->tmpl), "/tmp/freshtls-demo-XXXXXX");
    r->root = mkdtemp(r->tmpl);
    r->lat = calloc((size_t)r->o.rotations + 1, sizeof(*r->lat));
    if (r->root == NULL || r->lat == NULL ||
        ftls_error_new(&r->err) != FTLS_OK ||
        !setup_pki(r->root, &r->ca, r->secret, sizeof(r->secret), r->ca_file,
                   sizeof(r->ca_file), r->newest)) {
        fprintf(stderr, "freshtls demo: cannot set up the temporary PKI\n");
        return 0;
    }
    printf("freshtls demo: CA and Kubernetes-style secret in %s\n", r->root);
    ftls_ctx_template st = {.is_server = 1}, ct = {.is_server = 0};
    ftls_error *err = r->err;
    struct demo *d = &r->d;
    if (ftls_source_new_identity_dir(r->secret, NULL, &r->id, err) != FTLS_OK ||
        ftls_source_reload(r->id, err) != FTLS_OK ||
        ftls_source_new_trust(r->ca_file, NULL, &r->trust, err) != FTLS_OK ||
        ftls_source_reload(r->trust, err) != FTLS_OK ||
        ftls_ctx_factory_new(&st, &d->server, err) != FTLS_OK ||
        ftls_ctx_factory_set_identity(d->server, r->id, err) != FTLS_OK ||
        ftls_ctx_factory_build(d->server, err) != FTLS_OK ||
        ftls_ctx_factory_new(&ct, &d->client, err) != FTLS_OK ||
        ftls_ctx_factory_set_roots(d->client, r->trust, err) != FTLS_OK ||
        ftls_ctx_factory_build(d->client, err) != FTLS_OK ||
        ftls_watcher_new(NULL, &r->w, err) != FTLS_OK ||
        ftls_watcher_add(r->w, r->id, err) != FTLS_OK ||
        ftls_watcher_start(r->w, err) != FTLS_OK) {
        cli_report("demo setup failed", err);
        return 0;
    }
    if (!start_listener(d)) {
        fprintf(stderr, "freshtls demo: cannot listen on 127.0.0.1: %s\n",
                strerror(errno));
        return 0;
    }
    return 1;
}

static int start_threads(struct run *r)
{
    for (; r->nsrv < 2; r->nsrv++)
        if (pthread_create(&r->srv_th[r->nsrv], NULL, server_worker, &r->d) !=
            0)
            return 0;
    printf("server on 127.0.0.1:%d, %ld client thread(s) handshaking, "
           "%ld rotation(s) every %ld ms\n",
           r->d.port, r->o.clients, r->o.rotations, r->o.interval_ms);
    for (; r->ncli < r->o.clients; r->ncli++)
        if (pthread_create(&r->cli_th[r->ncli], NULL, client_worker, &r->d) !=
            0)
            return 0;
    return 1;
}

/* A rotation: a new leaf published the AtomicWriter way; wait up to 5 s
 * for the source to pick it up and record how long that took. */
static void rotate(struct run *r)
{
    char *crt = NULL, *key = NULL;
    size_t nc = 0, nk = 0;
    long long swap = 0;
    uint64_t g0 = ftls_source_generation(r->id);
    if (!demo_leaf_pem(r->ca, DEMO_HOST, &crt, &nc, &key, &nk, r->newest) ||
        !publish_pair(r->secret, crt, nc, key, nk, &swap))
        note_failure(&r->d, "rotation: cannot write the secret");
    if (key != NULL)
        OPENSSL_cleanse(key, nk);
    free(key);
    free(crt);
    while (ftls_source_generation(r->id) == g0 &&
           now_ns() - swap < 5000000000LL)
        usleep(100);
    if (ftls_source_generation(r->id) != g0)
        r->lat[r->picked_up++] = now_ns() - swap;
}

static void rotations(struct run *r)
{
    int tty = isatty(STDOUT_FILENO);
    for (int n = 1; n <= r->o.rotations; n++) {
        usleep((useconds_t)r->o.interval_ms * 1000u);
        rotate(r);
        long hs = atomic_load(&r->d.handshakes),
             fl = atomic_load(&r->d.failures);
        if (tty)
            printf("\r  rotation %3d/%ld  handshakes %7ld  failures %ld   ", n,
                   r->o.rotations, hs, fl);
        else if (n % 10 == 0 || n == r->o.rotations)
            printf("  rotation %d/%ld: %ld handshakes, %ld failures\n", n,
                   r->o.rotations, hs, fl);
        fflush(stdout);
    }
    if (tty)
        printf("\n");
    usleep(50 * 1000); /* a few more handshakes on the newest generation */
}

static void stop_threads(struct run *r)
{
    atomic_store(&r->d.stop, 1);
    for (int i = 0; i < r->ncli; i++)
        pthread_join(r->cli_th[i], NULL);
    atomic_store(&r->d.srv_stop, 1);
    shutdown(r->d.lfd, SHUT_RDWR); /* wakes the accepting server threads */
    for (int i = 0; i < r->nsrv; i++)
        pthread_join(r->srv_th[i], NULL);
    ftls_watcher_stop(r->w);
}

/* Print the table (or, with --json, one object on the real stdout);
 * CLI_OK only if nothing failed and the newest certificate was served. */
static int report(struct run *r, FILE *out)
{
    ftls_ctx_stats ss;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int n = r->picked_up;
    qsort(r->lat, (size_t)n, sizeof(*r->lat), cmp_ll);
    if (ftls_ctx_factory_get_stats(r->d.server, &ss) != FTLS_OK)
        memset(&ss, 0, sizeof(ss));
    int fresh = strcmp(r->d.last_serial, r->newest) == 0;
    long failures = atomic_load(&r->d.failures);
    int pass = failures == 0 && n == r->o.rotations && fresh;
    struct report t;
    if (!r->o.json)
        fputc('\n', out);
    report_begin(&t, out, r->o.json, "  ", 28);
    report_num(&t, "handshakes", "handshakes",
               (double)atomic_load(&r->d.handshakes), 0, NULL);
    report_num(&t, "failed_handshakes", "failed handshakes", (double)failures,
               0, NULL);
    report_num(&t, "rotations", "rotations", (double)r->o.rotations, 0, NULL);
    report_num(&t, "rotations_picked_up", "rotations picked up", n, 0, NULL);
    report_num(&t, "reload_latency_p50_ms", "reload latency p50",
               n ? (double)r->lat[n / 2] / 1e6 : 0.0, 2, " ms");
    report_num(&t, "reload_latency_p99_ms", "reload latency p99",
               n ? (double)r->lat[(n * 99) / 100] / 1e6 : 0.0, 2, " ms");
    report_num(&t, "generations_built", "generations built", (double)ss.built,
               0, NULL);
    report_num(&t, "generations_live", "generations live", (double)ss.live, 0,
               NULL);
    report_str(&t, "newest_serial", "newest serial", r->newest);
    report_fmt(&t, "last_serial_served", "last serial served", "%s%s",
               r->d.last_serial,
               r->o.json ? "" : (fresh ? " (the newest)" : " (STALE)"));
    report_num(&t, "peak_rss_mib", "peak RSS", (double)ru.ru_maxrss / 1024.0, 1,
               " MiB");
    if (r->d.first_failure[0])
        report_str(&t, "first_failure", "first failure", r->d.first_failure);
    if (r->o.json)
        report_str(&t, "result", NULL, pass ? "pass" : "fail");
    report_end(&t);
    if (!r->o.json)
        fprintf(out, "\nresult: %s\n",
                pass ? "PASS (no handshake failed; every rotation was served)"
                     : "FAIL");
    return pass ? CLI_OK : CLI_FAIL;
}

static void cleanup(struct run *r)
{
    if (r->d.lfd >= 0)
        close(r->d.lfd);
    ftls_watcher_free(r->w);
    ftls_ctx_factory_free(r->d.server);
    ftls_ctx_factory_free(r->d.client);
    ftls_source_free(r->id);
    ftls_source_free(r->trust);
    ftls_ca_free(r->ca);
    ftls_error_free(r->err);
    free(r->lat);
    if (r->root != NULL)
        k8s_rmrf(r->root);
    pthread_mutex_destroy(&r->d.lock);
}

int cmd_demo(int argc, char **argv)
{
    static struct run r; /* large; one run per process */
    memset(&r, 0, sizeof(r));
    int rc = parse(argc, argv, &r.o);
    if (rc != CLI_OK)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&r.d.lock, NULL);
    r.d.lfd = -1;
    rc = CLI_FAIL;
    /* --json: the running commentary goes to stderr; stdout gets the one
     * JSON object. */
    FILE *out = stdout;
    int saved = r.o.json ? dup(STDOUT_FILENO) : -1;
    if (saved >= 0) {
        fflush(stdout);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        out = fdopen(saved, "w");
    }
    if (setup(&r) && out != NULL) {
        int started = start_threads(&r);
        if (started)
            rotations(&r);
        stop_threads(&r);
        fflush(stdout);
        if (started)
            rc = report(&r, out);
    }
    if (out != NULL && out != stdout)
        fclose(out);
    cleanup(&r);
    return rc;
}
