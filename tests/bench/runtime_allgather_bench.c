/* Host allgather (fp32) over the world of plait-run: for each total size
 * (every rank's block together, as nccl-tests counts it), the median of
 * `rounds` timed rounds of repeated allgathers after two warm-up calls, and
 * the bus bandwidth (size / time * (n-1)/n). Rank 0 prints "bytes time_us
 * busbw_GBs" per size; runtime_mpi_allgather_bench.c is the same loop over
 * MPI_Allgather. With "registered" the blocks come from plait_mem_alloc.
 * Usage: [rounds [plain|registered]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "runtime/plait.h"

static void check(plait_context_t *ctx, plait_status_t st)
{
    if (st != PLAIT_OK) {
        fprintf(stderr, "runtime_allgather_bench: %s\n", plait_error(ctx));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0;
    if (bench_collective_args(argc, argv, &rounds, &registered) != 0)
        return 2;
    plait_context_t *ctx;
    char err[512];
    if (plait_init(NULL, &ctx, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "runtime_allgather_bench: %s\n", err);
        return 1;
    }
    plait_comm_t *w = plait_comm(ctx, PLAIT_GROUP_WORLD);
    int n = plait_comm_size(w);
    size_t max = 64u << 20;
    void *send = NULL;
    if (registered)
        check(ctx, plait_mem_alloc(ctx, max, &send));
    else
        send = malloc(max);
    float *recv = malloc(max);
    memset(send, 1, max);
    memset(recv, 0, max);
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int iters = (int)((256u << 20) / bytes);
        iters = iters > 200 ? 200 : iters < 5 ? 5 : iters;
        size_t count = bytes / sizeof *recv / (size_t)n;
        for (int i = 0; i < 2; i++)
            check(ctx, plait_allgather(w, send, recv, count, PLAIT_FLOAT32));
        double t[BENCH_MAX_ROUNDS];
        for (int round = 0; round < rounds; round++) {
            check(ctx, plait_barrier(w));
            double t0 = bench_now();
            for (int i = 0; i < iters; i++)
                check(ctx, plait_allgather(w, send, recv, count, PLAIT_FLOAT32));
            check(ctx, plait_barrier(w));
            t[round] = (bench_now() - t0) / iters;
        }
        double m = bench_median(t, rounds), total = (double)(count * sizeof *recv * (size_t)n);
        if (plait_comm_rank(w) == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, total / m * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    if (registered)
        check(ctx, plait_mem_free(ctx, send));
    else
        free(send);
    free(recv);
    plait_finalize(ctx);
    return 0;
}
