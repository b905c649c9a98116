/* The anchor for runtime_allgather_bench: the same loop over Open MPI's
 * MPI_Allgather (fp32), the same sizes, warm-up and median of `rounds` timed
 * rounds; with "registered" the blocks come from MPI_Alloc_mem.
 * Usage: [rounds [plain|registered]] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rounds = 0, registered = 0;
    if (bench_collective_args(argc, argv, &rounds, &registered) != 0)
        MPI_Abort(MPI_COMM_WORLD, 2);
    int n, me;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    size_t max = 64u << 20;
    float *send, *recv = malloc(max);
    if (registered)
        MPI_Alloc_mem((MPI_Aint)max, MPI_INFO_NULL, &send);
    else
        send = malloc(max);
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
    if (registered)
        MPI_Free_mem(send);
    else
        free(send);
    free(recv);
    MPI_Finalize();
    return 0;
}
