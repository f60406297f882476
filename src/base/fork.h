/*
 * Behaviour across fork(): see docs/design/fork.md.
 *
 * Every library mutex is held inside an "operation" (ftls__lock() and
 * ftls__unlock() below bracket one). A pthread_atfork prepare handler
 * closes a gate so that no thread starts a new operation, and waits until
 * none is in flight: the child therefore never inherits a library mutex
 * held by a thread that does not exist there. The child handlers then
 * reopen the gate and reset per-thread state that belonged to threads the
 * child does not have (reader slots, watcher threads).
 *
 * Operations nest per thread; only the outermost one counts.
 */
#ifndef FTLS_FORK_H
#define FTLS_FORK_H

#include <pthread.h>
#include <sys/types.h>

/* Enter and leave an operation: may wait while a fork() is being prepared. */
void ftls__op_enter(void);
/* Enter an operation unless a fork() is being prepared: 1 entered (leave
 * with ftls__op_exit), 0 not (nothing to leave). For background threads
 * that must never wait on the gate while someone may be waiting for them. */
int ftls__op_try_enter(void);
void ftls__op_exit(void);

/* A library mutex held only inside an operation. */
static inline void ftls__lock(pthread_mutex_t *m)
{
    ftls__op_enter();
    pthread_mutex_lock(m);
}

static inline void ftls__unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
    ftls__op_exit();
}

/* Handlers run in the child after the library's own state is reset, in
 * registration order (a fixed, small number of internal modules). */
typedef void (*ftls__fork_child_fn)(void);
void ftls__fork_on_child(ftls__fork_child_fn fn);

/* The process id this library state belongs to: changes in a child. */
pid_t ftls__pid(void);

#endif /* FTLS_FORK_H */
