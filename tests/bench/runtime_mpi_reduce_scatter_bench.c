/* The anchor for runtime_reduce_scatter_bench: the same loops over Open
 * MPI's MPI_Reduce_scatter_block (fp32 sum) and MPI_Barrier, the same sizes,
 * warm-up and median of `rounds` timed rounds; with "registered" the send
 * buffer comes from MPI_Alloc_mem.
 * Usage: [rounds [plain|registered]] */
#include <stdio.h>

#include "mpi_bench.h"

#define BARRIERS 2000

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0, n, me;
    mpi_bench_init(&argc, &argv, &rounds, &registered, &n, &me);
    size_t max = 64u << 20;
    float *send = mpi_bench_buffer(max * (size_t)n, registered), *recv = mpi_bench_buffer(max, 0);
    for (size_t i = 0; i < max * (size_t)n / sizeof *send; i++)
        send[i] = 1.0f / (float)(i % 7 + 1);
    double t[BENCH_MAX_ROUNDS];
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int count = (int)(bytes / sizeof *recv);
        size_t total = bytes * (size_t)n;
        int iters = bench_collective_iters(total);
        for (int i = 0; i < 2; i++)
            MPI_Reduce_scatter_block(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int round = 0; round < rounds; round++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < iters; i++)
                MPI_Reduce_scatter_block(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
            t[round] = (MPI_Wtime() - t0) / iters;
        }
        double m = bench_median(t, rounds);
        if (me == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, (double)total / m * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    for (int round = 0; round < rounds; round++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < BARRIERS; i++)
            MPI_Barrier(MPI_COMM_WORLD);
        t[round] = (MPI_Wtime() - t0) / BARRIERS;
    }
    if (me == 0)
        printf("barrier %.2f\n", bench_median(t, rounds) * 1e6);
    mpi_bench_buffer_free(send, registered);
    mpi_bench_buffer_free(recv, 0);
    MPI_Finalize();
    return 0;
}
