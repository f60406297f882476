/* libFuzzer target: what a proxy client sends before the relay: the
 * request head (proxy_head_end, proxy_head_parse) and the ClientHello's
 * SNI and ALPN extension bodies. Invariants: the head end lies within the
 * input; an accepted CONNECT has a port in 1..65535, a non-empty printable
 * target and a host without a root dot that normalizes to itself; an
 * accepted SNI is printable, non-empty and NUL-terminated in its buffer;
 * an accepted ALPN body has length prefixes that tile it exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <freshtls/freshtls.h>

#include "../cli/proxy_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void head(const char *buf, size_t size)
{
    size_t end = proxy_head_end(buf, size);
    if (end > size)
        abort();
    struct proxy_request r;
    if (proxy_head_parse(buf, end ? end : size, &r) != PH_OK)
        return;
    size_t hl = strlen(r.host);
    char again[256];
    int is_ip = -1;
    if (r.port < 1 || r.port > 65535 || r.target[0] == '\0' || hl == 0 ||
        r.host[hl - 1] == '.' ||
        ftls_leaf_normalize_name(r.host, 1, again, sizeof(again), &is_ip,
                                 NULL) != FTLS_OK ||
        strcmp(again, r.host) != 0 || is_ip != r.is_ip)
        abort();
    for (const char *p = r.target; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            abort();
}

static void hello(const uint8_t *p, size_t size)
{
    char sni[256];
    memset(sni, 'x', sizeof(sni));
    if (proxy_sni_parse(p, size, sni, sizeof(sni)) == 1) {
        size_t n = strnlen(sni, sizeof(sni));
        if (n == 0 || n == sizeof(sni))
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)sni[i] <= 0x20 || (unsigned char)sni[i] >= 0x7f)
                abort();
    }
    if (proxy_alpn_valid(p, size)) {
        size_t i = 2;
        while (i < size)
            i += 1 + (size_t)p[i];
        if (i != size)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    head((const char *)data, size);
    hello(data, size);
    return 0;
}
