/* The CPU backend: host memory and the kernels of ops.h. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "ops.h"

/* The GEMMs are split across OpenMP threads, one single-threaded sgemm each
 * (see linear.c). */
static int cpu_open(char *err, size_t errlen)
{
    (void)err, (void)errlen;
    openblas_set_num_threads(1);
    return 0;
}

/* 64-byte aligned for the BLAS. */
static void *cpu_alloc(size_t bytes)
{
    bytes = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

static void cpu_zero(float *p, size_t n)
{
#pragma omp parallel for if (n >= OPS_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        p[i] = 0.0f;
}

static int cpu_status(char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return 0;
}

/* simd: a vector of partial sums, where one running double waited on each
 * add (3.2x on 124M parameters, then bound by memory). */
static double cpu_sumsq(const float *p, size_t n)
{
    double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) if (n >= OPS_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        sum += (double)p[i] * p[i];
    return sum;
}

static void cpu_scale(float *p, size_t n, float factor)
{
#pragma omp parallel for if (n >= OPS_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        p[i] *= factor;
}

/* fp32 whatever the stage asks: check_opts refuses bf16 on the CPU. */
static void cpu_linear_forward(gpt_precision prec, float *out, const float *inp, const float *w,
                               const float *b, int N, int K, int O)
{
    (void)prec;
    linear_forward(out, inp, w, b, N, K, O);
}

static void cpu_linear_backward_input(gpt_precision prec, float *dinp, const float *dout,
                                      const float *w, int N, int K, int O)
{
    (void)prec;
    linear_backward_input(dinp, dout, w, N, K, O);
}

static void cpu_linear_backward_weight(gpt_precision prec, float *dw, float *db, const float *dout,
                                       const float *inp, int N, int K, int O)
{
    (void)prec;
    linear_backward_weight(dw, db, dout, inp, N, K, O);
}

static size_t cpu_attention_state_floats(int B, int T, int H)
{
    return (size_t)B * H * T * T;
}

static void cpu_attention_forward(gpt_precision prec, float *out, float *att, const float *qkv,
                                  int B, int T, int H, int hd)
{
    (void)prec;
    attention_forward(out, att, qkv, B, T, H, hd);
}

static void cpu_attention_backward(gpt_precision prec, float *dqkv, float *scratch,
                                   const float *dout, const float *out, const float *qkv,
                                   const float *att, int B, int T, int H, int hd)
{
    (void)prec, (void)out;
    attention_backward(dqkv, scratch, dout, qkv, att, B, T, H, hd);
}

const struct gpt_backend gpt_cpu_backend = {
    .name = "cpu",
    .open = cpu_open,
    .alloc = cpu_alloc,
    .free = free,
    .copy = cpu_copy,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .status = cpu_status,
    .layernorm_forward = layernorm_forward,
    .layernorm_backward_input = layernorm_backward_input,
    .layernorm_backward_weight = layernorm_backward_weight,
    .linear_forward = cpu_linear_forward,
    .linear_backward_input = cpu_linear_backward_input,
    .linear_backward_weight = cpu_linear_backward_weight,
    .attention_state_floats = cpu_attention_state_floats,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .gelu_forward = gelu_forward,
    .gelu_backward = gelu_backward,
    .residual_forward = residual_forward,
    .residual_layernorm_forward = residual_layernorm_forward,
    .token_embedding_forward = token_embedding_forward,
    .token_embedding_backward_weight = token_embedding_backward_weight,
    .position_embedding_forward = position_embedding_forward,
    .position_embedding_backward_weight = position_embedding_backward_weight,
    .crossentropy_row_max = crossentropy_row_max,
    .crossentropy_row_sums = crossentropy_row_sums,
    .crossentropy_loss = crossentropy_loss,
    .crossentropy_backward = crossentropy_backward,
    .adamw_update = adamw_update,
    .sumsq = cpu_sumsq,
    .scale = cpu_scale,
};
