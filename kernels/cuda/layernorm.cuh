/* LayerNorm over rows of C, forward (alone, or after a residual add) and
 * backward (input, and weight and bias), as kernels/cpu/layernorm.c. Forward
 * and input gradient: one warp per row (row_blocks); weight gradient: column
 * sums (column_blocks x column_threads). Needs kernels/cuda/launch.cuh,
 * kernels/cuda/warp.cuh and rsqrtf from the includer. */
#ifndef PLAIT_KERNELS_CUDA_LAYERNORM_CUH
#define PLAIT_KERNELS_CUDA_LAYERNORM_CUH

/* The LayerNorm of row x by its warp, given the sum of the lane's columns
 * (c = lane, lane + WARP, ...), which are all the lane reads of x. */
__device__ inline void layernorm_warp_row(float *y, float *mean, float *rstd, const float *x,
                                          float lane_sum, const float *w, const float *b, int C)
{
    const int lane = threadIdx.x % WARP;
    float m = warp_sum(lane_sum) / C;
    float v = 0.0f;
    for (int c = lane; c < C; c += WARP)
        v += (x[c] - m) * (x[c] - m);
    float r = rsqrtf(warp_sum(v) / C + 1e-5f);
    for (int c = lane; c < C; c += WARP)
        y[c] = (x[c] - m) * r * w[c] + b[c];
    if (lane == 0) {
        *mean = m;
        *rstd = r;
    }
}

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *w, const float *b, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += WARP)
        s += x[c];
    layernorm_warp_row(out + (size_t)row * C, &mean[row], &rstd[row], x, s, w, b, C);
}

/* res = a + b (+ bias, may be null), and the LayerNorm of res, one warp per
 * row (after llm.c's fused_residual_forward): the sum reaches memory once
 * and the LayerNorm reads back only what its own lane wrote, where a
 * residual kernel and a LayerNorm kernel would read it from memory again. */
__global__ void residual_layernorm_forward_kernel(float *res, float *out, float *mean, float *rstd,
                                                  const float *a, const float *b, const float *bias,
                                                  const float *w, const float *ln_b, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= N)
        return;
    const size_t o = (size_t)row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += WARP) {
        const float x = a[o + c] + b[o + c] + (bias ? bias[c] : 0.0f);
        res[o + c] = x;
        s += x;
    }
    layernorm_warp_row(out + o, &mean[row], &rstd[row], res + o, s, w, ln_b, C);
}

/* Adds the input gradient to dinp. */
__global__ void layernorm_backward_input_kernel(float *dinp, const float *dout, const float *inp,
                                                const float *w, const float *mean,
                                                const float *rstd, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
    float m = mean[row], r = rstd[row], g_mean = 0.0f, g_xhat = 0.0f;
    for (int c = lane; c < C; c += WARP) {
        float g = w[c] * dy[c];
        g_mean += g;
        g_xhat += g * (x[c] - m) * r;
    }
    g_mean = warp_sum(g_mean) / C;
    g_xhat = warp_sum(g_xhat) / C;
    for (int c = lane; c < C; c += WARP)
        dinp[(size_t)row * C + c] += (w[c] * dy[c] - g_mean - (x[c] - m) * r * g_xhat) * r;
}

/* Adds the weight and bias gradients to dw and db. */
__global__ void layernorm_backward_weight_kernel(float *dw, float *db, const float *dout,
                                                 const float *inp, const float *mean,
                                                 const float *rstd, int N, int C)
{
    __shared__ float part_w[COLUMN_LANES][WARP + 1], part_b[COLUMN_LANES][WARP + 1];
    const int c = blockIdx.x * WARP + threadIdx.x;
    float gw = 0.0f, gb = 0.0f;
    if (c < C)
        for (int i = threadIdx.y; i < N; i += COLUMN_LANES) {
            float dy = dout[(size_t)i * C + c];
            gw += dy * (inp[(size_t)i * C + c] - mean[i]) * rstd[i];
            gb += dy;
        }
    part_w[threadIdx.y][threadIdx.x] = gw;
    part_b[threadIdx.y][threadIdx.x] = gb;
    __syncthreads();
    if (threadIdx.y != 0 || c >= C)
        return;
    for (int l = 1; l < COLUMN_LANES; l++) {
        gw += part_w[l][threadIdx.x];
        gb += part_b[l][threadIdx.x];
    }
    dw[c] += gw;
    db[c] += gb;
}

#endif
