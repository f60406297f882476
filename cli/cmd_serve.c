/* freshtls serve: a small HTTPS server that hot-reloads its identity and
 * client CAs, and tells each client which certificate it served. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_serve = {
    "serve",
    "HTTPS server that hot-reloads identity and client CAs",
    "usage: freshtls serve --dir DIR [--client-ca PATH] [--listen ADDR:PORT]\n"
    "       freshtls serve --mint-ca CADIR [--listen ADDR:PORT]\n"
    "                      [--ca-pass-file FILE | --ca-pass-env VAR] "
    "[--insecure-ca-perms]\n\n"
    "Serves HTTP/1.1 GET over TLS with the certificate in DIR (tls.crt,\n"
    "tls.key; a Kubernetes secret mount works). Each response names the\n"
    "certificate that was served (subject, serial, generation). With\n"
    "--client-ca (a CA file or directory) clients must present a certificate\n"
    "issued by it. Both are watched and reloaded on change; each reload is\n"
    "logged. --listen defaults to 127.0.0.1:8443; use port 0 for any free\n"
    "port and [::1]:PORT for IPv6. Prints 'listening on ADDR:PORT' when\n"
    "ready. SIGINT or SIGTERM shut it down cleanly.\n\n"
    "With --mint-ca, a leaf is minted per SNI host name with the CA in\n"
    "CADIR (ca.crt, ca.key), as an intercepting proxy does; a handshake\n"
    "without SNI or with a refused name fails and is "
    "logged.\n" CLI_CA_FILE_HELP,
    cmd_serve,
};

struct server {
    ftls_ctx_factory *factory; /* --dir */
    SSL_CTX *mint_ctx;         /* --mint-ca: leaves minted per SNI */
    atomic_int active;
};

static void audit_log(const char *name, ftls_code why, const char *msg,
                      void *ud)
{
    (void)ud;
    fprintf(stderr, "refused handshake for '%s': %s [%s]\n", name, msg,
            ftls_code_name(why));
}

struct conn {
    struct server *srv;
    int fd;
};

static void log_event(const ftls_source_event *ev, void *ud)
{
    (void)ud;
    if (ev->type == FTLS_EVENT_UNCHANGED)
        return;
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s %s %s: %s\n", when, ftls_source_event_name(ev->type),
            ftls_source_describe(ev->source), ev->message);
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

/* Read the request head (up to a blank line, 8 KiB at most). */
static int read_request(SSL *ssl, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        int r = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
            return 0;
    }
    return -1;
}

static void *handle(void *arg)
{
    struct conn *c = arg;
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL_CTX *ctx = c->srv->factory ? ftls_ctx_factory_get1_ctx(c->srv->factory)
                   : SSL_CTX_up_ref(c->srv->mint_ctx) ? c->srv->mint_ctx
                                                      : NULL;
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx); /* the SSL keeps its context */
    char req[8192], body[1024], resp[1400], served[400], peer[400];
    if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1 &&
        read_request(ssl, req, sizeof(req)) == 0) {
        int get = strncmp(req, "GET ", 4) == 0;
        describe_cert(SSL_get_certificate(ssl), served, sizeof(served));
        X509 *pc = SSL_get0_peer_certificate(ssl);
        describe_cert(pc, peer, sizeof(peer));
        ftls_ctx_stats st;
        unsigned long long gen = 0;
        if (c->srv->factory != NULL &&
            ftls_ctx_factory_get_stats(c->srv->factory, &st) == FTLS_OK)
            gen = (unsigned long long)st.generation;
        int blen = snprintf(body, sizeof(body),
                            "served certificate: %s\n"
                            "context generation: %llu\nclient certificate: "
                            "%s\n",
                            served, gen, pc ? peer : "none");
        int rlen =
            snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %s\r\nContent-Type: "
                     "text/plain\r\nContent-Length: %d\r\nConnection: "
                     "close\r\n\r\n%s",
                     get ? "200 OK" : "405 Method Not Allowed", blen, body);
        if (SSL_write(ssl, resp, rlen) == rlen)
            SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(c->fd);
    atomic_fetch_sub(&c->srv->active, 1);
    free(c);
    return NULL;
}

static int listen_on(const char *spec, char *bound, size_t n)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec)
        return -1;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, 64) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
            port = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
            port = ntohs(s4->sin_port);
        }
    }
    snprintf(bound, n, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr,
             port);
    freeaddrinfo(ai);
    return fd;
}

static void accept_loop(struct server *srv, int lfd, int sfd)
{
    for (;;) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si))
                fprintf(stderr, "freshtls serve: signal %u, shutting down\n",
                        si.ssi_signo);
            return;
        }
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        struct conn *c = fd >= 0 ? malloc(sizeof(*c)) : NULL;
        pthread_t th;
        pthread_attr_t attr;
        if (c == NULL) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        c->srv = srv;
        c->fd = fd;
        atomic_fetch_add(&srv->active, 1);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, handle, c) != 0) {
            atomic_fetch_sub(&srv->active, 1);
            close(fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

struct serve_args {
    const char *dir, *client_ca, *mint_ca, *listen;
    struct cli_ca_files caf;
};

static const struct cli_opt g_serve_opts[] = {
    CLI_STR("--dir", NULL, struct serve_args, dir),
    CLI_STR("--client-ca", NULL, struct serve_args, client_ca),
    CLI_STR("--mint-ca", NULL, struct serve_args, mint_ca),
    CLI_STR("--listen", NULL, struct serve_args, listen),
    CLI_CA_FILE_OPTS(struct serve_args, caf),
    CLI_END,
};

/* What one serve run owns. */
struct serve_state {
    struct server srv;
    ftls_error *err;
    ftls_source *id, *cas;
    ftls_watcher *w;
    ftls_ca *ca;
    ftls_leaf_cache *cache;
};

/* --mint-ca: a leaf per SNI name from the CA in `dir`. */
static int setup_mint(struct serve_state *st, const char *dir,
                      const struct cli_ca_files *caf)
{
    char *crt = cli_path(dir, "ca.crt"), *key = cli_path(dir, "ca.key");
    ftls_error *err = st->err;
    ftls_ca_file_options fo = cli_ca_file_options(caf);
    int ok = crt != NULL && key != NULL &&
             ftls_ca_load_ex(crt, key, &fo, &st->ca, err) == FTLS_OK &&
             ftls_leaf_cache_new(st->ca, NULL, &st->cache, err) == FTLS_OK &&
             (st->srv.mint_ctx = SSL_CTX_new(TLS_server_method())) != NULL &&
             ftls_leaf_cache_attach(st->srv.mint_ctx, st->cache, audit_log,
                                    NULL, err) == FTLS_OK;
    if (!ok)
        cli_report("cannot set up minting", err);
    free(crt);
    free(key);
    return ok;
}

/* --dir [--client-ca]: a watched identity (and client CAs) behind a factory. */
static int setup_identity(struct serve_state *st, const char *dir,
                          const char *client_ca)
{
    ftls_error *err = st->err;
    ftls_ctx_template t = {.is_server = 1};
    if (ftls_source_new_identity_dir(dir, NULL, &st->id, err) != FTLS_OK ||
        ftls_source_set_event_callback(st->id, log_event, NULL) != FTLS_OK ||
        ftls_source_reload(st->id, err) != FTLS_OK ||
        ftls_ctx_factory_new(&t, &st->srv.factory, err) != FTLS_OK ||
        ftls_ctx_factory_set_identity(st->srv.factory, st->id, err) !=
            FTLS_OK ||
        ftls_watcher_new(NULL, &st->w, err) != FTLS_OK ||
        ftls_watcher_add(st->w, st->id, err) != FTLS_OK) {
        cli_report("cannot load identity", err);
        return 0;
    }
    int d = client_ca != NULL && is_dir(client_ca);
    if (client_ca != NULL &&
        (ftls_source_new_trust(d ? NULL : client_ca, d ? client_ca : NULL,
                               &st->cas, err) != FTLS_OK ||
         ftls_source_set_event_callback(st->cas, log_event, NULL) != FTLS_OK ||
         ftls_source_reload(st->cas, err) != FTLS_OK ||
         ftls_ctx_factory_set_client_cas(st->srv.factory, st->cas, err) !=
             FTLS_OK ||
         ftls_watcher_add(st->w, st->cas, err) != FTLS_OK)) {
        cli_report("cannot load client CAs", err);
        return 0;
    }
    if (ftls_ctx_factory_build(st->srv.factory, err) != FTLS_OK ||
        ftls_watcher_start(st->w, err) != FTLS_OK) {
        cli_report("cannot start", err);
        return 0;
    }
    return 1;
}

/* Listen, serve until SIGINT/SIGTERM, let connections finish. */
static int run(struct serve_state *st, const char *listen_spec, int sfd)
{
    char bound[128];
    int lfd = listen_on(listen_spec, bound, sizeof(bound));
    if (lfd < 0) {
        fprintf(stderr, "freshtls serve: cannot listen on %s: %s\n",
                listen_spec, strerror(errno));
        return CLI_FAIL;
    }
    printf("listening on %s\n", bound);
    fflush(stdout);
    accept_loop(&st->srv, lfd, sfd);
    close(lfd);
    /* Let in-flight connections finish (they time out after 10 s). */
    for (int i = 0; i < 1200 && atomic_load(&st->srv.active) > 0; i++)
        usleep(10000);
    return atomic_load(&st->srv.active) == 0 ? CLI_OK : CLI_FAIL;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_args a = {.listen = "127.0.0.1:8443"};
    const char *pos = NULL;
    int npos = 0;
    if (cli_parse("serve", g_serve_opts, &a, 1, argc, argv, &pos, 0, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    if ((a.dir == NULL) == (a.mint_ca == NULL) || (a.mint_ca && a.client_ca))
        return cli_usage_error("serve", "give --dir (optionally with "
                                        "--client-ca) or --mint-ca");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC), rc = CLI_FAIL;
    static struct serve_state st;
    memset(&st, 0, sizeof(st));
    if (sfd >= 0 && ftls_error_new(&st.err) == FTLS_OK &&
        (a.mint_ca ? setup_mint(&st, a.mint_ca, &a.caf)
                   : setup_identity(&st, a.dir, a.client_ca)))
        rc = run(&st, a.listen, sfd);
    if (sfd >= 0)
        close(sfd);
    ftls_watcher_free(st.w);
    if (atomic_load(&st.srv.active) == 0) { /* else threads still use them */
        ftls_ctx_factory_free(st.srv.factory);
        SSL_CTX_free(st.srv.mint_ctx);
        ftls_leaf_cache_free(st.cache);
        ftls_source_free(st.cas);
        ftls_source_free(st.id);
    }
    ftls_ca_free(st.ca);
    ftls_error_free(st.err);
    return rc;
}
