/* The anchor for runtime_allgather_bench: the same loop over Open MPI's
 * MPI_Allgather (fp32), the same sizes, warm-up and median of `rounds` timed
 * rounds; with "registered" the blocks come from MPI_Alloc_mem.
 * Usage: [rounds [plain|registered]] */
#include <stdio.h>
#include <string.h>

#include "mpi_bench.h"

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0, n, me;
    mpi_bench_init(&argc, &argv, &rounds, &registered, &n, &me);
    size_t max = 64u << 20;
    float *send = mpi_bench_buffer(max, registered), *recv = mpi_bench_buffer(max, 0);
    memset(send, 1, max);
    memset(recv, 0, max);
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int iters = bench_collective_iters(bytes);
        int count = (int)(bytes / sizeof *recv / (size_t)n);
        for (int i = 0; i < 2; i++)
            MPI_Allgather(send, count, MPI_FLOAT, recv, count, MPI_FLOAT, MPI_COMM_WORLD);
        double t[BENCH_MAX_ROUNDS];
        for (int round = 0; round < rounds; round++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < iters; i++)
                MPI_Allgather(send, count, MPI_FLOAT, recv, count, MPI_FLOAT, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
            t[round] = (MPI_Wtime() - t0) / iters;
        }
        double m = bench_median(t, rounds), total = (double)count * sizeof *recv * n;
        if (me == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, total / m * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    mpi_bench_buffer_free(send, registered);
    mpi_bench_buffer_free(recv, 0);
    MPI_Finalize();
    return 0;
}
