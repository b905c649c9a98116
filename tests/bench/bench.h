/* What every benchmark program shares: a monotonic clock, medians, and the
 * results file that takes one JSON line per figure (docs/performance.md). */
#ifndef PLAIT_TESTS_BENCH_H
#define PLAIT_TESTS_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0; sorts v. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* $PLAIT_BENCH_RESULTS, else build/bench/results.jsonl, opened for appending;
 * NULL after a message naming the file. */
static inline FILE *bench_results_open(const char *program)
{
    const char *path = getenv("PLAIT_BENCH_RESULTS");
    if (!path)
        path = "build/bench/results.jsonl";
    FILE *f = fopen(path, "a");
    if (!f)
        fprintf(stderr, "%s: cannot append to %s\n", program, path);
    return f;
}

static inline void bench_emit(FILE *f, const char *bench, const char *metric, double value,
                              const char *unit, const char *anchor, double anchor_value,
                              double ratio, const char *goal)
{
    fprintf(f,
            "{\"bench\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",\"anchor\":\"%s\","
            "\"anchor_value\":%.6g,\"ratio\":%.6g,\"goal\":\"%s\"}\n",
            bench, metric, value, unit, anchor, anchor_value, ratio, goal);
}

/* The collective benchmarks' arguments, [rounds [plain|registered]]: the
 * number of timed rounds (default 5, at most BENCH_MAX_ROUNDS) and whether
 * the buffers are registered memory. 0, or 2 after a message naming the bad
 * argument. */
#define BENCH_MAX_ROUNDS 31

/* Collective calls a timed round makes at `bytes`: about 256 MiB moved,
 * 5 to 200 calls. */
static inline int bench_collective_iters(size_t bytes)
{
    size_t iters = ((size_t)256 << 20) / bytes;
    return iters > 200 ? 200 : iters < 5 ? 5 : (int)iters;
}

static inline int bench_collective_args(int argc, char **argv, int *rounds, int *registered)
{
    *rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (*rounds < 1 || *rounds > BENCH_MAX_ROUNDS) {
        fprintf(stderr, "%s: rounds '%s': expected 1 to %d\n", argv[0], argv[1], BENCH_MAX_ROUNDS);
        return 2;
    }
    const char *mem = argc > 2 ? argv[2] : "plain";
    *registered = strcmp(mem, "registered") == 0;
    if (!*registered && strcmp(mem, "plain") != 0) {
        fprintf(stderr, "%s: memory '%s': expected plain or registered\n", argv[0], mem);
        return 2;
    }
    return 0;
}

#endif
