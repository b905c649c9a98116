/* The linear layer's bias outside cuBLASLt: rows filled with it before a
 * product is added (fill_rows, blocks(N * O) x THREADS) and its gradient as
 * column sums (column_blocks x column_threads). Needs kernels/cuda/launch.cuh
 * from the includer. */
#ifndef PLAIT_KERNELS_CUDA_LINEAR_CUH
#define PLAIT_KERNELS_CUDA_LINEAR_CUH

__global__ void fill_rows_kernel(float *out, const float *b, int N, int O)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)N * O)
        out[i] = b[i % O];
}

/* Adds the column sums of dout[N, O] to db. */
__global__ void column_sum_kernel(float *db, const float *dout, int N, int O)
{
    __shared__ float part[COLUMN_LANES][WARP + 1];
    const int o = blockIdx.x * WARP + threadIdx.x;
    float s = 0.0f;
    if (o < O)
        for (int i = threadIdx.y; i < N; i += COLUMN_LANES)
            s += dout[(size_t)i * O + o];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y != 0 || o >= O)
        return;
    for (int l = 1; l < COLUMN_LANES; l++)
        s += part[l][threadIdx.x];
    db[o] += s;
}

#endif
