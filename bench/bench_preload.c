/* The preload shim's cost on an unmodified server: full TLS handshakes
 * (plus one byte) against the same small server (preload_server.c) run
 * twice in the same run, plainly and under `freshtls exec`, one
 * handshake of each in turn (which one goes first alternates too), so
 * that machine noise and drift hit both alike. The ratio is the median of
 * the per-round ratios of medians.
 *   BENCH preload.handshake.plain, BENCH preload.handshake.shim (us)
 *   RATIO preload.handshake_vs_plain (shim / plain, by time; goal <= 1.05) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "bench.h"
#include "testutil.h"

#define ROUNDS 9
#define PER_ROUND 120

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Start argv with stdout on a pipe; wait for its "ready" line. */
static pid_t start(char *const argv[])
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    char buf[16] = "";
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    return n > 0 && strncmp(buf, "ready", 5) == 0 ? pid : -1;
}

/* One full handshake and one byte; its duration in ns, or -1. */
static double one(SSL_CTX *cctx, int port)
{
    double t0 = bench_now_ns();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SSL *ssl = SSL_new(cctx);
    char b;
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             ssl && SSL_set_fd(ssl, fd) == 1 &&
             SSL_set_tlsext_host_name(ssl, "localhost") == 1 &&
             SSL_connect(ssl) == 1 && SSL_read(ssl, &b, 1) == 1;
    SSL_free(ssl);
    close(fd);
    return ok ? bench_now_ns() - t0 : -1;
}

/* One round: PER_ROUND handshakes with each server, interleaved; the
 * medians into *plain and *shim. 0 when a handshake failed. */
static int round_pair(SSL_CTX *cctx, int pp, int ps, double *plain,
                      double *shim)
{
    double vp[PER_ROUND], vs[PER_ROUND];
    for (int i = 0; i < PER_ROUND; i++) {
        int first_plain = i % 2 == 0;
        double a = one(cctx, first_plain ? pp : ps);
        double b = one(cctx, first_plain ? ps : pp);
        vp[i] = first_plain ? a : b;
        vs[i] = first_plain ? b : a;
        if (a < 0 || b < 0)
            return 0;
    }
    *plain = bench_median(vp, PER_ROUND);
    *shim = bench_median(vs, PER_ROUND);
    return 1;
}

/* CA and leaf files in dir; 1 on success. */
static int write_pki(const char *dir, char *crt, char *key, char *ca)
{
    EVP_PKEY *kca = tu_key(), *kl = tu_key();
    struct tu_cert_opts co = {.cn = "Bench CA", .ca = 1, .lifetime = 86400};
    X509 *cax = tu_cert(&co, kca, NULL, NULL);
    X509 *leaf = tu_leaf("localhost", "localhost", NULL, "serverAuth", -60,
                         86400, kl, cax, kca);
    X509 *chain[2] = {leaf, cax};
    snprintf(crt, 4200, "%s/tls.crt", dir);
    snprintf(key, 4200, "%s/tls.key", dir);
    snprintf(ca, 4200, "%s/ca.crt", dir);
    int ok = leaf && tu_write_certs(crt, "w", chain, 2) &&
             tu_write_key(key, kl) && tu_write_certs(ca, "w", &cax, 1);
    X509_free(leaf), X509_free(cax), EVP_PKEY_free(kl), EVP_PKEY_free(kca);
    return ok;
}

int main(void)
{
    char *dir = tu_tmpdir(), crt[4200], key[4200], ca[4200];
    if (dir == NULL || !write_pki(dir, crt, key, ca))
        return 1;
    char p1[16], p2[16];
    snprintf(p1, sizeof(p1), "%d", free_port());
    snprintf(p2, sizeof(p2), "%d", free_port());
    char *plain[] = {FTLS_BENCH_SERVER, p1, crt, key, NULL};
    char *shim[] = {FTLS_BENCH_CLI,
                    "exec",
                    "--log",
                    "/dev/null",
                    "--shim",
                    FTLS_BENCH_SHIM,
                    "--",
                    FTLS_BENCH_SERVER,
                    p2,
                    crt,
                    key,
                    NULL};
    pid_t a = start(plain), b = start(shim);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
    if (a < 0 || b < 0 || SSL_CTX_load_verify_file(cctx, ca) != 1) {
        fprintf(stderr, "bench_preload: servers did not start\n");
        return 1;
    }
    double mp[ROUNDS], ms[ROUNDS], ratio[ROUNDS];
    int ok = 1;
    for (int r = 0; r < ROUNDS && ok; r++) {
        ok = round_pair(cctx, atoi(p1), atoi(p2), &mp[r], &ms[r]);
        ratio[r] = ok ? ms[r] / mp[r] : 0;
    }
    kill(a, SIGTERM), kill(b, SIGTERM);
    waitpid(a, NULL, 0), waitpid(b, NULL, 0);
    if (!ok) {
        fprintf(stderr, "bench_preload: a handshake failed\n");
        return 1;
    }
    double plain_ns = bench_median(mp, ROUNDS),
           shim_ns = bench_median(ms, ROUNDS);
    bench_line("preload.handshake.plain", plain_ns / 1e3, "us");
    bench_line("preload.handshake.shim", shim_ns / 1e3, "us");
    printf("RATIO preload.handshake_vs_plain %.3f\n",
           bench_median(ratio, ROUNDS));
    SSL_CTX_free(cctx);
    tu_rmrf(dir);
    free(dir);
    return 0;
}
