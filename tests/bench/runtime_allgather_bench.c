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
#include "runtime_bench.h"

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0;
    if (bench_collective_args(argc, argv, &rounds, &registered) != 0)
        return 2;
    plait_context_t *ctx = bench_plait_init();
    plait_comm_t *w = plait_comm(ctx, PLAIT_GROUP_WORLD);
    int n = plait_comm_size(w);
    size_t max = 64u << 20;
    void *send = bench_buffer(ctx, max, registered);
    float *recv = bench_buffer(ctx, max, 0);
    memset(send, 1, max);
    memset(recv, 0, max);
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int iters = bench_collective_iters(bytes);
        size_t count = bytes / sizeof *recv / (size_t)n;
        for (int i = 0; i < 2; i++)
            bench_check(ctx, plait_allgather(w, send, recv, count, PLAIT_FLOAT32));
        double t[BENCH_MAX_ROUNDS];
        for (int round = 0; round < rounds; round++) {
            bench_check(ctx, plait_barrier(w));
            double t0 = bench_now();
            for (int i = 0; i < iters; i++)
                bench_check(ctx, plait_allgather(w, send, recv, count, PLAIT_FLOAT32));
            bench_check(ctx, plait_barrier(w));
            t[round] = (bench_now() - t0) / iters;
        }
        double m = bench_median(t, rounds), total = (double)(count * sizeof *recv * (size_t)n);
        if (plait_comm_rank(w) == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, total / m * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    bench_buffer_free(ctx, send, registered);
    bench_buffer_free(ctx, recv, 0);
    plait_finalize(ctx);
    return 0;
}
