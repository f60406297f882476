/* Internal view of sources, shared with the watcher. */
#ifndef FTLS_SOURCE_INTERNAL_H
#define FTLS_SOURCE_INTERNAL_H

#include <freshtls/source.h>

#include <pthread.h>

#include "base/fileio.h"
#include "base/internal.h"
#include "base/str.h"

/* What a source reads. */
enum ftls__source_kind {
    FTLS__SRC_DIR,   /* Kubernetes-style secret directory */
    FTLS__SRC_FILES, /* certificate and key files */
    FTLS__SRC_PEM,   /* one PEM with certificate(s) and key */
    FTLS__SRC_P12,   /* PKCS#12 */
    FTLS__SRC_MEM,   /* PEM in memory */
    FTLS__SRC_TRUST, /* CA bundle files */
    FTLS__SRC_SYSTEM /* the process-wide system roots */
};

struct ftls_source {
    enum ftls__source_kind kind;
    char *dir, *cert_name,
        *key_name; /* FTLS__SRC_DIR; FTLS__SRC_FILES in one directory */
    char *cert_path, *key_path;     /* FTLS__SRC_FILES in two directories */
    char *path;                     /* FTLS__SRC_PEM, FTLS__SRC_P12 */
    char *trust_files, *trust_dirs; /* FTLS__SRC_TRUST */
    ftls_roots_origin system_which; /* FTLS__SRC_SYSTEM */
    char *pass_file, *pass_env;
    struct ftls__buf mem_cert, mem_key; /* FTLS__SRC_MEM, guarded by mem_lock */
    pthread_mutex_t mem_lock;
    ftls_identity_options opts; /* strings point at the copies above */
    ftls_cell *cell;
    pthread_mutex_t load_lock;   /* serialises reloads; readers never take it */
    pthread_mutex_t status_lock; /* held only to copy status, never for I/O */
    ftls_source_status status;
    unsigned char content_hash[32];
    int have_hash;
    /* Expiry notices already sent for expiry_gen (status_lock):
     * bit 0 expiring, bit 1 expired. */
    uint64_t expiry_gen;
    int expiry_sent;
    ftls_source_event_fn cb;
    void *cb_ud;
    /* Internal listeners (factories, attachments), called after a publish
     * with listener_lock held, so removal waits for a running call. */
    pthread_mutex_t listener_lock;
    struct ftls__listener {
        void (*fn)(ftls_source *src, void *arg);
        void *arg;
    } * listeners;
    int nlisteners, caplisteners;
    char *desc; /* "dir:/etc/tls", ...; see ftls__source_describe_as */
};

struct ftls__pending_event {
    ftls_source_event_type type;
    ftls_code code;
    char message[512];
};

/* Set the description shown in logs and events (allocated to fit). On
 * FTLS_E_NOMEM the half-built *out is freed and set to NULL, so a
 * constructor can end with `return ftls__source_describe_as(out, ...)`. */
FTLS_NODISCARD ftls_code ftls__source_describe_as(ftls_source **out,
                                                  ftls_error *err,
                                                  const char *fmt, ...)
    FTLS_PRINTF(3, 4);
/* Replace dst with a NUL-terminated copy of p[0..n) (p NULL: empty);
 * the old bytes are wiped. FTLS_OK or FTLS_E_NOMEM (dst unchanged). */
FTLS_NODISCARD ftls_code ftls__buf_copy(struct ftls__buf *dst, const void *p,
                                        size_t n);

/* 1 for sources that publish trust (ftls_roots), 0 for identities. */
static inline int ftls__source_is_trust(const ftls_source *s)
{
    return s->kind == FTLS__SRC_TRUST || s->kind == FTLS__SRC_SYSTEM;
}

/* System-roots sources (source_system.c): stop following refreshes; called
 * by ftls_source_free() before anything is torn down. */
void ftls__source_system_detach(ftls_source *s);

/* Expiry over time (source_expiry.c). Emit `expiring` / `expired` for
 * the published identity if due at Unix time `now` (each once per
 * generation); returns the next Unix time worth checking again, 0 when
 * nothing is due any more (trust sources, nothing published, expired). */
int64_t ftls__source_check_expiry(ftls_source *s, int64_t now);
/* Effective warn-before-expiry in seconds, or -1 when disabled. */
int64_t ftls__source_warn_seconds(const ftls_source *s);

/* Allocate a source of `kind` (source.c). */
FTLS_NODISCARD ftls_code ftls__source_new(enum ftls__source_kind kind,
                                          const ftls_identity_options *o,
                                          ftls_source **out, ftls_error *err);

/* Listeners: called after every publish, on the reloading thread. */
typedef void (*ftls__source_listener_fn)(ftls_source *src, void *arg);
FTLS_NODISCARD ftls_code ftls__source_add_listener(ftls_source *s,
                                                   ftls__source_listener_fn fn,
                                                   void *arg);
void ftls__source_remove_listener(ftls_source *s, ftls__source_listener_fn fn,
                                  void *arg);

/* Log and deliver events (outside any source lock). */
void ftls__source_emit(ftls_source *s, const struct ftls__pending_event *pe,
                       int n);

/* Directories to watch and the paths whose content defines the source. */
struct ftls__watch_spec {
    struct ftls__strlist dirs;  /* directories to watch */
    struct ftls__strlist files; /* paths whose content defines the source */
};

/* 1 when the source lives in files a watcher can observe. */
int ftls__source_watchable(const ftls_source *src);
/* Fill *spec (no initialisation needed; free with ftls__watch_spec_free).
 * Returns FTLS_OK, FTLS_E_NOMEM, FTLS_E_TOO_LARGE (a path longer than
 * PATH_MAX) or FTLS_E_UNSUPPORTED (memory and system-roots sources); on
 * failure *spec is empty. */
FTLS_NODISCARD ftls_code ftls__source_watch_spec(const ftls_source *src,
                                                 struct ftls__watch_spec *spec);
void ftls__watch_spec_free(struct ftls__watch_spec *spec);
/* SHA-256 over stat data and contents of the source's files (polling). */
void ftls__source_fingerprint(const ftls_source *src, unsigned char out[32]);
/* Report a change in how the source is watched (0 none, 1 inotify,
 * 2 polling); emits FTLS_EVENT_DEGRADED when it falls back to polling
 * (why != FTLS_OK), not when polling was configured (why == FTLS_OK). */
void ftls__source_set_watching(ftls_source *src, int mode, ftls_code why,
                               const char *message);

#endif
