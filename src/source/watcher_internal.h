/* Test hook for the watcher. */
#ifndef FTLS_WATCHER_INTERNAL_H
#define FTLS_WATCHER_INTERNAL_H

#include <stdint.h>

typedef int (*ftls__add_watch_fn)(int fd, const char *path, uint32_t mask);
/* Replace inotify_add_watch (e.g. to simulate ENOSPC); NULL restores. */
void ftls__watcher_set_add_watch_hook(ftls__add_watch_fn fn);

#endif
