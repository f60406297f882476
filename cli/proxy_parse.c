/* Parsers of untrusted proxy input (proxy_parse.h). */
#include "proxy_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <freshtls/freshtls.h>

size_t proxy_head_end(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < n && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* Printable ASCII only (no NUL, no other control byte). */
static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

void proxy_host_drop_root_dot(char *name)
{
    size_t l = strlen(name);
    if (l > 1 && name[l - 1] == '.')
        name[l - 1] = '\0';
}

static int parse_target(struct proxy_request *r, const char *t, size_t n)
{
    if (n == 0 || n >= sizeof(r->target))
        return 0;
    memcpy(r->target, t, n);
    r->target[n] = '\0';
    char *colon = strrchr(r->target, ':');
    if (colon == NULL || colon == r->target)
        return 0;
    size_t hl = (size_t)(colon - r->target);
    int bracketed = r->target[0] == '[' && colon[-1] == ']';
    /* An IPv6 literal must be bracketed: "::1:443" is ambiguous. */
    if ((r->target[0] == '[') != bracketed ||
        (!bracketed && memchr(r->target, ':', hl) != NULL))
        return 0;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end != '\0' || colon[1] == '+' ||
        colon[1] == '-' || colon[1] == ' ' || port < 1 || port > 65535)
        return 0;
    char host[256];
    if (hl >= sizeof(host))
        return 0;
    memcpy(host, r->target, hl);
    host[hl] = '\0';
    if (ftls_leaf_normalize_name(host, 1, r->host, sizeof(r->host), &r->is_ip,
                                 NULL) != FTLS_OK)
        return 0;
    if (!r->is_ip)
        proxy_host_drop_root_dot(r->host);
    r->port = (int)port;
    return 1;
}

enum proxy_head_status proxy_head_parse(const char *h, size_t len,
                                        struct proxy_request *r)
{
    memset(r, 0, sizeof(*r));
    const char *eol = memchr(h, '\n', len);
    if (eol == NULL)
        return PH_BAD;
    size_t line = (size_t)(eol - h);
    if (line > 0 && h[line - 1] == '\r')
        line--;
    if (!printable(h, line))
        return PH_BAD;
    const char *sp1 = memchr(h, ' ', line);
    const char *sp2 =
        sp1 ? memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - h)) : NULL;
    const char *ver = sp2 ? sp2 + 1 : NULL;
    if (sp1 == NULL || sp2 == NULL || !is_token(h, (size_t)(sp1 - h)) ||
        (size_t)(h + line - ver) != 8 || strncmp(ver, "HTTP/1.", 7) != 0 ||
        ver[7] < '0' || ver[7] > '9')
        return PH_BAD;
    size_t ml = (size_t)(sp1 - h);
    snprintf(r->method, sizeof(r->method), "%.*s", (int)(ml > 16 ? 16 : ml), h);
    if (ml != 7 || strncmp(h, "CONNECT", 7) != 0)
        return PH_METHOD;
    return parse_target(r, sp1 + 1, (size_t)(sp2 - sp1 - 1)) ? PH_OK : PH_BAD;
}

int proxy_sni_parse(const unsigned char *p, size_t len, char *out, size_t n)
{
    if (len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return -1;
    for (size_t i = 2; i < len;) {
        if (i + 3 > len)
            return -1;
        size_t nl = (size_t)((p[i + 1] << 8) | p[i + 2]);
        if (i + 3 + nl > len)
            return -1;
        if (p[i] == 0) { /* host_name */
            if (nl == 0 || nl >= n)
                return -1;
            for (size_t k = 0; k < nl; k++) {
                unsigned char ch = p[i + 3 + k];
                if (ch <= 0x20 || ch >= 0x7f)
                    return -1;
                out[k] = (char)ch;
            }
            out[nl] = '\0';
            return 1;
        }
        i += 3 + nl;
    }
    return 0;
}

int proxy_alpn_valid(const unsigned char *p, size_t len)
{
    if (len < 3 || (size_t)((p[0] << 8) | p[1]) != len - 2)
        return 0;
    for (size_t i = 2; i < len; i += 1 + (size_t)p[i])
        if (p[i] == 0 || i + 1 + p[i] > len)
            return 0;
    return 1;
}
