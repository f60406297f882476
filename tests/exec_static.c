/* A program with OpenSSL linked in statically (test_exec.sh): freshtls
 * exec must say it cannot reach it. Prints the OpenSSL version. */
#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

int main(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    SSL_CTX_free(ctx);
    return 0;
}
