/*
 * Snapshot cell read path against three baselines, measured side by side
 * in one run, interleaved per repetition so machine noise hits all alike:
 *   floor  - atomic pointer load + refcount increment + decrement
 *   mutex  - pointer read and refcount increment under a mutex
 *   rwlock - the same under a read lock
 * Each figure is the median over REPS of the per-thread time per
 * acquire+release with 1 and 2 threads running the same loop.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <freshtls/freshtls.h>
#include "bench.h"

#define REPS 9
#define ITERS 2000000L

struct obj {
    _Atomic long refs;
    long value;
};

static struct obj g_obj = {1, 42};
static _Atomic(struct obj *) g_ptr = &g_obj;
static struct obj *g_plain_ptr = &g_obj;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rwlock = PTHREAD_RWLOCK_INITIALIZER;
static ftls_cell *g_cell;
static volatile long g_sink;

static long run_floor(long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        struct obj *o = atomic_load_explicit(&g_ptr, memory_order_acquire);
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
        sum += o->value;
        atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel);
    }
    return sum;
}

static long run_mutex(long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&g_mutex);
        struct obj *o = g_plain_ptr;
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&g_mutex);
        sum += o->value;
        atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel);
    }
    return sum;
}

static long run_rwlock(long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&g_rwlock);
        struct obj *o = g_plain_ptr;
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
        pthread_rwlock_unlock(&g_rwlock);
        sum += o->value;
        atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel);
    }
    return sum;
}

static long run_snapshot(long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        ftls_snapshot *s = NULL;
        if (ftls_cell_get1_snapshot(g_cell, &s) != FTLS_OK)
            abort();
        sum += ((const struct obj *)ftls_snapshot_get0_data(s))->value;
        ftls_snapshot_free(s);
    }
    return sum;
}

typedef long (*loop_fn)(long);

struct job {
    loop_fn fn;
    pthread_barrier_t *start;
    double ns_per_op;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    j->fn(1000); /* warm up: first-read slot allocation, caches */
    pthread_barrier_wait(j->start);
    double t0 = bench_now_ns();
    g_sink = j->fn(ITERS);
    j->ns_per_op = (bench_now_ns() - t0) / (double)ITERS;
    return NULL;
}

/* Per-thread ns per acquire+release, averaged over the threads. */
static double measure(loop_fn fn, int threads)
{
    pthread_t th[2];
    struct job jobs[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){fn, &start, 0};
        if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0)
            abort();
    }
    double sum = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        sum += jobs[i].ns_per_op;
    }
    pthread_barrier_destroy(&start);
    return sum / threads;
}

/* Publish latency while two readers hammer the cell. */
static atomic_int g_stop;
static void *hammer(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        g_sink = run_snapshot(64);
    return NULL;
}

static double measure_publish_us(void)
{
    enum { N = 2000 };
    static struct obj objs[N];
    pthread_t th[2];
    atomic_store(&g_stop, 0);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    double t0 = bench_now_ns();
    for (int i = 0; i < N; i++) {
        objs[i].value = 42;
        if (ftls_cell_publish(g_cell, &objs[i], NULL, NULL) != FTLS_OK)
            abort();
    }
    double us = (bench_now_ns() - t0) / N / 1000.0;
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    return us;
}

int main(void)
{
    if (ftls_cell_new(NULL, NULL, &g_cell, NULL) != FTLS_OK ||
        ftls_cell_publish(g_cell, &g_obj, NULL, NULL) != FTLS_OK)
        return 1;

    static const struct {
        const char *name;
        loop_fn fn;
    } variants[] = {
        {"snapshot.acquire", run_snapshot},
        {"baseline.floor", run_floor},
        {"baseline.mutex", run_mutex},
        {"baseline.rwlock", run_rwlock},
    };
    enum { NV = sizeof(variants) / sizeof(variants[0]) };
    double samples[NV][2][REPS], med[NV][2];
    for (int r = 0; r < REPS; r++)
        for (int t = 0; t < 2; t++)
            for (int v = 0; v < NV; v++)
                samples[v][t][r] = measure(variants[v].fn, t + 1);
    for (int v = 0; v < NV; v++)
        for (int t = 0; t < 2; t++) {
            char name[64];
            med[v][t] = bench_median(samples[v][t], REPS);
            snprintf(name, sizeof(name), "%s.t%d", variants[v].name, t + 1);
            bench_line(name, med[v][t], "ns");
        }
    bench_ratio("snapshot.acquire_vs_floor.t1", med[0][0], med[1][0]);
    bench_ratio("snapshot.acquire_vs_mutex.t2", med[0][1], med[2][1]);
    bench_line("snapshot.publish_with_2_readers", measure_publish_us(), "us");
    ftls_cell_free(g_cell);
    return 0;
}
