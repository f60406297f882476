/* Name resolution off the event loop: getaddrinfo() can block for
 * seconds, so two threads answer lookups and hand each finished request
 * back through a pipe. --resolve entries are answered without them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define RESOLVER_THREADS 2

struct proxy_lookup {
    struct proxy_lookup *next;
    char host[256];
    int port;
    void *conn; /* loop thread only */
    struct addrinfo *ai;
    int gai_err;
};

struct proxy_resolver {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct proxy_lookup *head, *tail;
    int stop, nthreads;
    int pipe_rd, pipe_wr;
    pthread_t th[RESOLVER_THREADS];
};

static void *worker(void *arg)
{
    struct proxy_resolver *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->head == NULL)
            pthread_cond_wait(&r->cv, &r->mu);
        struct proxy_lookup *l = r->head;
        if (l != NULL && (r->head = l->next) == NULL)
            r->tail = NULL;
        pthread_mutex_unlock(&r->mu);
        if (l == NULL)
            return NULL; /* stopping */
        char port[8];
        snprintf(port, sizeof(port), "%d", l->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_ADDRCONFIG};
        l->gai_err = getaddrinfo(l->host, port, &hints, &l->ai);
        ssize_t w;
        do
            w = write(r->pipe_wr, &l, sizeof(l));
        while (w < 0 && errno == EINTR);
        if (w != (ssize_t)sizeof(l)) { /* cannot happen with a pipe */
            if (l->ai)
                freeaddrinfo(l->ai);
            free(l);
        }
    }
}

int proxy_resolver_new(struct proxy_resolver **out)
{
    struct proxy_resolver *r = calloc(1, sizeof(*r));
    int fds[2];
    *out = NULL;
    if (r == NULL)
        return 0;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(r);
        return 0;
    }
    /* Workers block on a full pipe rather than lose an answer. */
    fcntl(fds[1], F_SETFL, 0);
    r->pipe_rd = fds[0];
    r->pipe_wr = fds[1];
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < RESOLVER_THREADS; i++)
        if (pthread_create(&r->th[i], NULL, worker, r) == 0)
            r->nthreads++;
    if (r->nthreads == 0) {
        proxy_resolver_free(r);
        return 0;
    }
    *out = r;
    return 1;
}

void proxy_resolver_free(struct proxy_resolver *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* Workers finishing a lookup write to the pipe before they see stop:
     * drain it while joining so none blocks on a full pipe. */
    for (int i = 0; i < r->nthreads; i++) {
        void *c;
        struct addrinfo *ai;
        const char *e;
        while (pthread_tryjoin_np(r->th[i], NULL) == EBUSY) {
            while (proxy_resolver_take(r, &c, &ai, &e))
                if (ai)
                    freeaddrinfo(ai);
            usleep(1000);
        }
    }
    void *c;
    struct addrinfo *ai;
    const char *e;
    while (proxy_resolver_take(r, &c, &ai, &e))
        if (ai)
            freeaddrinfo(ai);
    for (struct proxy_lookup *l = r->head, *n; l != NULL; l = n) {
        n = l->next;
        free(l);
    }
    close(r->pipe_rd);
    close(r->pipe_wr);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

int proxy_resolver_fd(const struct proxy_resolver *r)
{
    return r->pipe_rd;
}

struct proxy_lookup *proxy_resolver_start(struct proxy_resolver *r,
                                          const char *host, int port,
                                          void *conn)
{
    struct proxy_lookup *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    l->conn = conn;
    pthread_mutex_lock(&r->mu);
    if (r->tail)
        r->tail->next = l;
    else
        r->head = l;
    r->tail = l;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return l;
}

void proxy_lookup_cancel(struct proxy_lookup *l)
{
    l->conn = NULL;
}

int proxy_resolver_take(struct proxy_resolver *r, void **conn,
                        struct addrinfo **ai, const char **error)
{
    struct proxy_lookup *l = NULL;
    ssize_t n = read(r->pipe_rd, &l, sizeof(l));
    if (n != (ssize_t)sizeof(l) || l == NULL)
        return 0;
    *conn = l->conn;
    *ai = l->ai;
    *error = l->gai_err ? gai_strerror(l->gai_err) : NULL;
    free(l);
    return 1;
}

int proxy_map_parse(const char *spec, struct proxy_map *out, char *why,
                    size_t n)
{
    /* HOST:PORT:ADDR; ADDR may be an IPv6 literal, bracketed or not. */
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char port[8];
    if (c1 == NULL || c2 == NULL || c1 == spec ||
        (size_t)(c1 - spec) >= sizeof(out->host) ||
        (size_t)(c2 - c1 - 1) >= sizeof(port) || c2 == c1 + 1) {
        snprintf(why, n, "'%s': expected HOST:PORT:ADDRESS", spec);
        return 0;
    }
    memcpy(out->host, spec, (size_t)(c1 - spec));
    out->host[c1 - spec] = '\0';
    for (char *p = out->host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
    port[c2 - c1 - 1] = '\0';
    char *end = NULL;
    long p = strtol(port, &end, 10);
    const char *a = c2 + 1;
    size_t al = strlen(a);
    if (al >= 2 && a[0] == '[' && a[al - 1] == ']') {
        a++;
        al -= 2;
    }
    unsigned char tmp[16];
    char addr[64];
    if (*end != '\0' || p < 1 || p > 65535 || al == 0 || al >= sizeof(addr)) {
        snprintf(why, n, "'%s': bad port or address", spec);
        return 0;
    }
    memcpy(addr, a, al);
    addr[al] = '\0';
    if (inet_pton(AF_INET, addr, tmp) != 1 &&
        inet_pton(AF_INET6, addr, tmp) != 1) {
        snprintf(why, n, "'%s': '%s' is not an IP address", spec, addr);
        return 0;
    }
    out->port = (int)p;
    memcpy(out->addr, addr, al + 1);
    return 1;
}

struct addrinfo *proxy_map_lookup(const struct proxy_map *m, size_t n,
                                  const char *host, int port)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].port != port || strcmp(m[i].host, host) != 0)
            continue;
        char p[8];
        snprintf(p, sizeof(p), "%d", port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        if (getaddrinfo(m[i].addr, p, &hints, &ai) == 0)
            return ai;
    }
    return NULL;
}
