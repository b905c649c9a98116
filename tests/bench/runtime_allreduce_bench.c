/* Host allreduce (fp32 sum, in place) over the world of plait-run: for each size, the
 * average time of repeated in-place allreduces, and the bus bandwidth as
 * nccl-tests defines it (size / time * 2(n-1)/n). Rank 0 prints
 * "bytes time_us busbw_GBs" per size. runtime_mpi_allreduce_bench.c is the
 * same loop over MPI_Allreduce. Each size: two warm-up calls, then the median
 * of `rounds` timed rounds (argument, default 5). With "registered" the
 * buffer comes from plait_mem_alloc (the anchor's from MPI_Alloc_mem).
 * Usage: [rounds [plain|registered]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
    float *buf = bench_buffer(ctx, max, registered);
    for (size_t i = 0; i < max / sizeof *buf; i++)
        buf[i] = 1.0f / (float)(i % 7 + 1);
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int iters = bench_collective_iters(bytes);
        size_t count = bytes / sizeof *buf;
        for (int i = 0; i < 2; i++)
            bench_check(ctx, plait_allreduce(w, buf, buf, count, PLAIT_FLOAT32, PLAIT_SUM));
        /* The median of the timed rounds: on a shared machine it is steadier
         * than the best round, which rewards a lucky moment. */
        double t[BENCH_MAX_ROUNDS];
        for (int round = 0; round < rounds; round++) {
            bench_check(ctx, plait_barrier(w));
            double t0 = bench_now();
            for (int i = 0; i < iters; i++)
                bench_check(ctx, plait_allreduce(w, buf, buf, count, PLAIT_FLOAT32, PLAIT_SUM));
            bench_check(ctx, plait_barrier(w));
            double dt = (bench_now() - t0) / iters;
            t[round] = dt;
        }
        double m = bench_median(t, rounds);
        if (plait_comm_rank(w) == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, (double)bytes / m * 2 * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    bench_buffer_free(ctx, buf, registered);
    plait_finalize(ctx);
    return 0;
}
