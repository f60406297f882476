/* Version queries. */
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "base/internal.h"

const char *ftls_version_string(void)
{
    return FTLS_VERSION_STRING;
}

unsigned long ftls_version_number(void)
{
    return FTLS_VERSION_NUMBER;
}

const char *ftls_version_openssl(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

const char *ftls_version_openssl_built(void)
{
    return OPENSSL_VERSION_TEXT;
}
