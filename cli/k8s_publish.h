/* The Kubernetes AtomicWriter sequence, written once: `freshtls demo` uses
 * it to rotate a secret volume, and the tests use it (through their
 * utility library) to rotate the directories they watch. */
#ifndef FTLS_CLI_K8S_PUBLISH_H
#define FTLS_CLI_K8S_PUBLISH_H

#include <stddef.h>

/* One file of a published generation. mode 0 means 0644. */
struct k8s_file {
    const char *name;
    const void *data;
    size_t len;
    int mode;
};

/*
 * Publish files into `dir` exactly as Kubernetes' AtomicWriter does:
 * write a new timestamped directory "..<ts>", point "..data_tmp" at it,
 * rename "..data_tmp" over "..data", create the missing user-visible
 * symlinks "<name> -> ..data/<name>", then delete the previous
 * timestamped directory. When swap_ns is not NULL it receives
 * CLOCK_MONOTONIC (ns) taken right before the rename of "..data".
 * Returns 1 on success, 0 on failure (errno set; a path too long for
 * PATH_MAX is ENAMETOOLONG).
 */
int k8s_publish(const char *dir, const struct k8s_file *files, int n,
                long long *swap_ns);

/* Write a whole file with `mode` (created or truncated). 1 on success. */
int k8s_write_file(const char *path, const void *data, size_t len, int mode);

/* Remove a tree, not following symlinks. Missing paths are fine. */
void k8s_rmrf(const char *path);

#endif
