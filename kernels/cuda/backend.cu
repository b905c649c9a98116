/* The CUDA backend: the operations of kernels/cpu/ops.h on device memory,
 * everything on the legacy default stream. Storage is fp32; the GEMMs go
 * through cuBLASLt in fp32 or, for GPT_BF16, with bf16 tensor-core products
 * and fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_16BF). Attention is a fused
 * flash-style kernel that keeps one log-sum-exp per query row instead of the
 * TxT matrix: fp32 on CUDA cores, or for GPT_BF16 bf16 WMMA tiles on tensor
 * cores. The hand-written kernels are in the .cuh headers beside this
 * file, with their launch geometry, so that the emulation tests
 * (tests/kernels/test_*_emulated.cpp) run the same source with the same grids
 * on the host; this file launches them.
 *
 * Errors: a failing CUDA or cuBLASLt call records the first one-line message;
 * cuda_status() reports and clears it. */
#include <cub/device/device_radix_sort.cuh>
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <mma.h>
#include <mutex>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <type_traits>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/warp.cuh"

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/crossentropy.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/layernorm.cuh"
#include "kernels/cuda/linear.cuh"
#include "kernels/cuda/optimizer.cuh"

namespace
{

/* cuBLASLt's workspace; 32 MiB is what llm.c gives Hopper. The cuBLASLt use
 * (bias epilogue, workspace, heuristic per call) follows llm.c's
 * matmul_cublaslt (karpathy/llm.c, MIT licence); no code is copied. */
constexpr size_t LT_WORKSPACE = 32u << 20;

struct device_state {
    cublasLtHandle_t lt;
    void *workspace;
    std::mutex lock; /* guards the first error; TP tests drive stages from threads */
    bool failed;
    char error[256];
} dev;

void record_error(const char *fmt, ...)
{
    std::lock_guard<std::mutex> g(dev.lock);
    if (dev.failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev.error, sizeof(dev.error), fmt, ap);
    va_end(ap);
    dev.failed = true;
}

bool cuda_ok(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return true;
    record_error("device cuda: %s: %s", what, cudaGetErrorString(e));
    return false;
}

bool lt_ok(cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return true;
    record_error("device cuda: cuBLASLt %s: %s", what, cublasLtGetStatusString(st));
    return false;
}

/* Largest power of two, at most 256, that divides the address: what
 * cuBLASLt's heuristic may assume (it assumes 256 unless told). */
uint32_t alignment(const void *p)
{
    uint32_t a = 256;
    while (a > 4 && (uintptr_t)p % a)
        a >>= 1;
    return a;
}

/* One cuBLASLt product in column-major terms, D = op(X) op(Y) + beta D
 * (+ bias per row of D): false when no algorithm fits (the caller may try
 * without the bias epilogue), errors recorded. */
bool lt_matmul(gpt_precision prec, cublasOperation_t op_x, cublasOperation_t op_y, int m, int n,
               int k, const float *X, int ldx, const float *Y, int ldy, float beta, float *D,
               int ldd, const float *bias, bool *no_algo)
{
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t lx = nullptr, ly = nullptr, ld = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulHeuristicResult_t algo = {};
    int found = 0;
    const float one = 1.0f;
    const uint32_t ax = alignment(X), ay = alignment(Y), ad = alignment(D);
    const size_t ws = LT_WORKSPACE;
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    bool ok =
        lt_ok(cublasLtMatmulDescCreate(
                  &desc, prec == GPT_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F,
                  CUDA_R_32F),
              "matmul descriptor") &&
        lt_ok(
            cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_x, sizeof(op_x)),
            "transa") &&
        lt_ok(
            cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_y, sizeof(op_y)),
            "transb") &&
        lt_ok(
            cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
            "epilogue") &&
        (!bias || lt_ok(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &bias, sizeof(bias)),
                        "bias pointer")) &&
        lt_ok(cublasLtMatrixLayoutCreate(&lx, CUDA_R_32F, op_x == CUBLAS_OP_N ? m : k,
                                         op_x == CUBLAS_OP_N ? k : m, ldx),
              "layout") &&
        lt_ok(cublasLtMatrixLayoutCreate(&ly, CUDA_R_32F, op_y == CUBLAS_OP_N ? k : n,
                                         op_y == CUBLAS_OP_N ? n : k, ldy),
              "layout") &&
        lt_ok(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, ldd), "layout") &&
        lt_ok(cublasLtMatmulPreferenceCreate(&pref), "preference") &&
        lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &ws, sizeof(ws)),
              "workspace preference") &&
        lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                   &ax, sizeof(ax)),
              "alignment preference") &&
        lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                   &ay, sizeof(ay)),
              "alignment preference") &&
        lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                   &ad, sizeof(ad)),
              "alignment preference") &&
        lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                   &ad, sizeof(ad)),
              "alignment preference");
    if (ok) {
        cublasStatus_t st =
            cublasLtMatmulAlgoGetHeuristic(dev.lt, desc, lx, ly, ld, ld, pref, 1, &algo, &found);
        if (st == CUBLAS_STATUS_SUCCESS && found == 0)
            st = CUBLAS_STATUS_NOT_SUPPORTED;
        if (st != CUBLAS_STATUS_SUCCESS) {
            if (no_algo)
                *no_algo = true;
            else
                record_error("device cuda: cuBLASLt has no algorithm for the %s product m=%d n=%d "
                             "k=%d%s: %s",
                             prec == GPT_BF16 ? "bf16" : "fp32", m, n, k, bias ? " with bias" : "",
                             cublasLtGetStatusString(st));
            ok = false;
        }
    }
    if (ok)
        ok = lt_ok(cublasLtMatmul(dev.lt, desc, &one, X, lx, Y, ly, &beta, D, ld, D, ld, &algo.algo,
                                  dev.workspace, LT_WORKSPACE, 0),
                   "matmul");
    if (pref)
        cublasLtMatmulPreferenceDestroy(pref);
    if (ld)
        cublasLtMatrixLayoutDestroy(ld);
    if (ly)
        cublasLtMatrixLayoutDestroy(ly);
    if (lx)
        cublasLtMatrixLayoutDestroy(lx);
    if (desc)
        cublasLtMatmulDescDestroy(desc);
    return ok;
}

/* Row-major C[M,N] = op(A) op(B) + beta C (+ bias[N] per row), as column-major
 * C^T = op(B)^T op(A)^T. */
bool gemm(gpt_precision prec, bool trans_a, bool trans_b, int M, int N, int K, const float *A,
          int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
          bool *no_algo)
{
    return lt_matmul(prec, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     N, M, K, B, ldb, A, lda, beta, C, ldc, bias, no_algo);
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
    std::lock_guard<std::mutex> g(dev.lock);
    if (!dev.lt) {
        cublasStatus_t st = cublasLtCreate(&dev.lt);
        if (st != CUBLAS_STATUS_SUCCESS) {
            snprintf(err, errlen, "device cuda: cublasLtCreate: %s", cublasLtGetStatusString(st));
            return -1;
        }
    }
    if (!dev.workspace && (e = cudaMalloc(&dev.workspace, LT_WORKSPACE)) != cudaSuccess) {
        snprintf(err, errlen, "device cuda: %zu bytes of cuBLASLt workspace: %s", LT_WORKSPACE,
                 cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

void *cuda_alloc(size_t bytes)
{
    void *p = nullptr;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess)
        return nullptr;
    if (!cuda_ok(cudaMemset(p, 0, bytes ? bytes : 1), "cudaMemset")) {
        cudaFree(p);
        return nullptr;
    }
    return p;
}

void cuda_free(void *p)
{
    cuda_ok(cudaFree(p), "cudaFree");
}

void cuda_copy(void *dst, const void *src, size_t bytes)
{
    cuda_ok(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
}

void cuda_zero(float *p, size_t n)
{
    cuda_ok(cudaMemset(p, 0, n * sizeof(float)), "cudaMemset");
}

int cuda_status(char *err, size_t errlen)
{
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess)
        e = cudaGetLastError();
    std::lock_guard<std::mutex> g(dev.lock);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "device cuda: %s", cudaGetErrorString(e));
        dev.failed = false;
        return -1;
    }
    if (dev.failed) {
        snprintf(err, errlen, "%s", dev.error);
        dev.failed = false;
        return -1;
    }
    return 0;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C)
{
    layernorm_forward_kernel<<<row_blocks(N), THREADS>>>(out, mean, rstd, inp, w, b, N, C);
}

void layernorm_backward_input(float *dinp, const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C)
{
    layernorm_backward_input_kernel<<<row_blocks(N), THREADS>>>(dinp, dout, inp, w, mean, rstd, N,
                                                                C);
}

void layernorm_backward_weight(float *dw, float *db, const float *dout, const float *inp,
                               const float *mean, const float *rstd, int N, int C)
{
    layernorm_backward_weight_kernel<<<column_blocks(C), column_threads()>>>(dw, db, dout, inp,
                                                                             mean, rstd, N, C);
}

/* The bias rides in cuBLASLt's epilogue; where no algorithm takes it, the
 * rows are filled with it first and the product added. */
void linear_forward(gpt_precision prec, float *out, const float *inp, const float *w,
                    const float *b, int N, int K, int O)
{
    bool no_algo = false;
    if (gemm(prec, false, true, N, O, K, inp, K, w, K, 0.0f, out, O, b, b ? &no_algo : nullptr) ||
        !no_algo)
        return;
    fill_rows_kernel<<<blocks((size_t)N * O), THREADS>>>(out, b, N, O);
    gemm(prec, false, true, N, O, K, inp, K, w, K, 1.0f, out, O, nullptr, nullptr);
}

void linear_backward_input(gpt_precision prec, float *dinp, const float *dout, const float *w,
                           int N, int K, int O)
{
    gemm(prec, false, false, N, K, O, dout, O, w, K, 0.0f, dinp, K, nullptr, nullptr);
}

void linear_backward_weight(gpt_precision prec, float *dw, float *db, const float *dout,
                            const float *inp, int N, int K, int O)
{
    gemm(prec, true, false, O, K, N, dout, O, inp, K, 1.0f, dw, K, nullptr, nullptr);
    if (db)
        column_sum_kernel<<<column_blocks(O), column_threads()>>>(db, dout, N, O);
}

size_t attention_state_floats(int B, int T, int H)
{
    return (size_t)B * H * T;
}

/* Calls f(std::integral_constant<int, hd>()) for the head dims the kernels
 * are built for (registers hold a row per thread in fp32, a 16-wide operand
 * strip per warp on tensor cores); others fail with a one-line error. */
template <class F> void with_head_dim(int hd, F f)
{
    switch (hd) {
    case 4:
        return f(std::integral_constant<int, 4>());
    case 8:
        return f(std::integral_constant<int, 8>());
    case 16:
        return f(std::integral_constant<int, 16>());
    case 32:
        return f(std::integral_constant<int, 32>());
    case 64:
        return f(std::integral_constant<int, 64>());
    }
    record_error("device cuda: attention head dim %d: expected 4, 8, 16, 32 or 64", hd);
}

void attention_forward(gpt_precision prec, float *out, float *att, const float *qkv, int B, int T,
                       int H, int hd)
{
    with_head_dim(hd, [&](auto head_dim) {
        constexpr int HD = decltype(head_dim)::value;
        /* bf16 on tensor cores where the head dim is a multiple of WMMA's
         * 16; smaller heads stay on the fp32 kernels. */
        if constexpr (HD % 16 == 0) {
            if (prec == GPT_BF16) {
                flash_tc_forward_kernel<HD>
                    <<<attention_tc_grid(B, T, H), TC_THREADS>>>(out, att, qkv, T, H);
                return;
            }
        }
        flash_forward_kernel<HD><<<attention_grid(B, T, H), FA_ROWS>>>(out, att, qkv, T, H);
    });
}

void attention_backward(gpt_precision prec, float *dqkv, float *scratch, const float *dout,
                        const float *out, const float *qkv, const float *att, int B, int T, int H,
                        int hd)
{
    with_head_dim(hd, [&](auto head_dim) {
        constexpr int HD = decltype(head_dim)::value;
        attention_delta_kernel<<<blocks((size_t)B * H * T), THREADS>>>(
            scratch, dout, out, B, T, H, HD, HD % 16 == 0 && prec == GPT_BF16);
        if constexpr (HD % 16 == 0) {
            if (prec == GPT_BF16) {
                const dim3 grid = attention_tc_grid(B, T, H);
                flash_tc_backward_query_kernel<HD>
                    <<<grid, TC_THREADS>>>(dqkv, dout, qkv, att, scratch, T, H);
                flash_tc_backward_key_kernel<HD>
                    <<<grid, TC_THREADS>>>(dqkv, dout, qkv, att, scratch, T, H);
                return;
            }
        }
        const dim3 grid = attention_grid(B, T, H);
        flash_backward_query_kernel<HD><<<grid, FA_ROWS>>>(dqkv, dout, qkv, att, scratch, T, H);
        flash_backward_key_kernel<HD><<<grid, FA_ROWS>>>(dqkv, dout, qkv, att, scratch, T, H);
    });
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

void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *bias, const float *w,
                                const float *ln_b, int N, int C)
{
    residual_layernorm_forward_kernel<<<row_blocks(N), THREADS>>>(res, out, mean, rstd, a, b, bias,
                                                                  w, ln_b, N, C);
}

void token_embedding_forward(float *out, const int32_t *tokens, const float *wte, int v_begin,
                             int v_count, int N, int C)
{
    token_embedding_forward_kernel<<<blocks((size_t)N * C), THREADS>>>(out, tokens, wte, v_begin,
                                                                       v_count, N, C);
}

/* Sorts (token, row) pairs with CUB's stable radix sort in stream-ordered
 * scratch memory, then sums each token's rows. */
void token_embedding_backward_weight(float *dwte, const float *dout, const int32_t *tokens,
                                     int v_begin, int v_count, int N, int C)
{
    int32_t *buf = nullptr;
    void *temp = nullptr;
    size_t temp_bytes = 0;
    if (!cuda_ok(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, tokens, buf, buf, buf, N),
                 "radix sort size") ||
        !cuda_ok(cudaMallocAsync(&buf, 3 * (size_t)N * sizeof(int32_t) + temp_bytes, 0),
                 "cudaMallocAsync of the token sort"))
        return;
    int32_t *sorted = buf, *rows = buf + N, *sorted_rows = buf + 2 * (size_t)N;
    temp = buf + 3 * (size_t)N;
    iota_kernel<<<blocks(N), THREADS>>>(rows, N);
    if (cuda_ok(
            cub::DeviceRadixSort::SortPairs(temp, temp_bytes, tokens, sorted, rows, sorted_rows, N),
            "radix sort of the tokens")) {
        token_embedding_backward_kernel<<<token_embedding_backward_grid(N, C), THREADS>>>(
            dwte, dout, sorted, sorted_rows, v_begin, v_count, N, C);
    }
    cuda_ok(cudaFreeAsync(buf, 0), "cudaFreeAsync of the token sort");
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
    row_max_kernel<<<row_blocks(N), THREADS>>>(max, logits, N, V);
}

void crossentropy_row_sums(float *sums, const float *logits, const float *max,
                           const int32_t *targets, int v_begin, int N, int V)
{
    row_sums_kernel<<<row_blocks(N), THREADS>>>(sums, logits, max, targets, v_begin, N, V);
}

/* Small (3N floats): finished on the host, as the CPU backend does. */
float crossentropy_loss(const float *max, const float *sums, int N)
{
    std::vector<float> m(N), s(2 * (size_t)N);
    if (!cuda_ok(cudaMemcpy(m.data(), max, N * sizeof(float), cudaMemcpyDeviceToHost),
                 "cudaMemcpy of the loss") ||
        !cuda_ok(cudaMemcpy(s.data(), sums, 2 * (size_t)N * sizeof(float), cudaMemcpyDeviceToHost),
                 "cudaMemcpy of the loss"))
        return NAN;
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
    if (!cuda_ok(cudaMalloc(&d, sizeof(double)), "cudaMalloc"))
        return NAN;
    if (!cuda_ok(cudaMemset(d, 0, sizeof(double)), "cudaMemset")) {
        cudaFree(d);
        return NAN;
    }
    if (n)
        sumsq_kernel<<<sumsq_blocks(n), THREADS>>>(d, p, n);
    if (!cuda_ok(cudaMemcpy(&out, d, sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy"))
        out = NAN;
    cuda_ok(cudaFree(d), "cudaFree");
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
    b.attention_state_floats = attention_state_floats;
    b.attention_forward = attention_forward;
    b.attention_backward = attention_backward;
    b.gelu_forward = gelu_forward;
    b.gelu_backward = gelu_backward;
    b.residual_forward = residual_forward;
    b.residual_layernorm_forward = residual_layernorm_forward;
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
