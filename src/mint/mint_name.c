/* Host name normalization and the rules a minted name must satisfy. */
#include <arpa/inet.h>
#include <string.h>

#include "mint/mint_internal.h"

static int is_ip_literal(const char *s, char *canon, size_t n)
{
    unsigned char buf[16];
    char tmp[FTLS_NAME_MAX + 1];
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && len - 2 < sizeof(tmp)) {
        memcpy(tmp, s + 1, len - 2); /* bracketed IPv6 */
        tmp[len - 2] = '\0';
        s = tmp;
    }
    if (inet_pton(AF_INET, s, buf) == 1)
        return inet_ntop(AF_INET, buf, canon, (socklen_t)n) != NULL ? 4 : -1;
    if (inet_pton(AF_INET6, s, buf) == 1)
        return inet_ntop(AF_INET6, buf, canon, (socklen_t)n) != NULL ? 6 : -1;
    /* Every other form inet_aton() (and so curl, browsers and most resolver
     * libraries) reads as an IPv4 address: 127.1, 2130706433, 0x7f.1,
     * 010.0.0.1 (octal), 1.2.3. Only digits, hex letters, 'x' and dots are
     * passed to it: glibc's inet_aton also accepts trailing text after a
     * space. */
    if (s[strspn(s, "0123456789abcdefx.")] == '\0') {
        struct in_addr a;
        if (inet_aton(s, &a) == 1)
            return inet_ntop(AF_INET, &a, canon, (socklen_t)n) != NULL ? 4 : -1;
    }
    return 0;
}

/* A last label that URL parsers read as a number (decimal, or 0x hex:
 * WHATWG's "ends in a number") makes them parse the host as IPv4, so it
 * cannot name a host. */
static int last_label_numeric(const char *name)
{
    const char *last = strrchr(name, '.');
    last = last ? last + 1 : name;
    if (last[0] == '0' && last[1] == 'x')
        return last[2 + strspn(last + 2, "0123456789abcdef")] == '\0';
    return *last != '\0' && last[strspn(last, "0123456789")] == '\0';
}

static FTLS_NODISCARD ftls_code check_labels(const char *name, ftls_error *err)
{
    const char *label = name;
    for (const char *p = name;; p++) {
        if (*p != '.' && *p != '\0') {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return ftls__err(err, FTLS_E_NAME_REJECTED,
                                 "name '%s': "
                                 "character '%c' is not allowed%s",
                                 name, c,
                                 c == '*' ? " (wildcards are refused)" : "");
            continue;
        }
        size_t len = (size_t)(p - label);
        if (len == 0)
            return ftls__err(err, FTLS_E_NAME_REJECTED,
                             "name '%s': empty label", name);
        if (len > 63)
            return ftls__err(err, FTLS_E_NAME_REJECTED,
                             "name '%s': label longer "
                             "than 63 characters",
                             name);
        if (label[0] == '-' || p[-1] == '-')
            return ftls__err(err, FTLS_E_NAME_REJECTED,
                             "name '%s': label starts "
                             "or ends with a hyphen",
                             name);
        if (*p == '\0')
            return FTLS_OK;
        label = p + 1;
    }
}

ftls_code ftls_leaf_normalize_name(const char *in, int allow_ip, char *out,
                                   size_t out_len, int *is_ip, ftls_error *err)
{
    if (is_ip != NULL)
        *is_ip = 0;
    FTLS_GUARD_ARG(in != NULL && out != NULL && out_len > FTLS_NAME_MAX, err,
                   "name or output buffer missing or too small");
    out[0] = '\0';
    size_t len = strlen(in);
    int root_dot = len > 0 && in[len - 1] == '.';
    if (root_dot)
        len--; /* the root label: kept on DNS names, checked without */
    if (len == 0)
        return ftls__err(err, FTLS_E_NAME_REJECTED, "empty name");
    if (len + (size_t)root_dot > FTLS_NAME_MAX)
        return ftls__err(err, FTLS_E_NAME_REJECTED,
                         "name longer than %d characters", FTLS_NAME_MAX);
    char buf[FTLS_NAME_MAX + 1];
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[len] = '\0';
    int ip = is_ip_literal(buf, out, out_len);
    if (ip != 0) {
        if (!allow_ip) {
            out[0] = '\0';
            return ftls__err(err, FTLS_E_NAME_REJECTED,
                             "name '%s' is an IP literal; IP SANs are not "
                             "enabled",
                             buf);
        }
        if (ip < 0)
            return ftls__err(err, FTLS_E_NAME_REJECTED, "bad IP literal");
        if (is_ip != NULL)
            *is_ip = 1;
        return FTLS_OK;
    }
    ftls_code rc = check_labels(buf, err);
    if (rc == FTLS_OK && last_label_numeric(buf))
        rc = ftls__err(err, FTLS_E_NAME_REJECTED,
                       "name '%s': the last label is numeric, which URL "
                       "parsers read as an IPv4 address",
                       buf);
    if (rc == FTLS_OK) {
        memcpy(out, buf, len);
        memcpy(out + len, root_dot ? "." : "", 1 + (size_t)root_dot);
    }
    return rc;
}
