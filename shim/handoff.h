/*
 * Generations handed from the process that reads the files (the one that
 * loaded the shim: nginx's master, a pre-forking server's parent, usually
 * root) to the processes it forks (workers, which may have dropped the
 * right to read a root-only key), through an anonymous shared mapping made
 * before any fork.
 *
 * The reader watches the file sources; each published (validated)
 * generation is written, as PEM, into that source's slot under a seqlock.
 * Every process, the reader included, serves from a memory source per slot
 * and brings it up to date at SSL_new() when the slot's generation moved:
 * the same validation runs again before it is published there. The slot
 * holds the private key, as every worker's memory does anyway; it is wiped
 * when overwritten. Only descendants of the reader share the mapping.
 */
#ifndef FTLS_SHIM_HANDOFF_H
#define FTLS_SHIM_HANDOFF_H

#include <freshtls/freshtls.h>

typedef void (*handoff_say_fn)(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* In the reader, before anything forks. 1 on success. */
int handoff_init(handoff_say_fn say);
/* Track a loaded file source: its current generation goes to a new slot,
 * and the returned memory source (attach this one) serves it. NULL when
 * no slot is left or the generation cannot be handed over. */
ftls_source *handoff_track(ftls_source *file);
/* The file source published a generation (its event callback, in the
 * reader): write it to the slot. */
void handoff_publish(const ftls_source *source);
/* In any process: load the generations that moved. Cheap when none did. */
void handoff_refresh(void);

#endif
