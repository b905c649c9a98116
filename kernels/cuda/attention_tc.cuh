/* The CUDA backend's causal attention on tensor cores, for GPT_BF16: the
 * same contract as kernels/cuda/attention.cuh (qkv rows [q | k | v] of H
 * heads of HD, fp32 in device memory; out, one log-sum-exp per (batch, head,
 * query row), and dq, dk, dv from attention_delta_kernel's delta), with the
 * products Q K^T, P V, dO V^T, P^T dO, dS K and dS^T Q as bf16 WMMA tiles
 * (16x16x16, fp32 accumulation) and the softmax in fp32. HD a multiple of 16,
 * at most 64. Launches: every kernel attention_tc_grid x TC_THREADS. Needs
 * <mma.h> (nvcuda::wmma), __nv_bfloat16 with __float2bfloat16 and
 * __bfloat162float, __shfl_xor_sync, __syncwarp, INFINITY, size_t, min,
 * rsqrtf, expf and logf from the includer.
 *
 * Only the fragment operations whose meaning is specified are used (fill,
 * load, store, mma); the element layout inside a fragment is not, so every
 * element-wise step (masking, softmax, rescaling, dS) goes through shared
 * memory: a warp stores its fp32 tile, its lanes work on rows, and bf16
 * results are loaded back as operands. */
#ifndef PLAIT_KERNELS_CUDA_ATTENTION_TC_CUH
#define PLAIT_KERNELS_CUDA_ATTENTION_TC_CUH

namespace wmma = nvcuda::wmma;

/* A block owns TC_ROWS query (or key) rows of one (batch, head), a warp 16
 * of them, two threads a row for the element-wise steps, so that a warp's
 * threads hold exactly its own rows and those steps need only __syncwarp;
 * the other side is streamed TC_ROWS rows at a time. Static shared memory
 * stays under 48 KiB at HD 64. */
constexpr int TC_ROWS = 64;
constexpr int TC_THREADS = 2 * TC_ROWS;
constexpr int TC_HALF = TC_ROWS / 2; /* columns of a tile row per thread */
/* Row strides in shared memory, padded by 16 bytes so that consecutive rows
 * start in other banks (WMMA wants ldm a multiple of 16 bytes). */
constexpr int TC_PLD = TC_ROWS + 8; /* bf16 TC_ROWS x TC_ROWS tiles (P, dS) */
constexpr int TC_SLD = TC_ROWS + 4; /* the fp32 scratch tile */
constexpr int tc_ld(int hd)         /* bf16 tiles of TC_ROWS rows of a head */
{
    return hd + 8;
}

using tc_acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
using tc_a = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
template <class Layout>
using tc_b = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, Layout>;

/* A block per TC_ROWS query (or key) rows of one (batch, head). */
inline dim3 attention_tc_grid(int B, int T, int H)
{
    return dim3((unsigned)((T + TC_ROWS - 1) / TC_ROWS), (unsigned)H, (unsigned)B);
}

/* The causal mask leaves whole 16 x 16 sub-tiles of the diagonal tile empty:
 * on the query side (forward, dq) the warp's queries q..q+15 see the key
 * sub-tiles [0, n) of the tile at k0 that start before q + 16 (and before
 * T); on the key side (dk, dv) the warp's keys u..u+15 are seen by the
 * query sub-tiles [n, TC_ROWS / 16) of the tile at t0 that end at or after
 * u (and start before T). The warp skips the others in every product, and
 * the element-wise steps write zeros for every masked element, so no
 * product reads a stale one. */
__device__ inline int tc_keys_seen(int q0, int k0, int T)
{
    const int q_end = min(T, q0 + (int)(threadIdx.x / 32 + 1) * 16);
    return min(TC_ROWS / 16, (q_end - k0 + 15) / 16);
}

__device__ inline int tc_first_query_seen(int u0, int t0)
{
    return max(0, (u0 - t0) / 16 + (int)(threadIdx.x / 32));
}

__device__ inline int tc_queries_seen(int t0, int T)
{
    return min(TC_ROWS / 16, (T - t0 + 15) / 16);
}

/* Rows r0..r0+TC_ROWS-1 of one head's HD columns at src (rows `stride`
 * floats apart) into dst as bf16, zeros past T so that padded rows stay
 * finite. Called by the whole block. */
template <int HD>
__device__ void tc_load_rows(__nv_bfloat16 *dst, const float *src, size_t stride, int r0, int T)
{
    for (int e = threadIdx.x; e < TC_ROWS * HD; e += TC_THREADS) {
        const int j = e / HD, i = e % HD, t = r0 + j;
        dst[j * tc_ld(HD) + i] = __float2bfloat16(t < T ? src[(size_t)t * stride + i] : 0.0f);
    }
}

/* The warp's 16 x HD strip of x (row stride tc_ld(HD)) as HD / 16 operands. */
template <int HD> __device__ void tc_load_strip(tc_a (&f)[HD / 16], const __nv_bfloat16 *x)
{
    for (int k = 0; k < HD / 16; k++)
        wmma::load_matrix_sync(f[k], x + (threadIdx.x / 32) * 16 * tc_ld(HD) + k * 16, tc_ld(HD));
}

/* The 16-column sub-tiles [n0, n1) of the warp's 16 x TC_ROWS tile of
 * a y^T into its strip of the scratch, where a is the warp's strip as
 * operands and y holds TC_ROWS rows of HD (stride tc_ld(HD)), read
 * column-major as y^T. The other columns of the strip keep what they held. */
template <int HD>
__device__ void tc_times_transpose(float *scratch, const tc_a (&a)[HD / 16], const __nv_bfloat16 *y,
                                   int n0, int n1)
{
    for (int n = n0; n < n1; n++) {
        tc_acc s;
        wmma::fill_fragment(s, 0.0f);
        for (int k = 0; k < HD / 16; k++) {
            tc_b<wmma::col_major> yt;
            wmma::load_matrix_sync(yt, y + n * 16 * tc_ld(HD) + k * 16, tc_ld(HD));
            wmma::mma_sync(s, a[k], yt, s);
        }
        wmma::store_matrix_sync(scratch + (threadIdx.x / 32) * 16 * TC_SLD + n * 16, s, TC_SLD,
                                wmma::mem_row_major);
    }
}

/* acc += the warp's 16 x TC_ROWS strip of x (bf16, stride TC_PLD) times
 * y (TC_ROWS x HD, stride tc_ld(HD)), the 16-wide sub-tiles [k0, k1) of x's
 * columns (y's rows) only: the whole product where x is zero outside them. */
template <int HD>
__device__ void tc_accumulate(tc_acc (&acc)[HD / 16], const __nv_bfloat16 *x,
                              const __nv_bfloat16 *y, int k0, int k1)
{
    for (int k = k0; k < k1; k++) {
        tc_a xs;
        wmma::load_matrix_sync(xs, x + (threadIdx.x / 32) * 16 * TC_PLD + k * 16, TC_PLD);
        for (int n = 0; n < HD / 16; n++) {
            tc_b<wmma::row_major> ys;
            wmma::load_matrix_sync(ys, y + k * 16 * tc_ld(HD) + n * 16, tc_ld(HD));
            wmma::mma_sync(acc[n], xs, ys, acc[n]);
        }
    }
}

/* The warp's accumulators into its strip of the scratch, for the rows'
 * threads to read after the __syncwarp. */
template <int HD> __device__ void tc_store_strip(float *scratch, const tc_acc (&acc)[HD / 16])
{
    for (int n = 0; n < HD / 16; n++)
        wmma::store_matrix_sync(scratch + (threadIdx.x / 32) * 16 * TC_SLD + n * 16, acc[n], TC_SLD,
                                wmma::mem_row_major);
    __syncwarp();
}

/* Forward: per key tile S = Q K^T, the online softmax of the thread's half
 * row in fp32 (P to shared memory as bf16), O rescaled in the scratch and
 * O += P V, O kept in accumulators between tiles. */
template <int HD>
__global__ void __launch_bounds__(TC_THREADS)
    flash_tc_forward_kernel(float *out, float *lse, const float *qkv, int T, int H)
{
    static_assert(HD % 16 == 0 && HD <= TC_ROWS, "head dim: a multiple of 16, at most 64");
    __shared__ __align__(32) __nv_bfloat16 ks[TC_ROWS * tc_ld(HD)], vs[TC_ROWS * tc_ld(HD)],
        ps[TC_ROWS * TC_PLD];
    __shared__ __align__(32) float scratch[TC_ROWS * TC_SLD];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * TC_ROWS;
    const int r = threadIdx.x / 2, c0 = threadIdx.x % 2 * TC_HALF, i0 = threadIdx.x % 2 * HD / 2;
    const int t = q0 + r;
    const float *base = qkv + (size_t)b * T * C3 + h * HD;
    const float scale = rsqrtf((float)HD);
    float *row = scratch + r * TC_SLD;
    tc_a q[HD / 16];
    tc_acc o[HD / 16];
    tc_load_rows<HD>(ks, base, C3, q0, T); /* Q passes through the key buffer */
    __syncthreads();
    tc_load_strip<HD>(q, ks);
    for (int n = 0; n < HD / 16; n++)
        wmma::fill_fragment(o[n], 0.0f);
    float m = -INFINITY, l = 0.0f;
    const int keys = min(T, q0 + TC_ROWS);
    for (int k0 = 0; k0 < keys; k0 += TC_ROWS) {
        __syncthreads(); /* no warp reads the previous tile (or Q) any more */
        tc_load_rows<HD>(ks, base + C, C3, k0, T);
        tc_load_rows<HD>(vs, base + 2 * C, C3, k0, T);
        __syncthreads();
        const int n_live = tc_keys_seen(q0, k0, T);
        tc_times_transpose<HD>(scratch, q, ks, 0, n_live);
        __syncwarp();
        /* Keys k0..t count (..T - 1 for the padding rows past T); every row
         * has one in every tile (k0 <= q0 <= t). */
        const int n_valid = min(t, T - 1) - k0 + 1;
        float s[TC_HALF], mt = m;
        for (int j = 0; j < TC_HALF; j++) {
            s[j] = row[c0 + j] * scale;
            if (c0 + j < n_valid)
                mt = fmaxf(mt, s[j]);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        float sum = 0.0f;
        for (int j = 0; j < TC_HALF; j++) {
            /* l sums the rounded P that P V uses, so the weights add to one. */
            const __nv_bfloat16 p = __float2bfloat16(c0 + j < n_valid ? expf(s[j] - mt) : 0.0f);
            ps[r * TC_PLD + c0 + j] = p;
            sum += __bfloat162float(p);
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        const float corr = expf(m - mt);
        l = l * corr + sum;
        m = mt;
        __syncwarp(); /* the scores are read before the scratch takes O */
        tc_store_strip<HD>(scratch, o);
        for (int i = i0; i < i0 + HD / 2; i++)
            row[i] *= corr;
        __syncwarp();
        for (int n = 0; n < HD / 16; n++)
            wmma::load_matrix_sync(o[n], scratch + (threadIdx.x / 32) * 16 * TC_SLD + n * 16,
                                   TC_SLD, wmma::mem_row_major);
        tc_accumulate<HD>(o, ps, vs, 0, n_live);
    }
    tc_store_strip<HD>(scratch, o);
    if (t >= T)
        return;
    float *y = out + ((size_t)b * T + t) * C + h * HD;
    for (int i = i0; i < i0 + HD / 2; i++)
        y[i] = row[i] / l;
    if (c0 == 0)
        lse[((size_t)b * H + h) * T + t] = m + logf(l);
}

/* dq for a block of query rows: per key tile S = Q K^T, P from the
 * log-sum-exp, dP = dO V^T, dS = P (dP - delta) to shared memory as bf16,
 * dQ += dS K. */
template <int HD>
__global__ void __launch_bounds__(TC_THREADS)
    flash_tc_backward_query_kernel(float *dqkv, const float *dout, const float *qkv,
                                   const float *lse, const float *delta, int T, int H)
{
    static_assert(HD % 16 == 0 && HD <= TC_ROWS, "head dim: a multiple of 16, at most 64");
    __shared__ __align__(32) __nv_bfloat16 ks[TC_ROWS * tc_ld(HD)], vs[TC_ROWS * tc_ld(HD)],
        dss[TC_ROWS * TC_PLD];
    __shared__ __align__(32) float scratch[TC_ROWS * TC_SLD];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z, q0 = blockIdx.x * TC_ROWS;
    const int r = threadIdx.x / 2, c0 = threadIdx.x % 2 * TC_HALF, i0 = threadIdx.x % 2 * HD / 2;
    const int t = q0 + r;
    const float *base = qkv + (size_t)b * T * C3 + h * HD;
    const float scale = rsqrtf((float)HD);
    const size_t stat = ((size_t)b * H + h) * T + t;
    const float row_lse = t < T ? lse[stat] : 0.0f, row_delta = t < T ? delta[stat] : 0.0f;
    float *row = scratch + r * TC_SLD;
    tc_a q[HD / 16], g[HD / 16];
    tc_acc dq[HD / 16];
    tc_load_rows<HD>(ks, base, C3, q0, T);
    tc_load_rows<HD>(vs, dout + (size_t)b * T * C + h * HD, C, q0, T);
    __syncthreads();
    tc_load_strip<HD>(q, ks);
    tc_load_strip<HD>(g, vs);
    for (int n = 0; n < HD / 16; n++)
        wmma::fill_fragment(dq[n], 0.0f);
    const int keys = min(T, q0 + TC_ROWS);
    for (int k0 = 0; k0 < keys; k0 += TC_ROWS) {
        __syncthreads();
        tc_load_rows<HD>(ks, base + C, C3, k0, T);
        tc_load_rows<HD>(vs, base + 2 * C, C3, k0, T);
        __syncthreads();
        const int n_live = tc_keys_seen(q0, k0, T);
        tc_times_transpose<HD>(scratch, q, ks, 0, n_live);
        __syncwarp();
        const int n_valid = min(t, T - 1) - k0 + 1;
        float p[TC_HALF];
        for (int j = 0; j < TC_HALF; j++)
            p[j] = c0 + j < n_valid ? expf(row[c0 + j] * scale - row_lse) : 0.0f;
        __syncwarp();
        tc_times_transpose<HD>(scratch, g, vs, 0, n_live);
        __syncwarp();
        for (int j = 0; j < TC_HALF; j++)
            dss[r * TC_PLD + c0 + j] =
                __float2bfloat16(c0 + j < n_valid ? p[j] * (row[c0 + j] - row_delta) : 0.0f);
        __syncwarp();
        tc_accumulate<HD>(dq, dss, ks, 0, n_live);
    }
    tc_store_strip<HD>(scratch, dq);
    if (t >= T)
        return;
    float *dst = dqkv + ((size_t)b * T + t) * C3 + h * HD;
    for (int i = i0; i < i0 + HD / 2; i++)
        dst[i] = row[i] * scale;
}

/* dk and dv for a block of key rows, over the query tiles at and after it:
 * S^T = K Q^T, P^T from the log-sum-exp, dV += P^T dO, dP^T = V dO^T,
 * dS^T = P^T (dP^T - delta) into P^T's buffer, dK += dS^T Q. K and V stay
 * in operand fragments, dK and dV in accumulators. */
template <int HD>
__global__ void __launch_bounds__(TC_THREADS)
    flash_tc_backward_key_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                 const float *delta, int T, int H)
{
    static_assert(HD % 16 == 0 && HD <= TC_ROWS, "head dim: a multiple of 16, at most 64");
    __shared__ __align__(32) __nv_bfloat16 qs[TC_ROWS * tc_ld(HD)], gs[TC_ROWS * tc_ld(HD)],
        ps[TC_ROWS * TC_PLD];
    __shared__ __align__(32) float scratch[TC_ROWS * TC_SLD];
    __shared__ float lse_s[TC_ROWS], delta_s[TC_ROWS];
    const int C = H * HD, C3 = 3 * C, h = blockIdx.y, b = blockIdx.z, u0 = blockIdx.x * TC_ROWS;
    const int r = threadIdx.x / 2, c0 = threadIdx.x % 2 * TC_HALF, i0 = threadIdx.x % 2 * HD / 2;
    const int u = u0 + r;
    const float *base = qkv + (size_t)b * T * C3 + h * HD,
                *gbase = dout + (size_t)b * T * C + h * HD;
    const float scale = rsqrtf((float)HD);
    float *row = scratch + r * TC_SLD;
    tc_a k[HD / 16], v[HD / 16];
    tc_acc dk[HD / 16], dv[HD / 16];
    tc_load_rows<HD>(qs, base + C, C3, u0, T);
    tc_load_rows<HD>(gs, base + 2 * C, C3, u0, T);
    __syncthreads();
    tc_load_strip<HD>(k, qs);
    tc_load_strip<HD>(v, gs);
    for (int n = 0; n < HD / 16; n++) {
        wmma::fill_fragment(dk[n], 0.0f);
        wmma::fill_fragment(dv[n], 0.0f);
    }
    for (int t0 = u0; t0 < T; t0 += TC_ROWS) {
        __syncthreads();
        tc_load_rows<HD>(qs, base, C3, t0, T);
        tc_load_rows<HD>(gs, gbase, C, t0, T);
        if (threadIdx.x < TC_ROWS) {
            const int t = t0 + threadIdx.x;
            const size_t stat = ((size_t)b * H + h) * T + t;
            lse_s[threadIdx.x] = t < T ? lse[stat] : 0.0f;
            delta_s[threadIdx.x] = t < T ? delta[stat] : 0.0f;
        }
        __syncthreads();
        const int n0 = tc_first_query_seen(u0, t0), n1 = tc_queries_seen(t0, T);
        tc_times_transpose<HD>(scratch, k, qs, n0, n1);
        __syncwarp();
        /* Queries u..T-1 count: column j is query t0 + j. */
        const int j0 = u - t0, j1 = T - t0;
        for (int c = c0; c < c0 + TC_HALF; c++)
            ps[r * TC_PLD + c] =
                __float2bfloat16(c >= j0 && c < j1 ? expf(row[c] * scale - lse_s[c]) : 0.0f);
        __syncwarp();
        tc_accumulate<HD>(dv, ps, gs, n0, n1);
        tc_times_transpose<HD>(scratch, v, gs, n0, n1);
        __syncwarp();
        /* P^T read back as the bf16 that dv used: fp32 copies kept in
         * registers took 32 a thread (216 rather than 166 at HD 64, 2
         * blocks an SM rather than 3). */
        for (int c = c0; c < c0 + TC_HALF; c++)
            ps[r * TC_PLD + c] = __float2bfloat16(
                c >= j0 && c < j1 ? __bfloat162float(ps[r * TC_PLD + c]) * (row[c] - delta_s[c])
                                  : 0.0f);
        __syncwarp();
        tc_accumulate<HD>(dk, ps, qs, n0, n1);
    }
    tc_store_strip<HD>(scratch, dk);
    float *dst = dqkv + ((size_t)b * T + u) * C3 + C + h * HD;
    if (u < T)
        for (int i = i0; i < i0 + HD / 2; i++)
            dst[i] = row[i] * scale;
    __syncwarp(); /* the rows are read before the scratch takes dV */
    tc_store_strip<HD>(scratch, dv);
    if (u < T)
        for (int i = i0; i < i0 + HD / 2; i++)
            dst[C + i] = row[i];
}

#endif
