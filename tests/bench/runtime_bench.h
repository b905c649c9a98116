/* What the libplait benchmarks share: a failed call ends the program with
 * the runtime's one-line error, and a buffer is plait_mem_alloc memory
 * (peers read it in place) or malloc'd, as the "registered" argument says. */
#ifndef PLAIT_TESTS_BENCH_RUNTIME_BENCH_H
#define PLAIT_TESTS_BENCH_RUNTIME_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/plait.h"

static inline void bench_check(plait_context_t *ctx, plait_status_t st)
{
    if (st != PLAIT_OK) {
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, plait_error(ctx));
        exit(1);
    }
}

static inline plait_context_t *bench_plait_init(void)
{
    plait_context_t *ctx;
    char err[512];
    if (plait_init(NULL, &ctx, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, err);
        exit(1);
    }
    return ctx;
}

static inline void *bench_buffer(plait_context_t *ctx, size_t bytes, int registered)
{
    void *p = NULL;
    if (registered)
        bench_check(ctx, plait_mem_alloc(ctx, bytes, &p));
    else if (!(p = malloc(bytes))) {
        fprintf(stderr, "%s: out of memory for %zu bytes\n", program_invocation_short_name, bytes);
        exit(1);
    }
    return p;
}

static inline void bench_buffer_free(plait_context_t *ctx, void *p, int registered)
{
    if (registered)
        bench_check(ctx, plait_mem_free(ctx, p));
    else
        free(p);
}

#endif
