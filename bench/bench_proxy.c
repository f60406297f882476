/* freshtls proxy against the same upstream (an in-process TLS server, one
 * thread per connection), in one run:
 *   BENCH proxy.connect_rate (conn/s): CONNECT, both handshakes and one
 *     small request through the proxy, leaf cached, one client at a time
 *   RATIO proxy.connect_time_vs_mitmproxy: the same through mitmdump
 *     (Debian's mitmproxy), ours/theirs by time; a note when not installed
 *   RATIO proxy.transfer_vs_direct: 64 MiB through the proxy / directly
 *     over TLS, median of alternating rounds
 *   BENCH proxy.rss_1000_conns (KiB): the proxy's RSS with 1000 idle
 *     intercepted connections open */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "testutil.h"

#define BIG (64u << 20)
#define CONNECTS 300
#define MITM_CONNECTS 60
#define IDLE_CONNS 1000

static SSL_CTX *g_up_ctx;
static const char SMALL[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                            "Connection: close\r\n\r\nok";

/* ---- the upstream ------------------------------------------------------- */

static int read_head(SSL *s)
{
    char buf[2048];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        int n = SSL_read(s, buf + len, (int)(sizeof(buf) - 1 - len));
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return strncmp(buf, "GET /big", 8) == 0;
    }
    return -1;
}

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *s = SSL_new(g_up_ctx);
    int big, one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s && SSL_set_fd(s, fd) && SSL_accept(s) == 1 &&
        (big = read_head(s)) >= 0) {
        if (big) {
            static char chunk[65536];
            char head[128];
            int hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
                              "Connection: close\r\n\r\n",
                              BIG);
            int ok = SSL_write(s, head, hl) == hl;
            for (unsigned off = 0; ok && off < BIG; off += sizeof(chunk))
                ok = SSL_write(s, chunk, sizeof(chunk)) == (int)sizeof(chunk);
        } else {
            SSL_write(s, SMALL, (int)strlen(SMALL));
        }
        SSL_shutdown(s);
    }
    SSL_free(s);
    close(fd);
    return NULL;
}

static void *upstream(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pthread_t t;
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            break;
        if (pthread_create(&t, &at, serve_one, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* An upstream for "localhost" by a new CA written to ca_path. */
static int start_upstream(const char *ca_path, int *port)
{
    EVP_PKEY *cak = tu_key(), *k = tu_key();
    struct tu_cert_opts co = {.cn = "bench upstream CA", .ca = 1};
    X509 *ca = cak ? tu_cert(&co, cak, NULL, NULL) : NULL;
    X509 *leaf = ca && k ? tu_leaf("localhost", "localhost", "127.0.0.1",
                                   "serverAuth", -3600, 86400, k, ca, cak)
                         : NULL;
    g_up_ctx = SSL_CTX_new(TLS_server_method());
    int ok = leaf && g_up_ctx && tu_write_certs(ca_path, "w", &ca, 1) &&
             SSL_CTX_use_certificate(g_up_ctx, leaf) == 1 &&
             SSL_CTX_use_PrivateKey(g_up_ctx, k) == 1;
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(k);
    EVP_PKEY_free(cak);
    int lfd = ok ? listen_any(port) : -1;
    pthread_t t;
    if (lfd < 0 ||
        pthread_create(&t, NULL, upstream, (void *)(intptr_t)lfd) != 0)
        return 0;
    pthread_detach(t);
    return 1;
}

/* ---- the client ------------------------------------------------------- */

static int tcp_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1; /* as any latency-minded client */
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* CONNECT localhost:up_port through the proxy; 1 on a 200. */
static int connect_via(int fd, int up_port)
{
    char req[128], resp[512];
    int n = snprintf(req, sizeof(req),
                     "CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d"
                     "\r\n\r\n",
                     up_port, up_port);
    if (write(fd, req, (size_t)n) != n)
        return 0;
    size_t len = 0; /* byte by byte: nothing past the head is consumed */
    while (len < sizeof(resp) - 1 && read(fd, resp + len, 1) == 1) {
        resp[++len] = '\0';
        if (len >= 4 && memcmp(resp + len - 4, "\r\n\r\n", 4) == 0)
            return strncmp(resp, "HTTP/1.1 200", 12) == 0 ||
                   strncmp(resp, "HTTP/1.0 200", 12) == 0;
    }
    return 0;
}

/* One connection: via the proxy when proxy_port > 0; TLS verified with
 * cctx for "localhost"; GET `path`; read to the end. Returns the bytes of
 * the response, -1 on failure. With `keep`, the handshake is done and the
 * SSL returned in *keep (no request sent). */
static long fetch(SSL_CTX *cctx, int proxy_port, int up_port, const char *path,
                  SSL **keep)
{
    int fd = tcp_to(proxy_port > 0 ? proxy_port : up_port);
    SSL *s = NULL;
    long total = -1;
    if (fd < 0 || (proxy_port > 0 && !connect_via(fd, up_port)))
        goto done;
    s = tu_client_ssl(cctx, "localhost");
    if (s == NULL || !SSL_set_fd(s, fd) || SSL_connect(s) != 1)
        goto done;
    if (keep != NULL) {
        *keep = s;
        return 0;
    }
    char req[128], buf[65536];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: "
                     "close\r\n\r\n",
                     path);
    if (SSL_write(s, req, n) != n)
        goto done;
    total = 0;
    while ((n = SSL_read(s, buf, sizeof(buf))) > 0)
        total += n;
done:
    ERR_clear_error();
    SSL_free(s);
    if (fd >= 0)
        close(fd);
    return total;
}

static SSL_CTX *client_ctx(const char *ca_file)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c && SSL_CTX_load_verify_locations(c, ca_file, NULL) == 1) {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        return c;
    }
    SSL_CTX_free(c);
    return NULL;
}

/* Mean microseconds per small fetch, n of them; -1 on any failure. */
static double connect_us(SSL_CTX *cctx, int proxy_port, int up_port, int n)
{
    for (int i = 0; i < 5; i++) /* warm: the leaf is minted and cached */
        if (fetch(cctx, proxy_port, up_port, "/", NULL) <= 0)
            return -1;
    double t0 = bench_now_ns();
    for (int i = 0; i < n; i++)
        if (fetch(cctx, proxy_port, up_port, "/", NULL) <= 0)
            return -1;
    return (bench_now_ns() - t0) / 1e3 / n;
}

/* ---- the proxies -------------------------------------------------------- */

/* freshtls proxy for localhost:up_port; its port and CA path from its
 * stderr lines. */
static pid_t start_ours(const char *up_ca, int up_port, int *port, char *ca,
                        size_t n)
{
    char resolve[64];
    snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", up_port);
    char *argv[] = {FTLS_BENCH_CLI,   "proxy",         "--listen",
                    "127.0.0.1:0",    "--upstream-ca", (char *)up_ca,
                    "--resolve",      resolve,         "--audit",
                    "/dev/null",      "--max-conns",   "3000",
                    "--idle-timeout", "600",           NULL};
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[512];
    *port = 0;
    ca[0] = '\0';
    while (f && (*port == 0 || ca[0] == '\0') && fgets(line, sizeof(line), f)) {
        char *s = strstr(line, "interception CA: ");
        char *l = strstr(line, "listening on 127.0.0.1:");
        if (s)
            snprintf(ca, n, "%.*s", (int)strcspn(s + 17, "\n"), s + 17);
        if (l)
            *port = atoi(l + 23);
    }
    if (f)
        fclose(f); /* later stderr lines are dropped (SIGPIPE ignored) */
    return *port > 0 && ca[0] ? pid : -1;
}

static int free_port(void)
{
    int port = 0, fd = listen_any(&port);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? port : -1;
}

static const char *find_mitmdump(void)
{
    static const char *where[] = {"/usr/bin/mitmdump",
                                  "/usr/local/bin/mitmdump"};
    for (size_t i = 0; i < sizeof(where) / sizeof(*where); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

/* mitmdump verifying upstreams against up_ca; waits until it accepts
 * connections and has written its CA (up to 60 s). */
static pid_t start_mitm(const char *exe, const char *dir, const char *up_ca,
                        int *port, char *ca, size_t n)
{
    char confdir[320], verify[340], portstr[16];
    *port = free_port();
    snprintf(portstr, sizeof(portstr), "%d", *port);
    snprintf(confdir, sizeof(confdir), "confdir=%s", dir);
    snprintf(verify, sizeof(verify), "ssl_verify_upstream_trusted_ca=%s",
             up_ca);
    snprintf(ca, n, "%s/mitmproxy-ca-cert.pem", dir);
    char *argv[] = {(char *)exe, "-q",    "--listen-host", "127.0.0.1", "-p",
                    portstr,     "--set", confdir,         "--set",     verify,
                    NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 600; i++) {
        int fd = access(ca, R_OK) == 0 ? tcp_to(*port) : -1;
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        usleep(100000);
    }
    if (pid > 0)
        kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    return -1;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* ---- the figures ------------------------------------------------------- */

static void bench_transfer(SSL_CTX *up_cctx, SSL_CTX *px_cctx, int pport,
                           int up_port)
{
    enum { ROUNDS = 5 };
    double direct[ROUNDS], via[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_now_ns();
        long a = fetch(up_cctx, 0, up_port, "/big", NULL);
        double t1 = bench_now_ns();
        long b = fetch(px_cctx, pport, up_port, "/big", NULL);
        double t2 = bench_now_ns();
        if (a < (long)BIG || b < (long)BIG) {
            printf("note: proxy.transfer_vs_direct not measured: a 64 MiB "
                   "transfer failed (%ld, %ld bytes)\n",
                   a, b);
            return;
        }
        direct[r] = t1 - t0;
        via[r] = t2 - t1;
    }
    double d = bench_median(direct, ROUNDS), v = bench_median(via, ROUNDS);
    bench_line("proxy.transfer.direct", d / 1e6, "ms");
    bench_line("proxy.transfer.proxy", v / 1e6, "ms");
    bench_ratio("proxy.transfer_vs_direct", v, d);
}

static void bench_rss(SSL_CTX *px_cctx, pid_t pid, int pport, int up_port)
{
    static SSL *held[IDLE_CONNS];
    long before = rss_kib(pid);
    int n = 0;
    for (; n < IDLE_CONNS; n++)
        if (fetch(px_cctx, pport, up_port, NULL, &held[n]) != 0)
            break;
    long after = rss_kib(pid);
    if (n == IDLE_CONNS) {
        bench_line("proxy.rss_idle", (double)before, "KiB");
        bench_line("proxy.rss_1000_conns", (double)after, "KiB");
    } else {
        printf("note: proxy.rss_1000_conns not measured: %d of %d "
               "connections opened\n",
               n, IDLE_CONNS);
    }
    for (int i = 0; i < n; i++) {
        int fd = SSL_get_fd(held[i]);
        SSL_free(held[i]);
        close(fd);
    }
}

static void bench_mitm(const char *dir, const char *up_ca, int up_port,
                       double ours_us)
{
    const char *exe = find_mitmdump();
    if (exe == NULL) {
        printf("note: proxy.connect_time_vs_mitmproxy not measured: "
               "mitmdump not installed (Debian package mitmproxy)\n");
        return;
    }
    char ca[400], mdir[300];
    int port = 0;
    snprintf(mdir, sizeof(mdir), "%s/mitm", dir);
    mkdir(mdir, 0700);
    pid_t pid = start_mitm(exe, mdir, up_ca, &port, ca, sizeof(ca));
    SSL_CTX *cctx = pid > 0 ? client_ctx(ca) : NULL;
    double theirs = cctx ? connect_us(cctx, port, up_port, MITM_CONNECTS) : -1;
    if (theirs > 0) {
        bench_line("proxy.connect_time.mitmproxy", theirs, "us");
        bench_ratio("proxy.connect_time_vs_mitmproxy", ours_us, theirs);
    } else {
        printf("note: proxy.connect_time_vs_mitmproxy not measured: "
               "mitmdump did not %s\n",
               pid > 0 ? "serve the connections" : "start");
    }
    SSL_CTX_free(cctx);
    stop(pid);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char *dir = tu_tmpdir(), up_ca[300], ca[400];
    int up_port = 0, pport = 0;
    snprintf(up_ca, sizeof(up_ca), "%s/upstream-ca.pem", dir ? dir : "/tmp");
    pid_t pid = -1;
    if (dir == NULL || !start_upstream(up_ca, &up_port) ||
        (pid = start_ours(up_ca, up_port, &pport, ca, sizeof(ca))) < 0) {
        fprintf(stderr, "bench_proxy: setup failed\n");
        stop(pid);
        return 1;
    }
    SSL_CTX *px_cctx = client_ctx(ca), *up_cctx = client_ctx(up_ca);
    double ours = px_cctx ? connect_us(px_cctx, pport, up_port, CONNECTS) : -1;
    int rc = ours > 0 ? 0 : 1;
    if (ours > 0) {
        bench_line("proxy.connect_rate", 1e6 / ours, "conn/s");
        bench_line("proxy.connect_time", ours, "us");
        double direct = connect_us(up_cctx, 0, up_port, CONNECTS);
        if (direct > 0) /* context: the same fetch without a proxy */
            bench_line("proxy.connect_time.direct", direct, "us");
        bench_mitm(dir, up_ca, up_port, ours);
        bench_transfer(up_cctx, px_cctx, pport, up_port);
        bench_rss(px_cctx, pid, pport, up_port);
    } else {
        fprintf(stderr, "bench_proxy: connections through the proxy failed\n");
    }
    SSL_CTX_free(px_cctx);
    SSL_CTX_free(up_cctx);
    stop(pid);
    tu_rmrf(dir);
    free(dir);
    return rc;
}
