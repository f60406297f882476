/* Internals of libfreshtls-preload.so shared by its files. */
#ifndef FTLS_SHIM_H
#define FTLS_SHIM_H

#include <openssl/ssl.h>

#include <freshtls/freshtls.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* One log line "freshtls-preload: <time> [pid N] <text>". */
void shim_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 1 when FRESHTLS_EXEC=1 and this is not one of the shim's own calls into
 * libssl (first call: reads the environment, starts the watcher). */
int shim_active(void);

/* What the program did to a context. */
void shim_note_identity(SSL_CTX *ctx, const char *cert, const char *key);
void shim_note_certificate(SSL_CTX *ctx); /* a certificate set in memory */
void shim_note_trust(SSL_CTX *ctx, const char *file, const char *dir,
                     int system);
/* The program sets a certificate / info callback: recorded, and chained
 * behind freshtls's. Returns 1 when freshtls's stays installed (do not
 * call the real setter), 0 when the real setter should run too. */
int shim_chain_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg);
int shim_chain_info_cb(SSL_CTX *ctx, void (*cb)(const SSL *, int, int));
/* Before each SSL_new: hand-over refresh, and the first time for ctx,
 * attach it with everything noted. */
void shim_before_ssl_new(SSL_CTX *ctx);

/* trust.c: a loaded, watched trust source for this process (system roots
 * when `spec` is "system", else files and directories); NULL (logged). */
ftls_source *shim_trust_source(const char *files, const char *dirs, int system);

#endif
