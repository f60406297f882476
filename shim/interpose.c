/* The libssl functions the preload shim interposes. Each calls the real
 * one first (dlsym RTLD_NEXT) and only then, when freshtls exec turned
 * the shim on, notes what the program did (preload.c). */
#include <dlfcn.h>

#include "shim.h"

/* The libssl of the major the shim is built for, by its symbol version
 * (exports.map.in): never another libssl that happens to come next. */
#define REAL(name, type)                                                       \
    static type real_##name;                                                   \
    if (real_##name == NULL)                                                   \
        real_##name = (type)dlvsym(RTLD_NEXT, #name, FTLS_OSSL_NODE);          \
    if (real_##name == NULL)                                                   \
        real_##name = (type)dlsym(RTLD_NEXT, #name);

typedef int (*chain_file_fn)(SSL_CTX *, const char *);
typedef int (*typed_file_fn)(SSL_CTX *, const char *, int);
typedef int (*use_cert_fn)(SSL_CTX *, X509 *);
typedef int (*verify_loc_fn)(SSL_CTX *, const char *, const char *);
typedef int (*verify_one_fn)(SSL_CTX *, const char *);
typedef int (*default_paths_fn)(SSL_CTX *);
typedef SSL *(*ssl_new_fn)(SSL_CTX *);
typedef void (*set_cert_cb_fn)(SSL_CTX *, int (*)(SSL *, void *), void *);
typedef void (*set_info_cb_fn)(SSL_CTX *, void (*)(const SSL *, int, int));

SHIM_EXPORT int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx,
                                                   const char *file)
{
    REAL(SSL_CTX_use_certificate_chain_file, chain_file_fn);
    int r = real_SSL_CTX_use_certificate_chain_file(ctx, file);
    if (r == 1 && shim_active())
        shim_note_identity(ctx, file, NULL);
    return r;
}

SHIM_EXPORT int SSL_CTX_use_certificate_file(SSL_CTX *ctx, const char *file,
                                             int type)
{
    REAL(SSL_CTX_use_certificate_file, typed_file_fn);
    int r = real_SSL_CTX_use_certificate_file(ctx, file, type);
    if (r == 1 && type == SSL_FILETYPE_PEM && shim_active())
        shim_note_identity(ctx, file, NULL);
    return r;
}

SHIM_EXPORT int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file,
                                            int type)
{
    REAL(SSL_CTX_use_PrivateKey_file, typed_file_fn);
    int r = real_SSL_CTX_use_PrivateKey_file(ctx, file, type);
    if (r == 1 && type == SSL_FILETYPE_PEM && shim_active())
        shim_note_identity(ctx, NULL, file);
    return r;
}

/* A certificate the program parsed itself (nginx, openssl s_server): only
 * a source named by freshtls exec can follow it. */
SHIM_EXPORT int SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x)
{
    REAL(SSL_CTX_use_certificate, use_cert_fn);
    int r = real_SSL_CTX_use_certificate(ctx, x);
    if (r == 1 && shim_active())
        shim_note_certificate(ctx);
    return r;
}

SHIM_EXPORT int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *file,
                                              const char *dir)
{
    REAL(SSL_CTX_load_verify_locations, verify_loc_fn);
    int r = real_SSL_CTX_load_verify_locations(ctx, file, dir);
    if (r == 1 && shim_active())
        shim_note_trust(ctx, file, dir, 0);
    return r;
}

SHIM_EXPORT int SSL_CTX_load_verify_file(SSL_CTX *ctx, const char *file)
{
    REAL(SSL_CTX_load_verify_file, verify_one_fn);
    int r = real_SSL_CTX_load_verify_file(ctx, file);
    if (r == 1 && shim_active())
        shim_note_trust(ctx, file, NULL, 0);
    return r;
}

SHIM_EXPORT int SSL_CTX_load_verify_dir(SSL_CTX *ctx, const char *dir)
{
    REAL(SSL_CTX_load_verify_dir, verify_one_fn);
    int r = real_SSL_CTX_load_verify_dir(ctx, dir);
    if (r == 1 && shim_active())
        shim_note_trust(ctx, NULL, dir, 0);
    return r;
}

SHIM_EXPORT int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx)
{
    REAL(SSL_CTX_set_default_verify_paths, default_paths_fn);
    int r = real_SSL_CTX_set_default_verify_paths(ctx);
    if (r == 1 && shim_active())
        shim_note_trust(ctx, NULL, NULL, 1);
    return r;
}

SHIM_EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    REAL(SSL_new, ssl_new_fn);
    if (ctx != NULL && shim_active())
        shim_before_ssl_new(ctx);
    return real_SSL_new(ctx);
}

/* Callbacks chained, not stolen: before the attachment the program's
 * callback is set as usual (and remembered); afterwards freshtls's stays
 * installed and calls the program's. */
SHIM_EXPORT void SSL_CTX_set_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *),
                                     void *arg)
{
    REAL(SSL_CTX_set_cert_cb, set_cert_cb_fn);
    if (!(shim_active() && shim_chain_cert_cb(ctx, cb, arg)))
        real_SSL_CTX_set_cert_cb(ctx, cb, arg);
}

SHIM_EXPORT void SSL_CTX_set_info_callback(SSL_CTX *ctx,
                                           void (*cb)(const SSL *, int, int))
{
    REAL(SSL_CTX_set_info_callback, set_info_cb_fn);
    if (!(shim_active() && shim_chain_info_cb(ctx, cb)))
        real_SSL_CTX_set_info_callback(ctx, cb);
}
