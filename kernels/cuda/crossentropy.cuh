/* Softmax cross-entropy over a vocabulary shard of V logits per row, in
 * three passes with the stage's reductions between them, as
 * kernels/cpu/crossentropy.c: row maxima and row sums one warp per row
 * (row_blocks x THREADS), the gradient in place one thread per logit
 * (blocks(N * V) x THREADS). Needs kernels/cuda/launch.cuh,
 * kernels/cuda/warp.cuh, INFINITY, expf and int32_t from the includer. */
#ifndef PLAIT_KERNELS_CUDA_CROSSENTROPY_CUH
#define PLAIT_KERNELS_CUDA_CROSSENTROPY_CUH

__global__ void row_max_kernel(float *max, const float *logits, int N, int V)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= N)
        return;
    float m = -INFINITY;
    for (int v = lane; v < V; v += WARP)
        m = fmaxf(m, logits[(size_t)row * V + v]);
    m = warp_max(m);
    if (lane == 0)
        max[row] = m;
}

/* sums[row] = sum of exp(logit - max[row]); sums[N + row] = the target's
 * logit when the target lies in this shard, else 0. */
__global__ void row_sums_kernel(float *sums, const float *logits, const float *max,
                                const int32_t *targets, int v_begin, int N, int V)
{
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= N)
        return;
    const float *l = logits + (size_t)row * V;
    float s = 0.0f;
    for (int v = lane; v < V; v += WARP)
        s += expf(l[v] - max[row]);
    s = warp_sum(s);
    if (lane == 0) {
        sums[row] = s;
        int t = targets[row] - v_begin;
        sums[N + row] = t >= 0 && t < V ? l[t] : 0.0f;
    }
}

/* The logits become scale / N times (softmax - one-hot target). */
__global__ void crossentropy_backward_kernel(float *logits, const float *max, const float *sums,
                                             const int32_t *targets, int v_begin, int N, int V,
                                             float scale)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * V)
        return;
    int row = (int)(i / V), v = (int)(i % V);
    float s = scale / N;
    float d = s * expf(logits[i] - max[row]) / sums[row];
    if (v == targets[row] - v_begin)
        d -= s;
    logits[i] = d;
}

#endif
