/* freshtls demo: everything working in one command. An ephemeral CA and a
 * Kubernetes-style secret; a TLS server on loopback fed by a context
 * factory; client threads doing continuous handshakes; AtomicWriter
 * rotations underneath; a summary table. Exit 0 only with no failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo_pki.h"

#include <openssl/pem.h>

const struct cli_command cli_cmd_demo = {
    "demo",
    "rotate a certificate under continuous handshakes and report",
    "usage: freshtls demo [--rotations N] [--interval MS] [--clients N]\n\n"
    "Self-contained: creates an ephemeral CA and a Kubernetes-style secret\n"
    "directory in a temporary folder, starts a TLS server on 127.0.0.1 whose\n"
    "contexts come from a freshtls factory watching that directory, starts\n"
    "client threads doing continuous verified handshakes, and rotates the\n"
    "identity N times (default 30) the way Kubernetes' AtomicWriter does,\n"
    "every MS milliseconds (default 100). Then prints handshakes, failures,\n"
    "rotations, reload latency p50/p99, generations freed and peak RSS.\n"
    "Exit status 0 only if no handshake failed and every rotation was\n"
    "picked up.\n",
    cmd_demo,
};

#define DEMO_HOST "demo.freshtls.test"

struct demo {
    ftls_ctx_factory *server, *client;
    int lfd, port;
    atomic_int stop;
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

static void *server_worker(void *arg)
{
    struct demo *d = arg;
    while (!atomic_load(&d->stop)) {
        int fd = accept(d->lfd, NULL, NULL);
        if (fd < 0)
            continue;
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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SSL_CTX *ctx = ftls_ctx_factory_get1_ctx(d->client);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx);
    int ok = 0;
    char buf[256];
    snprintf(why, n, "connect");
    if (fd >= 0 && ssl && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        SSL_set_fd(ssl, fd) == 1 && SSL_set_tlsext_host_name(ssl, DEMO_HOST) &&
        SSL_set1_host(ssl, DEMO_HOST)) {
        snprintf(why, n, "handshake: %s",
                 SSL_connect(ssl) == 1 ? "ok"
                                       : X509_verify_cert_error_string(
                                             SSL_get_verify_result(ssl)));
        int got = 0;
        if (strcmp(why, "handshake: ok") == 0 && SSL_write(ssl, "GET\n", 4) == 4 &&
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

static int setup_pki(const char *root, ftls_ca **ca, char *secret, size_t n,
                     char *ca_file, size_t m, char newest[80])
{
    char *crt, *key, ca_key[4200];
    size_t nc, nk;
    long long t;
    snprintf(secret, n, "%s/secret", root);
    snprintf(ca_file, m, "%s/ca.crt", root);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", root);
    ftls_ca_options co = {.common_name = "freshtls demo CA", .validity = 60 * 86400};
    if (ftls_ca_generate(&co, ca, NULL) != FTLS_OK ||
        ftls_ca_export(*ca, ca_file, ca_key, NULL) != FTLS_OK ||
        mkdir(secret, 0755) != 0 ||
        !demo_leaf_pem(*ca, DEMO_HOST, &crt, &nc, &key, &nk, newest))
        return 0;
    int ok = demo_k8s_publish(secret, 0, crt, nc, key, nk, &t);
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
    int rotations, interval_ms, clients;
};

static int parse(int argc, char **argv, struct opts *o)
{
    o->rotations = 30, o->interval_ms = 100, o->clients = 2;
    for (int i = 1; i < argc; i++) {
        int *slot = !strcmp(argv[i], "--rotations")  ? &o->rotations
                    : !strcmp(argv[i], "--interval") ? &o->interval_ms
                    : !strcmp(argv[i], "--clients")  ? &o->clients
                                                     : NULL;
        char *end = NULL;
        long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
        if (slot == NULL || end == NULL || *end != '\0' || v < 0 || v > 100000)
            return cli_usage_error("demo", "bad or incomplete option");
        *slot = (int)v;
        i++;
    }
    if (o->clients < 1 || o->clients > 16)
        return cli_usage_error("demo", "--clients must be 1..16");
    return CLI_OK;
}

int cmd_demo(int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/freshtls-demo-XXXXXX", secret[4200], ca_file[4200];
    char *root = mkdtemp(tmpl);
    ftls_ca *ca = NULL;
    char newest[80] = "";
    struct demo d;
    memset(&d, 0, sizeof(d));
    pthread_mutex_init(&d.lock, NULL);
    d.lfd = -1;
    ftls_error *err = NULL;
    ftls_source *id = NULL, *trust = NULL;
    ftls_watcher *w = NULL;
    pthread_t srv_th[2], cli_th[16];
    int nsrv = 0, ncli = 0, picked_up = 0;
    long long *lat = calloc((size_t)o.rotations + 1, sizeof(*lat));
    rc = CLI_FAIL;
    if (root == NULL || lat == NULL || ftls_error_new(&err) != FTLS_OK ||
        !setup_pki(root, &ca, secret, sizeof(secret), ca_file, sizeof(ca_file),
                   newest)) {
        fprintf(stderr, "freshtls demo: cannot set up the temporary PKI\n");
        goto done;
    }
    printf("freshtls demo: CA and Kubernetes-style secret in %s\n", root);
    ftls_ctx_template st = {.is_server = 1}, ct = {.is_server = 0};
    if (ftls_source_new_identity_dir(secret, NULL, &id, err) != FTLS_OK ||
        ftls_source_reload(id, err) != FTLS_OK ||
        ftls_source_new_trust(ca_file, NULL, &trust, err) != FTLS_OK ||
        ftls_source_reload(trust, err) != FTLS_OK ||
        ftls_ctx_factory_new(&st, &d.server, err) != FTLS_OK ||
        ftls_ctx_factory_set_identity(d.server, id, err) != FTLS_OK ||
        ftls_ctx_factory_build(d.server, err) != FTLS_OK ||
        ftls_ctx_factory_new(&ct, &d.client, err) != FTLS_OK ||
        ftls_ctx_factory_set_roots(d.client, trust, err) != FTLS_OK ||
        ftls_ctx_factory_build(d.client, err) != FTLS_OK ||
        ftls_watcher_new(NULL, &w, err) != FTLS_OK ||
        ftls_watcher_add(w, id, err) != FTLS_OK ||
        ftls_watcher_start(w, err) != FTLS_OK) {
        cli_report("demo setup failed", err);
        goto done;
    }
    if (!start_listener(&d)) {
        fprintf(stderr, "freshtls demo: cannot listen on 127.0.0.1: %s\n",
                strerror(errno));
        goto done;
    }
    for (; nsrv < 2; nsrv++)
        if (pthread_create(&srv_th[nsrv], NULL, server_worker, &d) != 0)
            goto stop;
    printf("server on 127.0.0.1:%d, %d client thread(s) handshaking, "
           "%d rotation(s) every %d ms\n", d.port, o.clients, o.rotations,
           o.interval_ms);
    for (; ncli < o.clients; ncli++)
        if (pthread_create(&cli_th[ncli], NULL, client_worker, &d) != 0)
            goto stop;
    int tty = isatty(STDOUT_FILENO);
    for (int r = 1; r <= o.rotations; r++) {
        usleep((useconds_t)o.interval_ms * 1000u);
        char *crt, *key;
        size_t nc, nk;
        long long swap = 0;
        uint64_t g0 = ftls_source_generation(id);
        if (!demo_leaf_pem(ca, DEMO_HOST, &crt, &nc, &key, &nk, newest) ||
            !demo_k8s_publish(secret, r, crt, nc, key, nk, &swap))
            note_failure(&d, "rotation: cannot write the secret");
        if (key != NULL)
            OPENSSL_cleanse(key, nk);
        free(key);
        free(crt);
        while (ftls_source_generation(id) == g0 && now_ns() - swap < 5000000000LL)
            usleep(100);
        if (ftls_source_generation(id) != g0)
            lat[picked_up++] = now_ns() - swap;
        if (tty)
            printf("\r  rotation %3d/%d  handshakes %7ld  failures %ld   ", r,
                   o.rotations, atomic_load(&d.handshakes), atomic_load(&d.failures));
        else if (r % 10 == 0 || r == o.rotations)
            printf("  rotation %d/%d: %ld handshakes, %ld failures\n", r,
                   o.rotations, atomic_load(&d.handshakes), atomic_load(&d.failures));
        fflush(stdout);
    }
    if (tty)
        printf("\n");
    usleep(50 * 1000); /* a few more handshakes on the newest generation */
    rc = CLI_OK;
stop:
    atomic_store(&d.stop, 1);
    for (int i = 0; i < ncli; i++)
        pthread_join(cli_th[i], NULL);
    shutdown(d.lfd, SHUT_RDWR); /* wakes the accepting server threads */
    for (int i = 0; i < nsrv; i++)
        pthread_join(srv_th[i], NULL);
    ftls_watcher_stop(w);
    if (rc == CLI_OK) {
        ftls_ctx_stats ss;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        qsort(lat, (size_t)picked_up, sizeof(*lat), cmp_ll);
        if (ftls_ctx_factory_get_stats(d.server, &ss) != FTLS_OK)
            memset(&ss, 0, sizeof(ss));
        int fresh = strcmp(d.last_serial, newest) == 0;
        printf("\n  %-28s %ld\n", "handshakes", atomic_load(&d.handshakes));
        printf("  %-28s %ld\n", "failed handshakes", atomic_load(&d.failures));
        printf("  %-28s %d (picked up: %d)\n", "rotations", o.rotations, picked_up);
        printf("  %-28s %.2f ms\n", "reload latency p50",
               picked_up ? lat[picked_up / 2] / 1e6 : 0.0);
        printf("  %-28s %.2f ms\n", "reload latency p99",
               picked_up ? lat[(picked_up * 99) / 100] / 1e6 : 0.0);
        printf("  %-28s %llu of %llu (live: %llu)\n", "generations freed",
               (unsigned long long)(ss.built - ss.live),
               (unsigned long long)ss.built, (unsigned long long)ss.live);
        printf("  %-28s %s\n", "newest serial", newest);
        printf("  %-28s %s (%s)\n", "last serial served", d.last_serial,
               fresh ? "the newest" : "STALE");
        printf("  %-28s %.1f MiB\n", "peak RSS", ru.ru_maxrss / 1024.0);
        if (d.first_failure[0])
            printf("  %-28s %s\n", "first failure", d.first_failure);
        int pass = atomic_load(&d.failures) == 0 && picked_up == o.rotations &&
                   fresh;
        printf("\nresult: %s\n", pass ? "PASS (no handshake failed; every "
               "rotation was served)" : "FAIL");
        rc = pass ? CLI_OK : CLI_FAIL;
    }
done:
    if (d.lfd >= 0)
        close(d.lfd);
    ftls_watcher_free(w);
    ftls_ctx_factory_free(d.server);
    ftls_ctx_factory_free(d.client);
    ftls_source_free(id);
    ftls_source_free(trust);
    ftls_ca_free(ca);
    ftls_error_free(err);
    free(lat);
    if (root != NULL)
        demo_rmrf(root);
    pthread_mutex_destroy(&d.lock);
    return rc;
}
