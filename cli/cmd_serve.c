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

const struct cli_command cli_cmd_serve = {
    "serve",
    "HTTPS server that hot-reloads identity and client CAs",
    "usage: freshtls serve --dir DIR [--client-ca PATH] [--listen ADDR:PORT]\n"
    "       freshtls serve --mint-ca CADIR [--listen ADDR:PORT]\n\n"
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
    "without SNI or with a refused name fails and is logged.\n",
    cmd_serve,
};

struct server {
    ftls_ctx_factory *factory; /* --dir */
    SSL_CTX *mint_ctx;         /* --mint-ca: leaves minted per SNI */
    atomic_int active;
};

static void audit_log(const char *name, ftls_code why, const char *msg, void *ud)
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
        int blen = snprintf(body, sizeof(body), "served certificate: %s\n"
                            "context generation: %llu\nclient certificate: "
                            "%s\n", served, gen, pc ? peer : "none");
        int rlen = snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\nContent-Type: "
                            "text/plain\r\nContent-Length: %d\r\nConnection: "
                            "close\r\n\r\n%s", get ? "200 OK"
                            : "405 Method Not Allowed", blen, body);
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
    snprintf(bound, n, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr, port);
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

int cmd_serve(int argc, char **argv)
{
    const char *dir = NULL, *client_ca = NULL, *mint_ca = NULL,
               *listen_spec = "127.0.0.1:8443";
    for (int i = 1; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--dir")         ? &dir
                            : !strcmp(argv[i], "--client-ca") ? &client_ca
                            : !strcmp(argv[i], "--mint-ca")   ? &mint_ca
                            : !strcmp(argv[i], "--listen")    ? &listen_spec
                                                              : NULL;
        if (slot == NULL || i + 1 >= argc)
            return cli_usage_error("serve", "bad or incomplete option");
        *slot = argv[++i];
    }
    if ((dir == NULL) == (mint_ca == NULL) || (mint_ca && client_ca))
        return cli_usage_error("serve", "give --dir (optionally with "
                               "--client-ca) or --mint-ca");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC), lfd = -1, rc = CLI_FAIL;
    struct server srv = {0};
    ftls_error *err = NULL;
    ftls_source *id = NULL, *cas = NULL;
    ftls_watcher *w = NULL;
    ftls_ca *ca = NULL;
    ftls_leaf_cache *cache = NULL;
    ftls_ctx_template t = {.is_server = 1};
    char bound[128];
    if (sfd < 0 || ftls_error_new(&err) != FTLS_OK)
        goto done;
    if (mint_ca != NULL) {
        char crt[4200], key[4200];
        snprintf(crt, sizeof(crt), "%s/ca.crt", mint_ca);
        snprintf(key, sizeof(key), "%s/ca.key", mint_ca);
        if (ftls_ca_load(crt, key, &ca, err) != FTLS_OK ||
            ftls_leaf_cache_new(ca, NULL, &cache, err) != FTLS_OK ||
            (srv.mint_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
            ftls_leaf_cache_attach(srv.mint_ctx, cache, audit_log, NULL, err) !=
                FTLS_OK) {
            cli_report("cannot set up minting", err);
            goto done;
        }
        goto listen;
    }
    if (ftls_source_new_identity_dir(dir, NULL, &id, err) != FTLS_OK ||
        ftls_source_set_event_callback(id, log_event, NULL) != FTLS_OK ||
        ftls_source_reload(id, err) != FTLS_OK ||
        ftls_ctx_factory_new(&t, &srv.factory, err) != FTLS_OK ||
        ftls_ctx_factory_set_identity(srv.factory, id, err) != FTLS_OK ||
        ftls_watcher_new(NULL, &w, err) != FTLS_OK ||
        ftls_watcher_add(w, id, err) != FTLS_OK) {
        cli_report("cannot load identity", err);
        goto done;
    }
    if (client_ca != NULL &&
        (ftls_source_new_trust(is_dir(client_ca) ? NULL : client_ca,
                               is_dir(client_ca) ? client_ca : NULL, &cas,
                               err) != FTLS_OK ||
         ftls_source_set_event_callback(cas, log_event, NULL) != FTLS_OK ||
         ftls_source_reload(cas, err) != FTLS_OK ||
         ftls_ctx_factory_set_client_cas(srv.factory, cas, err) != FTLS_OK ||
         ftls_watcher_add(w, cas, err) != FTLS_OK)) {
        cli_report("cannot load client CAs", err);
        goto done;
    }
    if (ftls_ctx_factory_build(srv.factory, err) != FTLS_OK ||
        ftls_watcher_start(w, err) != FTLS_OK) {
        cli_report("cannot start", err);
        goto done;
    }
listen:
    if ((lfd = listen_on(listen_spec, bound, sizeof(bound))) < 0) {
        fprintf(stderr, "freshtls serve: cannot listen on %s: %s\n", listen_spec,
                strerror(errno));
        goto done;
    }
    printf("listening on %s\n", bound);
    fflush(stdout);
    accept_loop(&srv, lfd, sfd);
    /* Let in-flight connections finish (they time out after 10 s). */
    for (int i = 0; i < 1200 && atomic_load(&srv.active) > 0; i++)
        usleep(10000);
    rc = atomic_load(&srv.active) == 0 ? CLI_OK : CLI_FAIL;
done:
    if (lfd >= 0)
        close(lfd);
    if (sfd >= 0)
        close(sfd);
    ftls_watcher_free(w);
    if (rc == CLI_OK || atomic_load(&srv.active) == 0) {
        ftls_ctx_factory_free(srv.factory);
        SSL_CTX_free(srv.mint_ctx);
        ftls_leaf_cache_free(cache);
        ftls_source_free(cas);
        ftls_source_free(id);
    }
    ftls_ca_free(ca);
    ftls_error_free(err);
    return rc;
}
