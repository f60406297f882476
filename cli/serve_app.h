/* What `freshtls serve` serves: its sources, or its minting CA, and the
 * state the metrics page reads. Shared by cmd_serve.c and
 * serve_metrics.c. */
#ifndef FTLS_CLI_SERVE_APP_H
#define FTLS_CLI_SERVE_APP_H

#include <stdatomic.h>
#include <stddef.h>

#include <freshtls/freshtls.h>

#include "cli.h"
#include "serve_loop.h"

struct serve_source {
    ftls_source *src;
    const char *label; /* "identity", "client_ca" */
    atomic_ulong reload_failures;
};

struct serve_app {
    ftls_error *err;
    /* --dir: a watched identity (and client CAs) behind a factory. */
    ftls_ctx_factory *factory;
    ftls_watcher *w;
    struct serve_source sources[2];
    size_t nsources;
    /* --mint-ca: the newest minting context; it owns its cache and CA
     * (ex_data), so a context replaced by SIGHUP lives on with its
     * connections. */
    SSL_CTX *mint_ctx;
    const char *mint_dir;
    struct cli_ca_files caf;
};

/* The leaf cache behind the current minting context, or NULL. */
ftls_leaf_cache *serve_app_cache(const struct serve_app *app);

/* The serve_hooks.metrics hook; `ud` is the serve_app. */
size_t serve_metrics_page(void *ud, const struct serve_counters *c, char *out,
                          size_t cap);

#endif
