/* Trust sources of the preload shim: the program's verify paths, or
 * freshtls exec's --roots / --client-ca. Each process that attaches a
 * context watches its own trust sources (CA files are readable by
 * workers; a watcher thread does not survive fork()). */
#include <pthread.h>
#include <unistd.h>

#include "shim.h"

static ftls_watcher *g_w;
static pid_t g_w_pid;
static pid_t g_roots_pid;

static void on_trust_event(const ftls_source_event *ev, void *ud)
{
    (void)ud;
    if (ev->type != FTLS_EVENT_UNCHANGED)
        shim_say("%s %s: %s", ftls_source_event_name(ev->type),
                 ftls_source_describe(ev->source), ev->message);
}

/* This process's watcher for trust files (called under the shim's lock). */
static ftls_watcher *watcher(void)
{
    if (g_w != NULL && g_w_pid == getpid())
        return g_w;
    ftls_watcher_free(g_w); /* a parent's: released, not joined */
    g_w = NULL;
    if (ftls_watcher_new(NULL, &g_w, NULL) != FTLS_OK ||
        ftls_watcher_start(g_w, NULL) != FTLS_OK) {
        ftls_watcher_free(g_w);
        g_w = NULL;
        return NULL;
    }
    g_w_pid = getpid();
    return g_w;
}

ftls_source *shim_trust_source(const char *files, const char *dirs, int system)
{
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        err = NULL; /* the calls below accept NULL */
    ftls_code rc =
        system ? ftls_source_new_system_roots(FTLS_ROOTS_SYSTEM, &s, err)
               : ftls_source_new_trust(files, dirs, &s, err);
    if (rc == FTLS_OK)
        rc = ftls_source_set_event_callback(s, on_trust_event, NULL);
    if (rc == FTLS_OK)
        rc = ftls_source_reload(s, err);
    if (rc == FTLS_OK && system && g_roots_pid != getpid()) {
        /* The OS store is followed by the roots watcher, once a process. */
        ftls_code w = ftls_roots_watch_start(500, err);
        rc = w == FTLS_E_STATE ? FTLS_OK : w;
        g_roots_pid = getpid();
    } else if (rc == FTLS_OK) {
        ftls_watcher *w = watcher();
        rc = w ? ftls_watcher_add(w, s, err) : FTLS_E_STATE;
    }
    if (rc != FTLS_OK) {
        shim_say("not following trust %s: %s",
                 system ? "system" : (files ? files : dirs),
                 err ? ftls_error_message(err) : ftls_code_name(rc));
        ftls_source_free(s);
        s = NULL;
    }
    ftls_error_free(err);
    return s;
}
