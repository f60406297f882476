/* freshtls watch: print every reload event of a source, live. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_watch = {
    "watch",
    "print every reload event of a secret directory, live",
    "usage: freshtls watch --dir DIR [--debounce MS] [--poll MS] [--json]\n\n"
    "Loads DIR (tls.crt and tls.key, as mounted from a Kubernetes TLS\n"
    "secret), then watches it and prints one line per event: loaded,\n"
    "rejected (with the reason), unchanged, expiring, degraded (inotify\n"
    "unavailable, polling instead). --poll polls at that interval instead\n"
    "of using inotify (by configuration: no 'degraded' event). --json prints\n"
    "one JSON object per event line: time, event, generation, message,\n"
    "code. SIGHUP reloads now (and logs the result); SIGINT or SIGTERM\n"
    "stop it (exit 0).\n",
    cmd_watch,
};

static void on_event(const ftls_source_event *ev, void *ud)
{
    const int *json = ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    if (*json) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        printf("{\"time\":\"%s.%03ldZ\",\"event\":", when,
               ts.tv_nsec / 1000000);
        cli_json_string(stdout, ftls_source_event_name(ev->type));
        printf(",\"generation\":%llu,\"message\":",
               (unsigned long long)ev->generation);
        cli_json_string(stdout, ev->message);
        printf(",\"code\":");
        cli_json_string(stdout, ev->code ? ftls_code_name(ev->code) : NULL);
        printf("}\n");
    } else {
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%03ld %-9s gen=%llu %s%s%s\n", when, ts.tv_nsec / 1000000,
               ftls_source_event_name(ev->type),
               (unsigned long long)ev->generation, ev->message,
               ev->code ? " " : "", ev->code ? ftls_code_name(ev->code) : "");
    }
    fflush(stdout);
}

struct watch_args {
    const char *dir;
    long debounce_ms, poll_ms;
    int json;
};

static const struct cli_opt g_watch_opts[] = {
    CLI_STR("--dir", NULL, struct watch_args, dir),
    CLI_LONG("--debounce", struct watch_args, debounce_ms, 0, 60000),
    CLI_LONG("--poll", struct watch_args, poll_ms, 1, 3600000),
    CLI_FLAG("--json", NULL, struct watch_args, json),
    CLI_END,
};

int cmd_watch(int argc, char **argv)
{
    struct watch_args a = {0};
    const char *pos = NULL;
    int npos = 0;
    if (cli_parse("watch", g_watch_opts, &a, 1, argc, argv, &pos, 0, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    const char *dir = a.dir;
    ftls_watcher_options wo;
    memset(&wo, 0, sizeof(wo));
    wo.debounce_ms = (unsigned)a.debounce_ms;
    wo.force_polling = a.poll_ms > 0;
    wo.poll_interval_ms = (unsigned)a.poll_ms;
    if (dir == NULL)
        return cli_usage_error("watch", "--dir is required");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */
    ftls_error *err = NULL;
    ftls_source *src = NULL;
    ftls_watcher *w = NULL;
    int rc = CLI_FAIL;
    if (ftls_error_new(&err) != FTLS_OK)
        return CLI_FAIL;
    if (ftls_source_new_identity_dir(dir, NULL, &src, err) != FTLS_OK ||
        ftls_source_set_event_callback(src, on_event, &a.json) != FTLS_OK ||
        ftls_watcher_new(&wo, &w, err) != FTLS_OK) {
        cli_report("cannot set up", err);
        goto done;
    }
    if (ftls_source_reload(src, err) != FTLS_OK) {
        /* printed by the event callback; keep watching for a fix */
    }
    if (ftls_watcher_add(w, src, err) != FTLS_OK ||
        ftls_watcher_start(w, err) != FTLS_OK) {
        cli_report("cannot watch", err);
        goto done;
    }
    if (!a.json)
        printf("watching %s (Ctrl-C to stop)\n", dir);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        fprintf(stderr, "freshtls watch: SIGHUP: reloading %s\n", dir);
        if (ftls_source_reload(src, NULL) != FTLS_OK)
            continue; /* the rejected event said why */
    }
    fprintf(stderr, "freshtls watch: stopping on signal %d\n", sig);
    rc = CLI_OK;
done:
    ftls_watcher_free(w);
    ftls_source_free(src);
    ftls_error_free(err);
    return rc;
}
