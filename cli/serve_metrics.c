/* The Prometheus text page of `freshtls serve --metrics`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve_app.h"

struct page {
    char *p;
    size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct page *pg,
                                                      const char *fmt, ...)
{
    if (pg->len >= pg->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(pg->p + pg->len, pg->cap - pg->len, fmt, ap);
    va_end(ap);
    pg->len = n < 0 ? pg->cap : pg->len + (size_t)n;
    if (pg->len > pg->cap)
        pg->len = pg->cap; /* cut: the page is bounded, never overrun */
}

static void metric(struct page *pg, const char *name, const char *type,
                   const char *help)
{
    put(pg, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void source_metrics(struct page *pg, const struct serve_app *app)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"freshtls_source_generation", "gauge", "Published generation."},
        {"freshtls_source_last_success_timestamp_seconds", "gauge",
         "Unix time of the last successful load."},
        {"freshtls_source_not_after_timestamp_seconds", "gauge",
         "notAfter of the published leaf (0: none)."},
        {"freshtls_source_seconds_to_expiry", "gauge",
         "Seconds until the published leaf expires."},
        {"freshtls_source_reload_failures_total", "counter",
         "Loads that failed (the previous generation stayed)."},
    };
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        metric(pg, m[k].name, m[k].type, m[k].help);
        for (size_t i = 0; i < app->nsources; i++) {
            ftls_source_status st;
            if (ftls_source_get_status(app->sources[i].src, &st) != FTLS_OK)
                continue;
            long long v[] = {
                (long long)st.generation, st.last_success, st.not_after,
                st.seconds_left,
                (long long)atomic_load(&app->sources[i].reload_failures)};
            put(pg, "%s{source=\"%s\"} %lld\n", m[k].name,
                app->sources[i].label, v[k]);
        }
    }
}

static void cache_metrics(struct page *pg, ftls_leaf_cache *cache)
{
    ftls_leaf_cache_stats s;
    if (cache == NULL || ftls_leaf_cache_get_stats(cache, &s) != FTLS_OK)
        return;
    metric(pg, "freshtls_leaf_cache_size", "gauge", "Leaves cached.");
    put(pg, "freshtls_leaf_cache_size %zu\n", s.size);
    const struct {
        const char *name;
        uint64_t v;
    } c[] = {{"freshtls_leaf_cache_hits_total", s.hits},
             {"freshtls_leaf_cache_misses_total", s.misses},
             {"freshtls_leaf_cache_mints_total", s.mints},
             {"freshtls_leaf_cache_evictions_total", s.evictions},
             {"freshtls_leaf_cache_mint_failures_total", s.failures}};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        metric(pg, c[i].name, "counter", "Leaf cache activity.");
        put(pg, "%s %llu\n", c[i].name, (unsigned long long)c[i].v);
    }
}

size_t serve_metrics_page(void *ud, const struct serve_counters *c, char *out,
                          size_t cap)
{
    const struct serve_app *app = ud;
    char body[60000];
    struct page pg = {body, sizeof(body), 0};
    const struct {
        const char *name, *type, *help;
        unsigned long long v;
    } conn[] = {
        {"freshtls_connections_active", "gauge", "TLS connections open.",
         (unsigned long long)c->active},
        {"freshtls_connections_accepted_total", "counter",
         "TLS connections accepted.", c->accepted},
        {"freshtls_handshakes_total", "counter", "Completed TLS handshakes.",
         c->handshakes},
        {"freshtls_handshake_failures_total", "counter",
         "Handshakes that failed or ran out of time.", c->handshake_failures},
        {"freshtls_requests_total", "counter", "Requests answered.",
         c->requests},
        {"freshtls_connections_evicted_total", "counter",
         "Idle connections closed to make room at the cap.", c->evicted},
        {"freshtls_connections_timed_out_total", "counter",
         "Connections closed at their handshake or request deadline.",
         c->timed_out},
        {"freshtls_accept_backoffs_total", "counter",
         "Pauses in accepting for want of descriptors or memory.",
         c->accept_backoffs},
    };
    for (size_t i = 0; i < sizeof(conn) / sizeof(conn[0]); i++) {
        metric(&pg, conn[i].name, conn[i].type, conn[i].help);
        put(&pg, "%s %llu\n", conn[i].name, conn[i].v);
    }
    source_metrics(&pg, app);
    cache_metrics(&pg, serve_app_cache(app));
    int n = snprintf(out, cap,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
                     "version=0.0.4\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\n\r\n",
                     pg.len);
    if (n < 0 || (size_t)n + pg.len > cap)
        return 0;
    memcpy(out + n, body, pg.len);
    return (size_t)n + pg.len;
}
