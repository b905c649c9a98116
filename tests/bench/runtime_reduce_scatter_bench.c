/* Host reduce-scatter (fp32 sum) over the world of plait-run: for each
 * size of a rank's output (4 KiB to 64 MiB), the median of `rounds` timed
 * rounds of repeated reduce-scatters after two warm-up calls, and the bus
 * bandwidth as nccl-tests defines it for reduce-scatter, from the whole
 * send buffer S = n x the output: S / time * (n-1)/n. Rank 0 prints
 * "bytes time_us busbw_GBs" per size (bytes: the output), then
 * "barrier time_us", the median over the rounds of a barrier's mean time.
 * runtime_mpi_reduce_scatter_bench.c is the same over
 * MPI_Reduce_scatter_block and MPI_Barrier. With "registered" the send
 * buffer comes from plait_mem_alloc.
 * Usage: [rounds [plain|registered]] */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "runtime_bench.h"

/* Barriers a timed round of the barrier's latency makes. */
#define BARRIERS 2000

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0;
    if (bench_collective_args(argc, argv, &rounds, &registered) != 0)
        return 2;
    plait_context_t *ctx = bench_plait_init();
    plait_comm_t *w = plait_comm(ctx, PLAIT_GROUP_WORLD);
    int n = plait_comm_size(w);
    size_t max = 64u << 20;
    float *send = bench_buffer(ctx, max * (size_t)n, registered);
    float *recv = bench_buffer(ctx, max, 0);
    for (size_t i = 0; i < max * (size_t)n / sizeof *send; i++)
        send[i] = 1.0f / (float)(i % 7 + 1);
    double t[BENCH_MAX_ROUNDS];
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        size_t count = bytes / sizeof *recv, total = bytes * (size_t)n;
        int iters = bench_collective_iters(total);
        for (int i = 0; i < 2; i++)
            bench_check(ctx, plait_reduce_scatter(w, send, recv, count, PLAIT_FLOAT32, PLAIT_SUM));
        for (int round = 0; round < rounds; round++) {
            bench_check(ctx, plait_barrier(w));
            double t0 = bench_now();
            for (int i = 0; i < iters; i++)
                bench_check(ctx,
                            plait_reduce_scatter(w, send, recv, count, PLAIT_FLOAT32, PLAIT_SUM));
            bench_check(ctx, plait_barrier(w));
            t[round] = (bench_now() - t0) / iters;
        }
        double m = bench_median(t, rounds);
        if (plait_comm_rank(w) == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, (double)total / m * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    for (int round = 0; round < rounds; round++) {
        bench_check(ctx, plait_barrier(w));
        double t0 = bench_now();
        for (int i = 0; i < BARRIERS; i++)
            bench_check(ctx, plait_barrier(w));
        t[round] = (bench_now() - t0) / BARRIERS;
    }
    if (plait_comm_rank(w) == 0)
        printf("barrier %.2f\n", bench_median(t, rounds) * 1e6);
    bench_buffer_free(ctx, send, registered);
    bench_buffer_free(ctx, recv, 0);
    plait_finalize(ctx);
    return 0;
}
