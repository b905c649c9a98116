/* Launch geometry shared by kernels/cuda/backend.cu and the host emulation
 * tests (tests/kernels/test_*_emulated.cpp), so that a test runs each kernel
 * with exactly the grid and block the backend launches. Needs dim3 and size_t
 * from the includer. */
#ifndef PLAIT_KERNELS_CUDA_LAUNCH_CUH
#define PLAIT_KERNELS_CUDA_LAUNCH_CUH

/* Threads per block of the one-dimensional kernels. */
constexpr int THREADS = 256;
constexpr int WARP = 32;

/* One thread per element. */
inline unsigned blocks(size_t n)
{
    return (unsigned)((n + THREADS - 1) / THREADS);
}

/* One warp per row: THREADS / WARP rows per block. */
inline unsigned row_blocks(int rows)
{
    return (unsigned)((rows + THREADS / WARP - 1) / (THREADS / WARP));
}

/* Column sums over N rows, deterministic: a block holds WARP columns x
 * COLUMN_LANES lanes, each lane a strided share of the rows, the lanes added
 * in order. */
constexpr int COLUMN_LANES = 32;

inline dim3 column_threads()
{
    return dim3(WARP, COLUMN_LANES);
}

inline unsigned column_blocks(int columns)
{
    return (unsigned)((columns + WARP - 1) / WARP);
}

#endif
