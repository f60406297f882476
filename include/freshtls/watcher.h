/**
 * @file watcher.h
 * @brief Reload sources when their files change: inotify on the
 *        directories involved (surviving Kubernetes `..data` swaps,
 *        rename-over saves, in-place overwrites, and directories deleted
 *        and recreated), with a debounce window that coalesces bursts, and
 *        a polling fallback (stat plus content hash) when inotify is
 *        unavailable or out of watches.
 *
 * Integrate either with your event loop — poll ftls_watcher_get_fd() for
 * readability and call ftls_watcher_dispatch() — or let freshtls run a
 * thread with ftls_watcher_start(). For SIGHUP handlers and management
 * commands, call ftls_source_reload() directly.
 *
 * @par Thread-safety
 * ftls_watcher_add() and ftls_watcher_remove() may be called while the
 * watcher's thread runs. ftls_watcher_dispatch() must not be called from
 * two threads at once, nor while ftls_watcher_start()'s thread runs.
 * ftls_watcher_free() must not race with other calls on the same watcher.
 */
#ifndef FRESHTLS_WATCHER_H
#define FRESHTLS_WATCHER_H

#include <freshtls/error.h>
#include <freshtls/export.h>
#include <freshtls/source.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ftls_watcher ftls_watcher;

typedef struct ftls_watcher_options {
    /** Quiet period after a change before reloading; bursts inside it
     *  coalesce into one reload (capped at 10 windows). 0 means 25 ms.
     *  A Kubernetes `..data` swap is complete by construction and reloads
     *  at once. */
    unsigned debounce_ms;
    /** Polling interval when degraded to polling; 0 means 1000 ms. */
    unsigned poll_interval_ms;
    /** Never use inotify (for file systems that do not deliver events,
     *  e.g. some network mounts). */
    int force_polling;
} ftls_watcher_options;

/**
 * @brief Create a watcher. @p opts may be NULL.
 * @param[out] out set to NULL on entry; free with ftls_watcher_free().
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (out NULL); FTLS_E_NOMEM;
 *         FTLS_E_IO (timer or event descriptors could not be created).
 *         Without inotify the watcher still works by polling.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_watcher_new(
    const ftls_watcher_options *opts, ftls_watcher **out, ftls_error *err);

/** @brief Stop the thread if running and free. NULL is a no-op. @since 0.1.0 */
FTLS_API void ftls_watcher_free(ftls_watcher *w);

/**
 * @brief Watch a source (which must outlive its membership).
 *
 * Memory sources cannot be watched (FTLS_E_UNSUPPORTED). If inotify cannot
 * watch it, the source is polled and an FTLS_EVENT_DEGRADED event is
 * reported.
 * @par Thread-safety: safe while the watcher thread runs.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT; FTLS_E_UNSUPPORTED (a memory or
 *         system-roots source: nothing to watch); FTLS_E_STATE (a watcher
 *         inherited across fork()); FTLS_E_NOMEM.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_watcher_add(ftls_watcher *w,
                                                   ftls_source *src,
                                                   ftls_error *err);

/**
 * @brief Stop watching a source.
 * @return FTLS_OK; FTLS_E_INVALID_ARGUMENT (NULL); FTLS_E_NOT_FOUND (the
 *         source is not watched).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_watcher_remove(ftls_watcher *w,
                                                      ftls_source *src);

/**
 * @brief A file descriptor that becomes readable when dispatch has work.
 * @warning Borrowed: owned by the watcher. Only read readiness from it.
 * @return a descriptor that polls readable when ftls_watcher_dispatch() has
 *         work, or -1 for NULL.
 * @since 0.1.0
 */
FTLS_API int ftls_watcher_get_fd(const ftls_watcher *w);

/**
 * @brief Process pending changes without blocking: read events, run due
 *        reloads (on this thread), re-arm timers.
 * @warning Source event callbacks run inside this call and must not call
 *          ftls_watcher_* functions on the same watcher.
 * @return FTLS_OK (reload failures are reported through source events and
 *         status, not here); FTLS_E_INVALID_ARGUMENT; FTLS_E_STATE (a watcher
 *         inherited across fork()).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_watcher_dispatch(ftls_watcher *w,
                                                        ftls_error *err);

/**
 * @brief Run dispatch on an internal thread.
 * @par fork()
 * The thread does not survive fork(). In a child, a watcher created by the
 * parent reads as stopped: this function, ftls_watcher_add() and
 * ftls_watcher_dispatch() return FTLS_E_STATE (its inotify descriptor is
 * shared with the parent), and ftls_watcher_free() releases it without
 * waiting for a thread. Create a new watcher in the child.
 * @return FTLS_OK; FTLS_E_STATE (already running, or created before fork()
 *         in another process); FTLS_E_NOMEM (no thread).
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code ftls_watcher_start(ftls_watcher *w,
                                                     ftls_error *err);

/** @brief Stop the internal thread and wait for it. @since 0.1.0 */
FTLS_API void ftls_watcher_stop(ftls_watcher *w);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_WATCHER_H */
