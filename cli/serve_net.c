/* Listening sockets and systemd notification for `freshtls serve`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "serve_loop.h"

/* Split "ADDR:PORT" / "[V6]:PORT" into host and a range-checked port. */
static int split_spec(const char *spec, char *host, size_t hn, char *port,
                      size_t pn, const char **why)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec) {
        *why = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
        return 0;
    }
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || p[strspn(p, "0123456789")] != '\0' ||
        strtol(p, NULL, 10) > 65535) {
        *why = "the port must be a number from 0 to 65535";
        return 0;
    }
    if (hl >= hn || pl >= pn) {
        *why = "address too long";
        return 0;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 1;
}

int serve_check_spec(const char *spec, const char **why)
{
    char host[256], port[8];
    return split_spec(spec, host, sizeof(host), port, sizeof(port), why);
}

void serve_addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(out, n, "[%s]:%d", a, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(out, n, "%s:%d", a, ntohs(s4->sin_port));
    }
}

static void bound_name(int fd, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        serve_addr_text(&ss, out, n);
    else
        snprintf(out, n, "?");
}

int serve_listen(const char *spec, char *bound, size_t n, const char **why)
{
    char host[256], port[8];
    if (!split_spec(spec, host, sizeof(host), port, sizeof(port), why))
        return -1;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        *why = "the address must be a numeric IPv4 or IPv6 address";
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0),
        one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, 511) != 0) {
        *why = strerror(errno);
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    bound_name(fd, bound, n);
    return fd;
}

void serve_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 sl);
    close(fd);
}
