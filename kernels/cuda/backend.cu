/* The CUDA backend, fp32: the operations of kernels/cpu/ops.h on device
 * memory, GEMMs through cuBLAS, everything on the legacy default stream. A
 * correctness baseline: one thread per attention row, the TxT softmax kept in
 * device memory. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include "kernels/backend.h"

namespace
{

constexpr int THREADS = 256;
cublasHandle_t cublas;
cublasStatus_t cublas_error = CUBLAS_STATUS_SUCCESS;

unsigned blocks(size_t n)
{
    return (unsigned)((n + THREADS - 1) / THREADS);
}

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* One warp per row. */
__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *w, const float *b, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32)
        s += x[c];
    float m = warp_sum(s) / C;
    float v = 0.0f;
    for (int c = lane; c < C; c += 32)
        v += (x[c] - m) * (x[c] - m);
    float r = rsqrtf(warp_sum(v) / C + 1e-5f);
    for (int c = lane; c < C; c += 32)
        out[(size_t)row * C + c] = (x[c] - m) * r * w[c] + b[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

__global__ void layernorm_backward_input_kernel(float *dinp, const float *dout, const float *inp,
                                                const float *w, const float *mean,
                                                const float *rstd, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
    float m = mean[row], r = rstd[row], g_mean = 0.0f, g_xhat = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float g = w[c] * dy[c];
        g_mean += g;
        g_xhat += g * (x[c] - m) * r;
    }
    g_mean = warp_sum(g_mean) / C;
    g_xhat = warp_sum(g_xhat) / C;
    for (int c = lane; c < C; c += 32)
        dinp[(size_t)row * C + c] += (w[c] * dy[c] - g_mean - (x[c] - m) * r * g_xhat) * r;
}

__global__ void layernorm_backward_weight_kernel(float *dw, float *db, const float *dout,
                                                 const float *inp, const float *mean,
                                                 const float *rstd, int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float gw = 0.0f, gb = 0.0f;
    for (int i = 0; i < N; i++) {
        float dy = dout[(size_t)i * C + c];
        gw += dy * (inp[(size_t)i * C + c] - mean[i]) * rstd[i];
        gb += dy;
    }
    dw[c] += gw;
    db[c] += gb;
}

__global__ void fill_rows_kernel(float *out, const float *b, int N, int O)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)N * O)
        out[i] = b[i % O];
}

__global__ void column_sum_kernel(float *db, const float *dout, int N, int O)
{
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= O)
        return;
    float s = 0.0f;
    for (int i = 0; i < N; i++)
        s += dout[(size_t)i * O + o];
    db[o] += s;
}

/* Row-major C[M,N] = op(A) op(B) + beta C, as column-major C^T = op(B)^T op(A)^T. */
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B,
           int ldb, float beta, float *C, int ldc)
{
    const float one = 1.0f;
    cublasStatus_t st = cublasSgemm(cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &one, B, ldb, A,
                                    lda, &beta, C, ldc);
    if (st != CUBLAS_STATUS_SUCCESS)
        cublas_error = st;
}

/* One thread per (batch, head, query row). */
__global__ void attention_forward_kernel(float *out, float *att, const float *qkv, int B, int T,
                                         int H, int hd)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * H * T)
        return;
    int t = idx % T, h = (idx / T) % H, b = idx / (T * H);
    const int C = H * hd, C3 = 3 * C;
    const float scale = rsqrtf((float)hd);
    const float *base = qkv + (size_t)b * T * C3 + h * hd, *q = base + (size_t)t * C3;
    float *a = att + (size_t)idx * T;
    float max = -INFINITY;
    for (int u = 0; u <= t; u++) {
        const float *k = base + (size_t)u * C3 + C;
        float d = 0.0f;
        for (int i = 0; i < hd; i++)
            d += q[i] * k[i];
        a[u] = d * scale;
        max = fmaxf(max, a[u]);
    }
    float sum = 0.0f;
    for (int u = 0; u <= t; u++) {
        a[u] = expf(a[u] - max);
        sum += a[u];
    }
    for (int u = 0; u <= t; u++)
        a[u] /= sum;
    for (int u = t + 1; u < T; u++)
        a[u] = 0.0f;
    float *y = out + ((size_t)b * T + t) * C + h * hd;
    for (int i = 0; i < hd; i++) {
        float acc = 0.0f;
        for (int u = 0; u <= t; u++)
            acc += a[u] * base[(size_t)u * C3 + 2 * C + i];
        y[i] = acc;
    }
}

/* Per query row t: rowdot[t] = sum_u att[t,u] (dy[t].v[u]), then dq[t]. */
__global__ void attention_backward_query_kernel(float *dqkv, float *rowdot, const float *dout,
                                                const float *qkv, const float *att, int B, int T,
                                                int H, int hd)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * H * T)
        return;
    int t = idx % T, h = (idx / T) % H, b = idx / (T * H);
    const int C = H * hd, C3 = 3 * C;
    const float scale = rsqrtf((float)hd);
    const float *base = qkv + (size_t)b * T * C3 + h * hd;
    const float *dy = dout + ((size_t)b * T + t) * C + h * hd, *a = att + (size_t)idx * T;
    float dot = 0.0f;
    for (int u = 0; u <= t; u++) {
        float d = 0.0f;
        for (int i = 0; i < hd; i++)
            d += dy[i] * base[(size_t)u * C3 + 2 * C + i];
        dot += a[u] * d;
    }
    rowdot[idx] = dot;
    float *dq = dqkv + ((size_t)b * T + t) * C3 + h * hd;
    for (int i = 0; i < hd; i++)
        dq[i] = 0.0f;
    for (int u = 0; u <= t; u++) {
        float d = 0.0f;
        for (int i = 0; i < hd; i++)
            d += dy[i] * base[(size_t)u * C3 + 2 * C + i];
        float dpre = a[u] * (d - dot) * scale;
        for (int i = 0; i < hd; i++)
            dq[i] += dpre * base[(size_t)u * C3 + C + i];
    }
}

/* Per key row u: dk[u] and dv[u] over the queries t >= u. */
__global__ void attention_backward_key_kernel(float *dqkv, const float *rowdot, const float *dout,
                                              const float *qkv, const float *att, int B, int T,
                                              int H, int hd)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= B * H * T)
        return;
    int u = idx % T, h = (idx / T) % H, b = idx / (T * H);
    const int C = H * hd, C3 = 3 * C;
    const float scale = rsqrtf((float)hd);
    const float *base = qkv + (size_t)b * T * C3 + h * hd, *v = base + (size_t)u * C3 + 2 * C;
    float *dk = dqkv + ((size_t)b * T + u) * C3 + C + h * hd, *dv = dk + C;
    for (int i = 0; i < hd; i++)
        dk[i] = dv[i] = 0.0f;
    for (int t = u; t < T; t++) {
        size_t row = ((size_t)b * H + h) * T + t;
        float a = att[row * T + u];
        const float *dy = dout + ((size_t)b * T + t) * C + h * hd;
        const float *q = base + (size_t)t * C3;
        float d = 0.0f;
        for (int i = 0; i < hd; i++)
            d += dy[i] * v[i];
        float dpre = a * (d - rowdot[row]) * scale;
        for (int i = 0; i < hd; i++) {
            dk[i] += dpre * q[i];
            dv[i] += a * dy[i];
        }
    }
}

#define GELU_SCALE 0.7978845608028654f

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = inp[i], th = tanhf(GELU_SCALE * (x + 0.044715f * x * x * x));
    float grad =
        0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_SCALE * (1.0f + 0.134145f * x * x);
    dinp[i] = grad * dout[i];
}

__global__ void residual_kernel(float *out, const float *a, const float *b, const float *bias,
                                size_t rows, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * C)
        out[i] = a[i] + b[i] + (bias ? bias[i % C] : 0.0f);
}

__global__ void token_embedding_forward_kernel(float *out, const int32_t *tokens, const float *wte,
                                               int v_begin, int v_count, int N, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C)
        return;
    int v = tokens[i / C] - v_begin;
    out[i] = v >= 0 && v < v_count ? wte[(size_t)v * C + i % C] : 0.0f;
}

/* One thread per channel walks the rows in order: deterministic sums for
 * repeated tokens. */
__global__ void token_embedding_backward_kernel(float *dwte, const float *dout,
                                                const int32_t *tokens, int v_begin, int v_count,
                                                int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    for (int i = 0; i < N; i++) {
        int v = tokens[i] - v_begin;
        if (v >= 0 && v < v_count)
            dwte[(size_t)v * C + c] += dout[(size_t)i * C + c];
    }
}

__global__ void position_embedding_forward_kernel(float *out, const float *wpe, int B, int T, int C)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)B * T * C)
        out[i] += wpe[i % ((size_t)T * C)];
}

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

/* One warp per row. */
__global__ void row_max_kernel(float *max, const float *logits, int N, int V)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    float m = -INFINITY;
    for (int v = lane; v < V; v += 32)
        m = fmaxf(m, logits[(size_t)row * V + v]);
    m = warp_max(m);
    if (lane == 0)
        max[row] = m;
}

__global__ void row_sums_kernel(float *sums, const float *logits, const float *max,
                                const int32_t *targets, int v_begin, int N, int V)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N)
        return;
    const float *l = logits + (size_t)row * V;
    float s = 0.0f;
    for (int v = lane; v < V; v += 32)
        s += expf(l[v] - max[row]);
    s = warp_sum(s);
    if (lane == 0) {
        sums[row] = s;
        int t = targets[row] - v_begin;
        sums[N + row] = t >= 0 && t < V ? l[t] : 0.0f;
    }
}

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

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float lr,
                             float beta1, float beta2, float eps, float wd, float bc1, float bc2)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
    float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
}

__global__ void sumsq_kernel(double *out, const float *p, size_t n)
{
    __shared__ double part[THREADS];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)p[i] * p[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int k = THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k)
            part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(out, part[0]);
}

__global__ void scale_kernel(float *p, size_t n, float factor)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= factor;
}

int cuda_open(char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(err, errlen, "device cuda: no usable GPU (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return -1;
    }
    if (!cublas && cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "device cuda: cublasCreate failed");
        return -1;
    }
    return 0;
}

void *cuda_alloc(size_t bytes)
{
    void *p = nullptr;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess)
        return nullptr;
    cudaMemset(p, 0, bytes ? bytes : 1);
    return p;
}

void cuda_free(void *p)
{
    cudaFree(p);
}

void cuda_copy(void *dst, const void *src, size_t bytes)
{
    cudaMemcpy(dst, src, bytes, cudaMemcpyDefault);
}

void cuda_zero(float *p, size_t n)
{
    cudaMemset(p, 0, n * sizeof(float));
}

int cuda_status(char *err, size_t errlen)
{
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess)
        e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, errlen, "device cuda: %s", cudaGetErrorString(e));
        return -1;
    }
    if (cublas_error != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "device cuda: cuBLAS error %d", (int)cublas_error);
        cublas_error = CUBLAS_STATUS_SUCCESS;
        return -1;
    }
    return 0;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C)
{
    layernorm_forward_kernel<<<(N + 7) / 8, THREADS>>>(out, mean, rstd, inp, w, b, N, C);
}

void layernorm_backward_input(float *dinp, const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C)
{
    layernorm_backward_input_kernel<<<(N + 7) / 8, THREADS>>>(dinp, dout, inp, w, mean, rstd, N, C);
}

void layernorm_backward_weight(float *dw, float *db, const float *dout, const float *inp,
                               const float *mean, const float *rstd, int N, int C)
{
    layernorm_backward_weight_kernel<<<blocks(C), THREADS>>>(dw, db, dout, inp, mean, rstd, N, C);
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int K,
                    int O)
{
    if (b)
        fill_rows_kernel<<<blocks((size_t)N * O), THREADS>>>(out, b, N, O);
    sgemm(false, true, N, O, K, inp, K, w, K, b ? 1.0f : 0.0f, out, O);
}

void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int K, int O)
{
    sgemm(false, false, N, K, O, dout, O, w, K, 0.0f, dinp, K);
}

void linear_backward_weight(float *dw, float *db, const float *dout, const float *inp, int N, int K,
                            int O)
{
    sgemm(true, false, O, K, N, dout, O, inp, K, 1.0f, dw, K);
    if (db)
        column_sum_kernel<<<blocks(O), THREADS>>>(db, dout, N, O);
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int hd)
{
    attention_forward_kernel<<<blocks((size_t)B * H * T), THREADS>>>(out, att, qkv, B, T, H, hd);
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int H, int hd)
{
    unsigned g = blocks((size_t)B * H * T);
    attention_backward_query_kernel<<<g, THREADS>>>(dqkv, scratch, dout, qkv, att, B, T, H, hd);
    attention_backward_key_kernel<<<g, THREADS>>>(dqkv, scratch, dout, qkv, att, B, T, H, hd);
}

void gelu_forward(float *out, const float *inp, size_t n)
{
    gelu_forward_kernel<<<blocks(n), THREADS>>>(out, inp, n);
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    gelu_backward_kernel<<<blocks(n), THREADS>>>(dinp, inp, dout, n);
}

void residual_forward(float *out, const float *a, const float *b, const float *bias, size_t rows,
                      int C)
{
    residual_kernel<<<blocks(rows * C), THREADS>>>(out, a, b, bias, rows, C);
}

void token_embedding_forward(float *out, const int32_t *tokens, const float *wte, int v_begin,
                             int v_count, int N, int C)
{
    token_embedding_forward_kernel<<<blocks((size_t)N * C), THREADS>>>(out, tokens, wte, v_begin,
                                                                       v_count, N, C);
}

void token_embedding_backward_weight(float *dwte, const float *dout, const int32_t *tokens,
                                     int v_begin, int v_count, int N, int C)
{
    token_embedding_backward_kernel<<<blocks(C), THREADS>>>(dwte, dout, tokens, v_begin, v_count, N,
                                                            C);
}

void position_embedding_forward(float *out, const float *wpe, int B, int T, int C)
{
    position_embedding_forward_kernel<<<blocks((size_t)B * T * C), THREADS>>>(out, wpe, B, T, C);
}

void position_embedding_backward_weight(float *dwpe, const float *dout, int B, int T, int C)
{
    position_embedding_backward_kernel<<<blocks((size_t)T * C), THREADS>>>(dwpe, dout, B, T, C);
}

void crossentropy_row_max(float *max, const float *logits, int N, int V)
{
    row_max_kernel<<<(N + 7) / 8, THREADS>>>(max, logits, N, V);
}

void crossentropy_row_sums(float *sums, const float *logits, const float *max,
                           const int32_t *targets, int v_begin, int N, int V)
{
    row_sums_kernel<<<(N + 7) / 8, THREADS>>>(sums, logits, max, targets, v_begin, N, V);
}

/* Small (3N floats): finished on the host, as the CPU backend does. */
float crossentropy_loss(const float *max, const float *sums, int N)
{
    std::vector<float> m(N), s(2 * (size_t)N);
    cudaMemcpy(m.data(), max, N * sizeof(float), cudaMemcpyDeviceToHost);
    cudaMemcpy(s.data(), sums, 2 * (size_t)N * sizeof(float), cudaMemcpyDeviceToHost);
    double loss = 0.0;
    for (int i = 0; i < N; i++)
        loss += logf(s[i]) + m[i] - s[N + i];
    return (float)(loss / N);
}

void crossentropy_backward(float *logits, const float *max, const float *sums,
                           const int32_t *targets, int v_begin, int N, int V, float scale)
{
    crossentropy_backward_kernel<<<blocks((size_t)N * V), THREADS>>>(logits, max, sums, targets,
                                                                     v_begin, N, V, scale);
}

void adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2)
{
    adamw_kernel<<<blocks(n), THREADS>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1,
                                         bc2);
}

double sumsq(const float *p, size_t n)
{
    double *d = nullptr, out = 0.0;
    if (cudaMalloc(&d, sizeof(double)) != cudaSuccess)
        return NAN;
    cudaMemset(d, 0, sizeof(double));
    unsigned g = blocks(n) < 1024 ? blocks(n) : 1024;
    if (g)
        sumsq_kernel<<<g, THREADS>>>(d, p, n);
    cudaMemcpy(&out, d, sizeof(double), cudaMemcpyDeviceToHost);
    cudaFree(d);
    return out;
}

void scale(float *p, size_t n, float factor)
{
    scale_kernel<<<blocks(n), THREADS>>>(p, n, factor);
}

gpt_backend make_backend()
{
    gpt_backend b = {};
    b.name = "cuda";
    b.open = cuda_open;
    b.alloc = cuda_alloc;
    b.free = cuda_free;
    b.copy = cuda_copy;
    b.upload = cuda_copy;
    b.download = cuda_copy;
    b.zero = cuda_zero;
    b.status = cuda_status;
    b.layernorm_forward = layernorm_forward;
    b.layernorm_backward_input = layernorm_backward_input;
    b.layernorm_backward_weight = layernorm_backward_weight;
    b.linear_forward = linear_forward;
    b.linear_backward_input = linear_backward_input;
    b.linear_backward_weight = linear_backward_weight;
    b.attention_forward = attention_forward;
    b.attention_backward = attention_backward;
    b.gelu_forward = gelu_forward;
    b.gelu_backward = gelu_backward;
    b.residual_forward = residual_forward;
    b.token_embedding_forward = token_embedding_forward;
    b.token_embedding_backward_weight = token_embedding_backward_weight;
    b.position_embedding_forward = position_embedding_forward;
    b.position_embedding_backward_weight = position_embedding_backward_weight;
    b.crossentropy_row_max = crossentropy_row_max;
    b.crossentropy_row_sums = crossentropy_row_sums;
    b.crossentropy_loss = crossentropy_loss;
    b.crossentropy_backward = crossentropy_backward;
    b.adamw_update = adamw_update;
    b.sumsq = sumsq;
    b.scale = scale;
    return b;
}

const gpt_backend backend = make_backend();

} // namespace

extern "C" const gpt_backend *gpt_cuda_backend(void)
{
    return &backend;
}
