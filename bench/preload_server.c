/* A plain OpenSSL TLS server for bench_preload: it loads its identity
 * with SSL_CTX_use_certificate_chain_file + SSL_CTX_use_PrivateKey_file,
 * as unmodified programs do, then answers each connection with one byte.
 *   preload_server PORT CERT KEY   (prints "ready" once listening) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1)
        return 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            continue;
        SSL *ssl = SSL_new(ctx);
        if (ssl != NULL && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1 &&
            SSL_write(ssl, "x", 1) == 1)
            SSL_shutdown(ssl);
        SSL_free(ssl);
        close(c);
    }
}
