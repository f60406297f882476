/* Process-wide logging hook. The library never writes to stdout/stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fork.h"
#include "base/internal.h"
#include "base/str.h"

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static ftls_log_fn g_log_fn;
static void *g_log_userdata;
/* -1 when no callback is installed, so ftls__log_enabled() is one load. */
static atomic_int g_log_max = -1;

ftls_code ftls_log_set_callback(ftls_log_fn fn, void *userdata,
                                ftls_log_level max_level)
{
    if ((int)max_level < FTLS_LOG_ERROR || max_level > FTLS_LOG_DEBUG)
        return FTLS_E_INVALID_ARGUMENT;
    ftls__lock(&g_log_lock);
    g_log_fn = fn;
    g_log_userdata = userdata;
    atomic_store(&g_log_max, fn ? (int)max_level : -1);
    ftls__unlock(&g_log_lock);
    return FTLS_OK;
}

const char *ftls_log_level_name(ftls_log_level level)
{
    switch (level) {
    case FTLS_LOG_ERROR: return "error";
    case FTLS_LOG_WARN: return "warn";
    case FTLS_LOG_INFO: return "info";
    case FTLS_LOG_DEBUG: return "debug";
    }
    return "unknown";
}

size_t ftls__escape(char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return 0;
    char tmp[2048];
    size_t n = strnlen(buf, cap), o = 0;
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, buf, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tmp[i];
        int plain = c >= 0x20 && c < 0x7f;
        size_t need = plain ? 1 : 4;
        if (o + need >= cap)
            break; /* truncate rather than cut an escape in half */
        if (plain)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return o;
}

int ftls__log_enabled(ftls_log_level level)
{
    return (int)level <= atomic_load_explicit(&g_log_max, memory_order_relaxed);
}

void ftls__log(ftls_log_level level, const char *fmt, ...)
{
    if (!ftls__log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    ftls__str_vmessage(msg, sizeof(msg), fmt, ap); /* a cut line ends "..." */
    va_end(ap);
    ftls__escape(msg, sizeof(msg)); /* names and paths may come from peers */

    ftls__lock(&g_log_lock);
    ftls_log_fn fn = g_log_fn;
    void *ud = g_log_userdata;
    int max = atomic_load(&g_log_max);
    ftls__unlock(&g_log_lock);
    /* Called outside the lock so the callback may log or block freely. */
    if (fn != NULL && (int)level <= max)
        fn(level, msg, ud);
}

#if !defined(NDEBUG) || defined(FTLS_TEST_HOOKS)
/* A broken invariant is a bug in freshtls: say where through the log
 * callback (the library never prints), then stop before memory is reused. */
void ftls__assert_fail(const char *cond, const char *file, int line,
                       const char *func)
{
    ftls__log(FTLS_LOG_ERROR, "freshtls: assertion failed: %s (%s:%d, %s)",
              cond, file, line, func);
    abort();
}
#endif
