/*
 * Minimal test harness: one executable per test file, each a main() that
 * calls RUN(test_fn) for every case and ends with TEST_SUMMARY().
 * A failed CHECK prints file:line and the expression, and the case fails;
 * the executable's exit status is non-zero when any case failed.
 */
#ifndef FTLS_TEST_H
#define FTLS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FTLS_ARRAY_LEN
#define FTLS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#endif

static _Atomic int t_failed_checks; /* CHECK runs in threads too */
static int t_cases_passed;
static int t_cases_failed;

#define CHECK(expr)                                                            \
    do {                                                                       \
        if (!(expr)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #expr);                                                    \
            t_failed_checks++;                                                 \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long t_a = (long long)(a), t_b = (long long)(b);                  \
        if (t_a != t_b) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, t_a, t_b);                     \
            t_failed_checks++;                                                 \
        }                                                                      \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                        \
    do {                                                                       \
        const char *t_h = (hay), *t_n = (needle);                              \
        if (t_h == NULL || strstr(t_h, t_n) == NULL) {                         \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n",   \
                    __FILE__, __LINE__, t_h ? t_h : "(null)", t_n);            \
            t_failed_checks++;                                                 \
        }                                                                      \
    } while (0)

/* Abort the whole executable: for setup failures that make the rest moot. */
#define REQUIRE(expr)                                                          \
    do {                                                                       \
        if (!(expr)) {                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #expr);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define RUN(fn)                                                                \
    do {                                                                       \
        int t_before = t_failed_checks;                                        \
        fn();                                                                  \
        if (t_failed_checks == t_before) {                                     \
            t_cases_passed++;                                                  \
            printf("ok   %s\n", #fn);                                          \
        } else {                                                               \
            t_cases_failed++;                                                  \
            printf("FAIL %s\n", #fn);                                          \
        }                                                                      \
        fflush(stdout);                                                        \
    } while (0)

#define TEST_SUMMARY()                                                         \
    (printf("%d passed, %d failed\n", t_cases_passed, t_cases_failed),         \
     (t_cases_failed == 0 && t_cases_passed > 0) ? 0 : 1)

#endif /* FTLS_TEST_H */
