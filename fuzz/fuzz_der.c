/* libFuzzer target: the strict DER walker must never read out of bounds,
 * whatever it accepts it must describe consistently, and every Name it
 * vouches for (ftls__der_name_plain) OpenSSL must parse. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/der.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy to an exact-size buffer so ASan catches any over-read. */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    for (size_t i = 0; i < size; i++)
        copy[i] = data[i];
    struct ftls__cert_fields f;
    const char *why = NULL;
    if (ftls__der_cert_fields(copy, size, &f, &why) == 0) {
        /* Accepted fields must lie inside the input. */
        if (f.subject.p < copy || f.subject.p + f.subject.len > copy + size ||
            f.issuer.p < copy || f.issuer.p + f.issuer.len > copy + size ||
            (f.ski.len &&
             (f.ski.p < copy || f.ski.p + f.ski.len > copy + size)))
            abort();
    } else if (why == NULL) {
        abort();
    }
    /* A Name the walker vouches for, OpenSSL parses, whole. */
    if (ftls__der_name_plain(copy, size)) {
        const unsigned char *p = copy;
        X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)size);
        if (n == NULL || p != copy + size)
            abort();
        X509_NAME_free(n);
    }
    ERR_clear_error();
    free(copy);
    return 0;
}
