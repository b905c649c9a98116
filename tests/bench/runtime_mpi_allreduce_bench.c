/* The anchor for runtime_allreduce_bench: the same loop over Open MPI's
 * MPI_Allreduce (fp32 sum, in place), the same sizes, warm-up and median of
 * `rounds` timed rounds; with "registered" the buffer comes from
 * MPI_Alloc_mem. Usage: [rounds [plain|registered]] */
#include <stdio.h>

#include "mpi_bench.h"

int main(int argc, char **argv)
{
    int rounds = 0, registered = 0, n, me;
    mpi_bench_init(&argc, &argv, &rounds, &registered, &n, &me);
    size_t max = 64u << 20;
    float *buf = mpi_bench_buffer(max, registered);
    for (size_t i = 0; i < max / sizeof *buf; i++)
        buf[i] = 1.0f / (float)(i % 7 + 1);
    for (size_t bytes = 4 << 10; bytes <= max; bytes *= 4) {
        int iters = bench_collective_iters(bytes);
        int count = (int)(bytes / sizeof *buf);
        for (int i = 0; i < 2; i++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        /* The median of the timed rounds: on a shared machine it is steadier
         * than the best round, which rewards a lucky moment. */
        double t[BENCH_MAX_ROUNDS];
        for (int round = 0; round < rounds; round++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < iters; i++)
                MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
            double dt = (MPI_Wtime() - t0) / iters;
            t[round] = dt;
        }
        double m = bench_median(t, rounds);
        if (me == 0)
            printf("%zu %.1f %.3f\n", bytes, m * 1e6, (double)bytes / m * 2 * (n - 1) / n / 1e9);
        fflush(stdout);
    }
    mpi_bench_buffer_free(buf, registered);
    MPI_Finalize();
    return 0;
}
