/* A small OpenSSL program, linked plainly (no freshtls), for test_exec.sh:
 * a server context that sets its own certificate, info and servername
 * callbacks, one of them again after its first connection (after the
 * shim attached). Handshakes over a socketpair with an in-process client;
 * prints how often each callback ran.
 *   exec_callbacks CERT KEY CAFILE */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

static int n_cert1, n_cert2, n_info, n_sni;

static int cert_cb1(SSL *s, void *arg)
{
    (void)s, (void)arg;
    n_cert1++;
    return 1;
}
static int cert_cb2(SSL *s, void *arg)
{
    (void)s, (void)arg;
    n_cert2++;
    return 1;
}
static void info_cb(const SSL *s, int where, int ret)
{
    (void)s, (void)ret;
    if (where & SSL_CB_HANDSHAKE_DONE)
        n_info++;
}
static int sni_cb(SSL *s, int *al, void *arg)
{
    (void)s, (void)al, (void)arg;
    n_sni++;
    return SSL_TLSEXT_ERR_OK;
}

/* One handshake: the client in a child process, the server here. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        SSL *c = SSL_new(cctx);
        SSL_set_fd(c, sv[1]);
        SSL_set_tlsext_host_name(c, "localhost");
        _exit(SSL_connect(c) == 1 ? 0 : 1);
    }
    SSL *s = SSL_new(sctx);
    SSL_set_fd(s, sv[0]);
    int ok = SSL_accept(s) == 1;
    SSL_free(s);
    close(sv[0]);
    close(sv[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_file(cctx, argv[3]) != 1)
        return 1;
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_cb(sctx, cert_cb1, NULL);
    SSL_CTX_set_info_callback(sctx, info_cb);
    SSL_CTX_set_tlsext_servername_callback(sctx, sni_cb);
    int ok1 = handshake(sctx, cctx);
    SSL_CTX_set_cert_cb(sctx, cert_cb2, NULL); /* after the first SSL_new */
    int ok2 = handshake(sctx, cctx);
    printf("handshakes=%d cert1=%d cert2=%d info=%d sni=%d\n", ok1 + ok2,
           n_cert1, n_cert2, n_info, n_sni);
    return 0;
}
