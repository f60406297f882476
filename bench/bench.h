/* Shared helpers for the benchmarks: timing, medians, output lines.
 * Output format: "BENCH <name> <value> <unit>" and "RATIO <name> <value>"
 * (ours divided by the baseline, by time: lower is better). */
#ifndef FTLS_BENCH_H
#define FTLS_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n samples (sorts in place). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void bench_line(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

static inline void bench_ratio(const char *name, double ours, double base)
{
    printf("RATIO %s %.3f\n", name, base > 0 ? ours / base : 0.0);
    fflush(stdout);
}

#endif
