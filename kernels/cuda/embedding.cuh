/* Token and position embeddings, forward and weight gradient, as
 * kernels/cpu/embedding.c; the token embedding may be a vocabulary shard
 * [v_begin, v_begin + v_count). One thread per element (blocks(n) x THREADS)
 * except the token gradient (token_embedding_backward_grid x THREADS). Needs
 * kernels/cuda/launch.cuh and int32_t from the includer. */
#ifndef PLAIT_KERNELS_CUDA_EMBEDDING_CUH
#define PLAIT_KERNELS_CUDA_EMBEDDING_CUH

/* Rows whose token lies outside the shard get zeros. */
__global__ void token_embedding_forward_kernel(float *out, const int32_t *tokens, const float *wte,
                                               int v_begin, int v_count, int N, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int v = tokens[i / C] - v_begin;
    out[i] = v >= 0 && v < v_count ? wte[(size_t)v * C + i % C] : 0.0f;
}

/* 0, 1, ..., n-1: the row numbers the token sort carries along. */
__global__ void iota_kernel(int32_t *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = i;
}

/* Block x is a sorted position, block y and the threads its channels. */
inline dim3 token_embedding_backward_grid(int N, int C)
{
    return dim3((unsigned)N, (unsigned)((C + THREADS - 1) / THREADS));
}

/* The rows sorted stably by token: a position that starts a run of equal
 * tokens adds the run's rows, in row order, to its token's row of dwte, so
 * repeated tokens add up deterministically, in parallel over distinct
 * tokens. */
__global__ void token_embedding_backward_kernel(float *dwte, const float *dout,
                                                const int32_t *sorted_tokens, const int32_t *rows,
                                                int v_begin, int v_count, int N, int C)
{
    const int i = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    const int token = sorted_tokens[i], v = token - v_begin;
    if (c >= C || (i > 0 && sorted_tokens[i - 1] == token) || v < 0 || v >= v_count)
        return;
    float s = 0.0f;
    for (int j = i; j < N && sorted_tokens[j] == token; j++)
        s += dout[(size_t)rows[j] * C + c];
    dwte[(size_t)v * C + c] += s;
}

/* Adds the position embedding to out. */
__global__ void position_embedding_forward_kernel(float *out, const float *wpe, int B, int T, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)B * T * C)
        out[i] += wpe[i % ((size_t)T * C)];
}

/* One thread per element of wpe, summing over the batch. */
__global__ void position_embedding_backward_kernel(float *dwpe, const float *dout, int B, int T,
                                                   int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)T * C)
        return;
    float s = 0.0f;
    for (int b = 0; b < B; b++)
        s += dout[(size_t)b * T * C + i];
    dwpe[i] += s;
}

#endif
