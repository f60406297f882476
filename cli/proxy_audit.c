/* The proxy's audit trail (one JSON object per connection and line), its
 * NSS key log and its diagnostics. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "proxy.h"

static void field(FILE *f, const char *key, const char *value)
{
    fprintf(f, ",\"%s\":", key);
    cli_json_string(f, value && value[0] ? value : NULL);
}

void proxy_audit(struct proxy *px, const struct pconn *c)
{
    FILE *f = px->audit;
    if (f == NULL)
        return;
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "{\"time\":\"%s.%03ldZ\"", when, ts.tv_nsec / 1000000);
    field(f, "client", c->peer);
    field(f, "target", c->target);
    field(f, "sni", c->sni);
    field(f, "action",
          c->target[0] || c->host[0] ? proxy_action_name(c->action) : NULL);
    field(f, "rule", c->rule_text);
    field(f, "leaf", c->leaf_state);
    field(f, "upstream", c->upstream_addr);
    field(f, "upstream_verify", c->verify);
    fprintf(f, ",\"upstream_resumed\":%s",
            c->up.ssl && c->upstream_ok && SSL_session_reused(c->up.ssl)
                ? "true"
                : "false");
    field(f, "alpn", c->alpn);
    fprintf(f, ",\"bytes_up\":%llu,\"bytes_down\":%llu,\"duration_ms\":%lld",
            (unsigned long long)c->c2u.bytes, (unsigned long long)c->u2c.bytes,
            (long long)(proxy_now_ms() - c->t_start_ms));
    field(f, "error", c->error);
    fputs("}\n", f);
    fflush(f);
}

void proxy_keylog_cb(const SSL *ssl, const char *line)
{
    struct pconn *c = SSL_get_app_data(ssl);
    if (c == NULL || c->px->keylog == NULL)
        return;
    fprintf(c->px->keylog, "%s\n", line);
    fflush(c->px->keylog);
}

void proxy_log(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "freshtls proxy: %s\n", msg);
}
