/* GPT-2 124M training step on one GPU (B=16, T=1024, the CUDA backend in
 * bf16 or fp32): tokens/s, and MFU against a cuBLAS bf16 GEMM (bf16 in and
 * out, fp32 accumulation) on 8192^3 measured in the same run. Without a GPU it
 * says so and records nothing.
 *
 *   bench_train_step_cuda [steps [bf16|fp32]] */
#include <cublas_v2.h>
#include <string.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "kernels/kernels.h"

/* GFLOP/s of cuBLAS's bf16 GEMM, or 0 when any call fails. */
static double bf16_gemm_gflops(void)
{
    const int n = 8192, reps = 10;
    const size_t bytes = (size_t)n * n * 2;
    void *a = NULL, *b = NULL, *c = NULL;
    cublasHandle_t h = NULL;
    double gflops = 0.0;
    const float one = 1.0f, zero = 0.0f;
#define GEMM()                                                                                     \
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, \
                 &zero, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
    if (cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess &&
        cudaMalloc(&c, bytes) == cudaSuccess && cudaMemset(a, 0, bytes) == cudaSuccess &&
        cudaMemset(b, 0, bytes) == cudaSuccess && cublasCreate(&h) == CUBLAS_STATUS_SUCCESS &&
        GEMM() == CUBLAS_STATUS_SUCCESS && cudaDeviceSynchronize() == cudaSuccess) {
        double t = bench_now();
        int ok = 1;
        for (int r = 0; r < reps; r++)
            ok &= GEMM() == CUBLAS_STATUS_SUCCESS;
        ok &= cudaDeviceSynchronize() == cudaSuccess;
        t = bench_now() - t;
        gflops = ok ? 2.0 * n * n * n * reps / t / 1e9 : 0.0;
    }
#undef GEMM
    if (h)
        cublasDestroy(h);
    cudaFree(a), cudaFree(b), cudaFree(c);
    return gflops;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 5, devices = 0;
    const char *prec = argc > 2 ? argv[2] : "bf16";
    if (steps <= 0) {
        fprintf(stderr, "bench_train_step_cuda: steps %d: expected a positive number\n", steps);
        return 2;
    }
    if (strcmp(prec, "bf16") != 0 && strcmp(prec, "fp32") != 0) {
        fprintf(stderr, "bench_train_step_cuda: precision '%s': expected bf16 or fp32\n", prec);
        return 2;
    }
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("bench_train_step_cuda: no CUDA device, nothing measured\n");
        return 0;
    }
    gpt_stage_opts o = {
        .config = {.vocab = 50304, .max_seq = 1024, .n_layer = 12, .n_head = 12, .d_model = 768},
        .layer_end = 12,
        .first = 1,
        .last = 1,
        .tp_size = 1,
        .batch = 16,
        .seq = 1024,
        .slots = 1,
        .device = GPT_DEVICE_CUDA,
        .precision = strcmp(prec, "bf16") == 0 ? GPT_BF16 : GPT_FP32};
    char err[256];
    double anchor = bf16_gemm_gflops();
    if (anchor <= 0.0) {
        fprintf(stderr, "bench_train_step_cuda: the cuBLAS bf16 GEMM anchor failed\n");
        return 1;
    }
    gpt_stage *s = gpt_stage_create(&o, 1337, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "bench_train_step_cuda: %s\n", err);
        return 1;
    }
    const int N = o.batch * o.seq;
    int32_t *tok = malloc(N * sizeof(int32_t)), *tgt = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        tok[i] = (int32_t)((i * 7919) % o.config.vocab);
        tgt[i] = (int32_t)((i * 104729 + 13) % o.config.vocab);
    }
    double total = 0;
    float loss = 0;
    /* Step 0 warms up. The stage's calls return with the device idle, so the
     * host clock splits a step into its phases. */
    for (int step = 0; step <= steps; step++) {
        double t0 = bench_now(), t_fwd, t_bwd;
        gpt_stage_zero_grad(s);
        int rc = gpt_stage_forward(s, 0, tok, NULL, tgt, NULL, &loss);
        t_fwd = bench_now();
        rc = rc < 0 ? rc : gpt_stage_backward(s, 0, NULL, 1.0f, NULL);
        t_bwd = bench_now();
        if (rc < 0) {
            fprintf(stderr, "bench_train_step_cuda: %s\n", gpt_stage_error(s));
            return 1;
        }
        double norm = sqrt(gpt_stage_grad_sumsq(s));
        if (norm > 1.0)
            gpt_stage_scale_grads(s, (float)(1.0 / norm));
        gpt_stage_adamw(s, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step + 1);
        if (cudaDeviceSynchronize() != cudaSuccess) {
            fprintf(stderr, "bench_train_step_cuda: step %d: %s\n", step,
                    cudaGetErrorString(cudaGetLastError()));
            return 1;
        }
        double dt = bench_now() - t0;
        if (step > 0)
            total += dt;
        printf("step %d: loss %.4f, %.3f s (forward %.3f, backward %.3f, optimizer %.3f)\n", step,
               loss, dt, t_fwd - t0, t_bwd - t_fwd, dt - (t_bwd - t0));
    }
    double step_s = total / steps, tokens = N / step_s;
    double gflops = gpt_stage_flops(s) / 1e9 / step_s;
    printf("%s: %.0f tokens/s, %.1f GFLOP/s, cuBLAS bf16 GEMM %.1f GFLOP/s, MFU %.3f\n", prec,
           tokens, gflops, anchor, gflops / anchor);
    FILE *f = bench_results_open("bench_train_step_cuda");
    if (f) {
        char goal[80], metric[32];
        snprintf(goal, sizeof(goal), "500k tokens/s (measured: %.0f tokens/s)", tokens);
        snprintf(metric, sizeof(metric), "mfu_%s", prec);
        bench_emit(f, "kernels_cuda_gpt2_124m_step", metric, gflops, "GFLOP/s",
                   "cuBLAS bf16 GEMM 8192^3 GFLOP/s", anchor, gflops / anchor, goal);
        fclose(f);
    }
    gpt_stage_destroy(s);
    free(tok), free(tgt);
    return 0;
}
