/* The CUDA backend's causal attention kernels, in a header of their own so
 * that tests/kernels/test_attention_emulated.cpp can run the same source on
 * the host. Layout as in kernels/cpu/ops.h: qkv rows [q | k | v], each H
 * heads of HD; out rows H heads of HD; one log-sum-exp (and one delta) per
 * (batch, head, query row). Launches: the flash kernels attention_grid x
 * FA_ROWS, the delta kernel blocks(B * H * T) x THREADS. Needs
 * kernels/cuda/launch.cuh, INFINITY, size_t, min, max, rsqrtf, expf, logf,
 * __float2bfloat16 and __bfloat162float from the includer. */
#ifndef PLAIT_KERNELS_CUDA_ATTENTION_CUH
#define PLAIT_KERNELS_CUDA_ATTENTION_CUH

/* Flash-style causal attention (after FlashAttention-2, Dao 2023): one
 * thread per query row, blocks of FA_ROWS rows of one (batch, head), keys and
 * values streamed through shared memory FA_ROWS at a time with an online
 * softmax. Only the output and one log-sum-exp per row reach device memory;
 * the backward recomputes the probabilities from them. */
constexpr int FA_ROWS = 64;
constexpr int FA_QUERIES = 16; /* query rows per tile in the key-side backward */

/* A block per tile of FA_ROWS query (or key) rows of one (batch, head). */
inline dim3 attention_grid(int B, int T, int H)
{
    return dim3((unsigned)((T + FA_ROWS - 1) / FA_ROWS), (unsigned)H, (unsigned)B);
}

/* Keys and values k0..k0+FA_ROWS-1 of one (batch, head) into shared memory,
 * zeros past T; `base` points at the head's q of row 0. Called by the whole
 * block; waits until the previous tile is no longer read. */
template <int HD>
__device__ void load_key_tile(float (*ks)[HD], float (*vs)[HD], const float *base, int k0, int T,
                              int C)
{
    __syncthreads();
    for (int e = threadIdx.x; e < FA_ROWS * HD; e += FA_ROWS) {
        int j = e / HD, i = e % HD, u = k0 + j;
        ks[j][i] = u < T ? base[(size_t)u * 3 * C + C + i] : 0.0f;
        vs[j][i] = u < T ? base[(size_t)u * 3 * C + 2 * C + i] : 0.0f;
    }
    __syncthreads();
}

template <int HD>
__global__ void __launch_bounds__(FA_ROWS)
    flash_forward_kernel(float *out, float *lse, const float *qkv, int T, int H)
{
    __shared__ __align__(16) float ks[FA_ROWS][HD], vs[FA_ROWS][HD];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z;
    const int q0 = blockIdx.x * FA_ROWS, t = q0 + threadIdx.x;
    const bool active = t < T;
    const float *base = qkv + (size_t)b * T * C3 + h * HD;
    const float scale = rsqrtf((float)HD);
    float q[HD], o[HD], s[FA_ROWS];
#pragma unroll
    for (int i = 0; i < HD; i++) {
        q[i] = active ? base[(size_t)t * C3 + i] * scale : 0.0f;
        o[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const int keys = min(T, q0 + FA_ROWS);
    for (int k0 = 0; k0 < keys; k0 += FA_ROWS) {
        load_key_tile<HD>(ks, vs, base, k0, T, C);
        const int n = active ? min(FA_ROWS, t - k0 + 1) : 0; /* keys k0..t */
        if (n <= 0)
            continue;
        float mt = m;
#pragma unroll
        for (int j = 0; j < FA_ROWS; j++) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < HD; i++)
                d += q[i] * ks[j][i];
            s[j] = d;
            if (j < n)
                mt = fmaxf(mt, d);
        }
        const float corr = expf(m - mt);
        l *= corr;
#pragma unroll
        for (int i = 0; i < HD; i++)
            o[i] *= corr;
#pragma unroll
        for (int j = 0; j < FA_ROWS; j++) {
            if (j < n) {
                float p = expf(s[j] - mt);
                l += p;
#pragma unroll
                for (int i = 0; i < HD; i++)
                    o[i] += p * vs[j][i];
            }
        }
        m = mt;
    }
    if (!active)
        return;
    float *y = out + ((size_t)b * T + t) * C + h * HD;
#pragma unroll
    for (int i = 0; i < HD; i++)
        y[i] = o[i] / l;
    lse[((size_t)b * H + h) * T + t] = m + logf(l);
}

/* delta[row] = dout[row] . out[row], the softmax backward's row term. With
 * bf16_dout, dout is rounded to bf16 first, as the tensor-core kernels'
 * dP = dO V^T sees it: dP - delta then carries no rounding bias common to
 * the whole row (at T = 1, where dP = delta exactly, it would be all of dS). */
__global__ void attention_delta_kernel(float *delta, const float *dout, const float *out, int B,
                                       int T, int H, int hd, bool bf16_dout)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * H * T)
        return;
    int t = (int)(idx % T), h = (int)(idx / T % H), b = (int)(idx / ((size_t)T * H));
    size_t off = ((size_t)b * T + t) * H * hd + (size_t)h * hd;
    float d = 0.0f;
    for (int i = 0; i < hd; i++)
        d += (bf16_dout ? __bfloat162float(__float2bfloat16(dout[off + i])) : dout[off + i]) *
             out[off + i];
    delta[idx] = d;
}

/* dq of one query row per thread, keys and values streamed as forward. */
template <int HD>
__global__ void __launch_bounds__(FA_ROWS)
    flash_backward_query_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                const float *delta, int T, int H)
{
    __shared__ __align__(16) float ks[FA_ROWS][HD], vs[FA_ROWS][HD];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z;
    const int q0 = blockIdx.x * FA_ROWS, t = q0 + threadIdx.x;
    const bool active = t < T;
    const float *base = qkv + (size_t)b * T * C3 + h * HD;
    const float *dy = dout + ((size_t)b * T + t) * C + h * HD;
    const float scale = rsqrtf((float)HD);
    const size_t row = ((size_t)b * H + h) * T + t;
    const float row_lse = active ? lse[row] : 0.0f, row_delta = active ? delta[row] : 0.0f;
    float q[HD], g[HD], dq[HD];
#pragma unroll
    for (int i = 0; i < HD; i++) {
        q[i] = active ? base[(size_t)t * C3 + i] * scale : 0.0f;
        g[i] = active ? dy[i] : 0.0f;
        dq[i] = 0.0f;
    }
    const int keys = min(T, q0 + FA_ROWS);
    for (int k0 = 0; k0 < keys; k0 += FA_ROWS) {
        load_key_tile<HD>(ks, vs, base, k0, T, C);
        const int n = active ? min(FA_ROWS, t - k0 + 1) : 0;
        for (int j = 0; j < n; j++) {
            float sc = 0.0f, dp = 0.0f;
#pragma unroll
            for (int i = 0; i < HD; i++) {
                sc += q[i] * ks[j][i];
                dp += g[i] * vs[j][i];
            }
            const float ds = expf(sc - row_lse) * (dp - row_delta);
#pragma unroll
            for (int i = 0; i < HD; i++)
                dq[i] += ds * ks[j][i];
        }
    }
    if (!active)
        return;
    float *out = dqkv + ((size_t)b * T + t) * C3 + h * HD;
#pragma unroll
    for (int i = 0; i < HD; i++)
        out[i] = dq[i] * scale;
}

/* dk and dv of one key row per thread, over the query rows t >= u streamed
 * FA_QUERIES at a time. The thread's key and value rows live in padded shared
 * memory (each thread reads its own row only) so that the two accumulators
 * fit in registers. */
template <int HD>
__global__ void __launch_bounds__(FA_ROWS)
    flash_backward_key_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
                              const float *delta, int T, int H)
{
    __shared__ __align__(16) float qs[FA_QUERIES][HD], gs[FA_QUERIES][HD], lse_s[FA_QUERIES],
        delta_s[FA_QUERIES];
    __shared__ float k_own[FA_ROWS][HD + 1], v_own[FA_ROWS][HD + 1];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z;
    const int u0 = blockIdx.x * FA_ROWS, u = u0 + threadIdx.x;
    const bool active = u < T;
    const float *base = qkv + (size_t)b * T * C3 + h * HD;
    const float scale = rsqrtf((float)HD);
    float dk[HD], dv[HD];
#pragma unroll
    for (int i = 0; i < HD; i++) {
        k_own[threadIdx.x][i] = active ? base[(size_t)u * C3 + C + i] * scale : 0.0f;
        v_own[threadIdx.x][i] = active ? base[(size_t)u * C3 + 2 * C + i] : 0.0f;
        dk[i] = dv[i] = 0.0f;
    }
    for (int t0 = u0; t0 < T; t0 += FA_QUERIES) {
        __syncthreads();
        for (int e = threadIdx.x; e < FA_QUERIES * HD; e += FA_ROWS) {
            int j = e / HD, i = e % HD, t = t0 + j;
            qs[j][i] = t < T ? base[(size_t)t * C3 + i] : 0.0f;
            gs[j][i] = t < T ? dout[((size_t)b * T + t) * C + h * HD + i] : 0.0f;
        }
        if (threadIdx.x < FA_QUERIES) {
            int t = t0 + threadIdx.x;
            size_t row = ((size_t)b * H + h) * T + t;
            lse_s[threadIdx.x] = t < T ? lse[row] : 0.0f;
            delta_s[threadIdx.x] = t < T ? delta[row] : 0.0f;
        }
        __syncthreads();
        if (!active)
            continue;
        const int j0 = max(0, u - t0), j1 = min(FA_QUERIES, T - t0); /* queries u..T-1 */
        for (int j = j0; j < j1; j++) {
            float sc = 0.0f, dp = 0.0f;
#pragma unroll
            for (int i = 0; i < HD; i++) {
                sc += qs[j][i] * k_own[threadIdx.x][i];
                dp += gs[j][i] * v_own[threadIdx.x][i];
            }
            const float p = expf(sc - lse_s[j]), ds = p * (dp - delta_s[j]);
#pragma unroll
            for (int i = 0; i < HD; i++) {
                dv[i] += p * gs[j][i];
                dk[i] += ds * qs[j][i];
            }
        }
    }
    if (!active)
        return;
    float *out = dqkv + ((size_t)b * T + u) * C3 + C + h * HD;
#pragma unroll
    for (int i = 0; i < HD; i++) {
        out[i] = dk[i] * scale;
        out[C + i] = dv[i];
    }
}

#endif
