/* libFuzzer target: host-name normalization. Invariants: success yields a
 * non-empty name of at most 253 characters drawn from the DNS charset (or
 * an IP literal when allowed), and normalizing the result again gives the
 * same result (idempotence). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <freshtls/freshtls.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dns_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

static int ip_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' ||
           c == ':';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 600)
        return 0;
    int allow_ip = data[0] & 1;
    char in[601];
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    char out[256], again[256];
    int is_ip = -1, is_ip2 = -1;
    if (ftls_leaf_normalize_name(in, allow_ip, out, sizeof(out), &is_ip,
                                 NULL) != FTLS_OK)
        return 0;
    size_t n = strlen(out);
    if (n == 0 || n > 253 || (is_ip && !allow_ip))
        abort();
    for (size_t i = 0; i < n; i++)
        if (!(is_ip ? ip_char(out[i]) : dns_char(out[i])))
            abort();
    if (ftls_leaf_normalize_name(out, allow_ip, again, sizeof(again), &is_ip2,
                                 NULL) != FTLS_OK ||
        strcmp(out, again) != 0 || is_ip != is_ip2)
        abort();
    return 0;
}
