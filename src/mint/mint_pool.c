/*
 * Prepared leaf keys (ftls_ca_prepare_keys): a background thread keeps up
 * to `cap` blanks ready, each a fresh P-256 key already set as the public
 * key of a new certificate, so a mint takes one instead of generating a
 * key (and, without the deprecated EC_KEY API, paying X509_set_pubkey)
 * while the client waits. Every blank is used once; an empty pool means
 * the mint generates inline, as without a pool.
 *
 * fork(): a child must never use a key its parent also holds. A pool
 * belongs to the process that created it (p->pid); in a child it is dead:
 * never locked (its mutex may have been held at the fork), never taken
 * from, and freed without its thread (which the child does not have).
 * The keys it holds are wiped when the CA is freed there. Each key is
 * generated inside a library operation (base/fork.h), so fork() waits for
 * it: the child never inherits an OpenSSL lock (its random generator's,
 * say) held mid-generation by a thread it does not have.
 *
 * The last ftls_ca_free() joins the thread. The thread never waits on the
 * fork gate (it tries, and sleeps 10 ms when a fork is being prepared), so
 * that join cannot deadlock with a fork waiting for the freeing thread's
 * own operation.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "base/fork.h"
#include "mint/mint_internal.h"

#define POOL_MAX 1024

struct ftls__key_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the refill thread waits here for room */
    X509 **x;
    EVP_PKEY **k;
    size_t n, cap;
    int stop;
    uint64_t taken;
    pid_t pid; /* the process whose thread fills the pool */
    pthread_t th;
};

static void blanks_free(struct ftls__key_pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        X509_free(p->x[i]);
        EVP_PKEY_free(p->k[i]); /* clears the private scalar */
    }
    p->n = 0;
}

/* Wait `ms` (or until woken), then retry: after a failed generation (out
 * of memory), or while a fork is being prepared. */
static void pause_locked(struct ftls__key_pool *p, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    (void)pthread_cond_timedwait(&p->cv, &p->mu, &until);
}

static void *refill(void *arg)
{
    struct ftls__key_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Refill in batches, from half empty to full: generating while
         * mints run contends with them on OpenSSL's locks, so a burst of
         * up to cap/2 new names meets no background work at all. */
        if (p->n >= p->cap)
            while (!p->stop && p->n > p->cap / 2)
                pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu); /* generate without the lock */
        if (!ftls__op_try_enter()) {  /* a fork is being prepared */
            pthread_mutex_lock(&p->mu);
            pause_locked(p, 10);
            continue;
        }
        X509 *x = X509_new();
        EVP_PKEY *k = x ? ftls__mint_key_new(x) : NULL;
        ftls__op_exit();
        pthread_mutex_lock(&p->mu);
        if (k == NULL) {
            X509_free(x);
            pause_locked(p, 50);
        } else if (p->n < p->cap && !p->stop) {
            p->x[p->n] = x;
            p->k[p->n++] = k;
        } else {
            X509_free(x);
            EVP_PKEY_free(k);
        }
    }
    pthread_mutex_unlock(&p->mu);
    OPENSSL_thread_stop();
    return NULL;
}

void ftls__pool_free(struct ftls__key_pool *p)
{
    if (p == NULL)
        return;
    if (p->pid == ftls__pid()) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    } /* in a child: no thread to stop, and the mutex is not ours to touch */
    blanks_free(p);
    ftls__free(p->x);
    ftls__free(p->k);
    ftls__free(p);
}

int ftls__pool_take(ftls_ca *ca, X509 **x, EVP_PKEY **k)
{
    struct ftls__key_pool *p =
        atomic_load_explicit(&ca->pool, memory_order_acquire);
    if (p == NULL || p->pid != ftls__pid())
        return 0;
    int got = 0;
    pthread_mutex_lock(&p->mu);
    if (p->n > 0) {
        p->n--;
        *x = p->x[p->n];
        *k = p->k[p->n];
        p->taken++;
        got = 1;
        if (p->n <= p->cap / 2)
            pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

void ftls__pool_stats(ftls_ca *ca, size_t *ready, uint64_t *taken)
{
    struct ftls__key_pool *p =
        atomic_load_explicit(&ca->pool, memory_order_acquire);
    *ready = 0;
    *taken = 0;
    if (p == NULL || p->pid != ftls__pid())
        return;
    pthread_mutex_lock(&p->mu);
    *ready = p->n;
    *taken = p->taken;
    pthread_mutex_unlock(&p->mu);
}

/* The refill thread takes no signal meant for the application. */
static int start_thread(struct ftls__key_pool *p)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->th, NULL, refill, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0;
}

ftls_code ftls_ca_prepare_keys(ftls_ca *ca, size_t n, ftls_error *err)
{
    FTLS_GUARD_ARG(ca != NULL && n >= 1 && n <= POOL_MAX, err,
                   "ca is NULL or n is not 1..1024");
    if (atomic_load_explicit(&ca->pool, memory_order_acquire) != NULL)
        return ftls__err(err, FTLS_E_STATE, "ca: keys are already prepared");
    struct ftls__key_pool *p = ftls__calloc(1, sizeof(*p));
    if (p == NULL || (p->x = ftls__calloc(n, sizeof(*p->x))) == NULL ||
        (p->k = ftls__calloc(n, sizeof(*p->k))) == NULL) {
        if (p != NULL)
            ftls__free(p->x);
        ftls__free(p);
        return ftls__err(err, FTLS_E_NOMEM, "ca: out of memory");
    }
    p->cap = n;
    p->pid = ftls__pid();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!start_thread(p)) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        ftls__free(p->x);
        ftls__free(p->k);
        ftls__free(p);
        return ftls__err(err, FTLS_E_INTERNAL,
                         "ca: cannot start the key thread");
    }
    struct ftls__key_pool *none = NULL;
    if (!atomic_compare_exchange_strong(&ca->pool, &none, p)) {
        ftls__pool_free(p); /* another thread enabled it first */
        return ftls__err(err, FTLS_E_STATE, "ca: keys are already prepared");
    }
    return FTLS_OK;
}
