/* libFuzzer target: identity material from memory, parsed and validated
 * exactly as a reload does it. The first byte picks the format: PEM in one
 * buffer, PEM split into certificate and key buffers, or PKCS#12 DER. */
#include <stdint.h>
#include <time.h>

#include "source/identity_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0] % 3;
    const unsigned char *p = data + 1;
    size_t n = size - 1;
    ftls_identity *id = NULL;
    ftls_code rc;
    if (mode == 0) {
        rc = ftls__identity_from_pem(p, n, "fuzz", NULL, 0, NULL, "pass", &id,
                                     NULL);
    } else if (mode == 1) {
        size_t half = n / 2;
        rc = ftls__identity_from_pem(p, half, "cert", p + half, n - half, "key",
                                     NULL, &id, NULL);
    } else {
        rc = ftls__identity_from_pkcs12(p, n, "fuzz", "pass", &id, NULL);
    }
    if (rc == FTLS_OK) {
        ftls_identity_options o = {0};
        (void)ftls__identity_validate(id, &o, (int64_t)time(NULL), "fuzz",
                                      NULL);
        ftls_identity_free(id);
    }
    return 0;
}
