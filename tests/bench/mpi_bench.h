/* What the Open MPI anchors of the libplait benchmarks share, as
 * runtime_bench.h for libplait's own: MPI and the arguments set up, and a
 * buffer from MPI_Alloc_mem or malloc, as the "registered" argument says. */
#ifndef PLAIT_TESTS_BENCH_MPI_BENCH_H
#define PLAIT_TESTS_BENCH_MPI_BENCH_H

#include <mpi.h>
#include <stdlib.h>

#include "bench.h"

/* MPI_Init, then [rounds [plain|registered]]; *n and *me: the world's size
 * and this rank. */
static inline void mpi_bench_init(int *argc, char ***argv, int *rounds, int *registered, int *n,
                                  int *me)
{
    MPI_Init(argc, argv);
    if (bench_collective_args(*argc, *argv, rounds, registered) != 0)
        MPI_Abort(MPI_COMM_WORLD, 2);
    MPI_Comm_size(MPI_COMM_WORLD, n);
    MPI_Comm_rank(MPI_COMM_WORLD, me);
}

static inline void *mpi_bench_buffer(size_t bytes, int registered)
{
    void *p = NULL;
    if (registered ? MPI_Alloc_mem((MPI_Aint)bytes, MPI_INFO_NULL, &p) != MPI_SUCCESS
                   : !(p = malloc(bytes)))
        MPI_Abort(MPI_COMM_WORLD, 1);
    return p;
}

static inline void mpi_bench_buffer_free(void *p, int registered)
{
    if (registered)
        MPI_Free_mem(p);
    else
        free(p);
}

#endif
