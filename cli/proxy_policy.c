/* The proxy's policy: intercept, tunnel or deny, by host glob or by CIDR,
 * first matching rule wins (see proxy.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define RULES_FILE_MAX (1 << 20)

const char *proxy_action_name(enum proxy_action a)
{
    return a == PA_TUNNEL ? "tunnel" : a == PA_DENY ? "deny" : "intercept";
}

/* "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6, brackets allowed). */
static int parse_cidr(const char *s, struct proxy_rule *r)
{
    char buf[80];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        char *end = NULL;
        *slash = '\0';
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end != '\0' || prefix < 0)
            return -1;
    }
    char *a = buf;
    size_t al = strlen(a);
    if (al >= 2 && a[0] == '[' && a[al - 1] == ']') {
        a[al - 1] = '\0';
        a++;
    }
    if (inet_pton(AF_INET, a, r->addr) == 1) {
        r->family = AF_INET;
        r->prefix = prefix < 0 ? 32 : (int)prefix;
        return r->prefix <= 32 ? 1 : -1;
    }
    if (inet_pton(AF_INET6, a, r->addr) == 1) {
        r->family = AF_INET6;
        r->prefix = prefix < 0 ? 128 : (int)prefix;
        return r->prefix <= 128 ? 1 : -1;
    }
    return slash != NULL ? -1 : 0;
}

static int valid_glob(const char *s)
{
    if (*s == '\0' || strlen(s) > 253)
        return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == '*' || ch == '?' ||
              ch == '_' || ch == '[' || ch == ']' || ch == '!'))
            return 0;
    }
    return 1;
}

int proxy_rules_add(struct proxy_rules *r, enum proxy_action a,
                    const char *pattern, char *why, size_t n)
{
    struct proxy_rule rule = {.action = a};
    int c = parse_cidr(pattern, &rule);
    if (c < 0) {
        snprintf(why, n, "'%s': not an address or CIDR block", pattern);
        return 0;
    }
    if (c == 0 && !valid_glob(pattern)) {
        snprintf(why, n, "'%s': not a host-name glob or a CIDR block", pattern);
        return 0;
    }
    rule.is_cidr = c;
    rule.text = strdup(pattern);
    struct proxy_rule *v = realloc(r->v, (r->n + 1) * sizeof(*v));
    if (rule.text == NULL || v == NULL) {
        free(rule.text);
        if (v != NULL)
            r->v = v;
        snprintf(why, n, "out of memory");
        return 0;
    }
    if (!rule.is_cidr) /* globs match lowercase names */
        for (char *p = rule.text; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    v[r->n++] = rule;
    r->v = v;
    return 1;
}

static int rules_line(struct proxy_rules *r, char *line, char *why, size_t n)
{
    char *save = NULL;
    char *verb = strtok_r(line, " \t\r", &save);
    if (verb == NULL || verb[0] == '#')
        return 1;
    char *pat = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);
    if (pat == NULL || (extra != NULL && extra[0] != '#')) {
        snprintf(why, n, "expected 'intercept|tunnel|deny PATTERN'");
        return 0;
    }
    enum proxy_action a;
    if (strcmp(verb, "intercept") == 0)
        a = PA_INTERCEPT;
    else if (strcmp(verb, "tunnel") == 0)
        a = PA_TUNNEL;
    else if (strcmp(verb, "deny") == 0)
        a = PA_DENY;
    else {
        snprintf(why, n, "unknown action '%.40s'", verb);
        return 0;
    }
    return proxy_rules_add(r, a, pat, why, n);
}

int proxy_rules_load(struct proxy_rules *r, const char *path, char *why,
                     size_t n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return 0;
    }
    char line[1024], reason[256];
    int ok = 1;
    long lineno = 0, total = 0;
    while (ok && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        total += (long)len;
        if (total > RULES_FILE_MAX) {
            snprintf(why, n, "%s: larger than %d bytes", path, RULES_FILE_MAX);
            ok = 0;
        } else if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(why, n, "%s:%ld: line too long", path, lineno);
            ok = 0;
        } else if (line[0] != '\0' && line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        if (ok && !rules_line(r, line, reason, sizeof(reason))) {
            snprintf(why, n, "%s:%ld: %s", path, lineno, reason);
            ok = 0;
        }
    }
    if (ok && ferror(f)) {
        snprintf(why, n, "%s: read error", path);
        ok = 0;
    }
    fclose(f);
    return ok;
}

void proxy_rules_clear(struct proxy_rules *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].text);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

static int in_block(const struct proxy_rule *r, int family, const void *addr)
{
    /* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host:
     * IPv4 rules cover it. */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && r->family == AF_INET &&
        memcmp(addr, mapped, sizeof(mapped)) == 0) {
        family = AF_INET;
        addr = (const unsigned char *)addr + 12;
    }
    if (r->family != family)
        return 0;
    const unsigned char *a = addr;
    int bits = r->prefix, i = 0;
    for (; bits >= 8; bits -= 8, i++)
        if (a[i] != r->addr[i])
            return 0;
    if (bits == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (a[i] & mask) == (r->addr[i] & mask);
}

/* `text` (canonical address) as bytes. */
static int addr_of(const char *text, int *family, unsigned char out[16])
{
    if (inet_pton(AF_INET, text, out) == 1)
        return *family = AF_INET, 1;
    if (inet_pton(AF_INET6, text, out) == 1)
        return *family = AF_INET6, 1;
    return 0;
}

enum proxy_action proxy_rules_match(const struct proxy_rules *r,
                                    const char *host, int is_ip,
                                    const char **rule)
{
    unsigned char addr[16];
    int family = 0;
    if (is_ip && !addr_of(host, &family, addr))
        is_ip = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct proxy_rule *x = &r->v[i];
        int hit = x->is_cidr ? is_ip && in_block(x, family, addr)
                             : fnmatch(x->text, host, 0) == 0;
        if (hit) {
            *rule = x->text;
            return x->action;
        }
    }
    *rule = NULL;
    return r->fallback;
}

int proxy_rules_denies_addr(const struct proxy_rules *r,
                            const struct sockaddr *sa)
{
    const void *a = NULL;
    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    for (size_t i = 0; a != NULL && i < r->n; i++)
        if (r->v[i].action == PA_DENY && r->v[i].is_cidr &&
            in_block(&r->v[i], sa->sa_family, a))
            return 1;
    return 0;
}
