/**
 * @file log.h
 * @brief Process-wide logging hook. freshtls never prints by itself.
 *
 * @par Thread-safety
 * Safe from any thread; the callback is called outside freshtls' locks and
 * possibly from several threads at once (watcher, rebuilds, callers).
 */
#ifndef FRESHTLS_LOG_H
#define FRESHTLS_LOG_H

#include <freshtls/export.h>
#include <freshtls/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Severity of a log message; lower is more severe. */
typedef enum ftls_log_level {
    FTLS_LOG_ERROR = 0,
    FTLS_LOG_WARN = 1,
    FTLS_LOG_INFO = 2,
    FTLS_LOG_DEBUG = 3
} ftls_log_level;

/**
 * @brief Logging callback.
 * @param level   severity.
 * @param message NUL-terminated text without a trailing newline, printable
 *        ASCII only: bytes that may come from peers or file names
 *        (control characters, DEL, non-ASCII) are escaped as \xNN, so a
 *        message is one safe line. (Error messages, ftls_error_message(),
 *        are escaped the same way.)
 * @warning @p message is borrowed for the duration of the call only.
 * @warning May be called from any thread freshtls runs on, including its
 *          internal watcher threads, concurrently. It must not call
 *          ftls_log_set_callback().
 */
typedef void (*ftls_log_fn)(ftls_log_level level, const char *message,
                            void *userdata);

/**
 * @brief Install (or, with fn NULL, remove) the process-wide log callback.
 *
 * Messages more verbose than @p max_level are dropped before formatting.
 * @return FTLS_OK, or FTLS_E_INVALID_ARGUMENT for a level out of range.
 * @par Thread-safety: safe to call from any thread; a message being
 *      delivered concurrently may still go to the previous callback.
 * @since 0.1.0
 */
FTLS_API FTLS_NODISCARD ftls_code
ftls_log_set_callback(ftls_log_fn fn, void *userdata, ftls_log_level max_level);

/**
 * @brief Stable lowercase name of a level ("error", "warn", ...).
 * @return a static string ("error", "warn", "info", "debug"); "unknown"
 *         otherwise.
 * @since 0.1.0
 */
FTLS_API const char *ftls_log_level_name(ftls_log_level level);

#ifdef __cplusplus
}
#endif
#endif /* FRESHTLS_LOG_H */
