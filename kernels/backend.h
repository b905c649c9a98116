/* What a device provides to the stage: memory and the operations of
 * kernels/cpu/ops.h with the same meaning, on its own memory. The stage's
 * code in stage.c, init.c and optimizer.c is written once against this
 * table. */
#ifndef PLAIT_KERNELS_BACKEND_H
#define PLAIT_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpt_backend {
    const char *name;
    /* Prepares the device for a stage: 0, or -1 with a one-line reason. */
    int (*open)(char *err, size_t errlen);
    void *(*alloc)(size_t bytes); /* zeroed; NULL when out of memory */
    void (*free)(void *p);
    void (*copy)(void *dst, const void *src, size_t bytes); /* within device memory */
    void (*upload)(void *dst, const void *host, size_t bytes);
    void (*download)(void *host, const void *src, size_t bytes);
    void (*zero)(float *p, size_t n);
    /* Waits for the device's queued work: 0, or -1 with a one-line reason
     * (asynchronous device errors). The stage calls it before every
     * collective, so the caller's collectives see finished buffers. */
    int (*status)(char *err, size_t errlen);

    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, int N, int C);
    void (*layernorm_backward_input)(float *dinp, const float *dout, const float *inp,
                                     const float *w, const float *mean, const float *rstd, int N,
                                     int C);
    void (*layernorm_backward_weight)(float *dw, float *db, const float *dout, const float *inp,
                                      const float *mean, const float *rstd, int N, int C);
    /* The products take the stage's precision; the CPU computes in fp32. */
    void (*linear_forward)(gpt_precision prec, float *out, const float *inp, const float *w,
                           const float *b, int N, int K, int O);
    void (*linear_backward_input)(gpt_precision prec, float *dinp, const float *dout,
                                  const float *w, int N, int K, int O);
    void (*linear_backward_weight)(gpt_precision prec, float *dw, float *db, const float *dout,
                                   const float *inp, int N, int K, int O);
    /* What attention keeps for its backward in `att`, in floats: the CPU keeps
     * the TxT softmax, CUDA one log-sum-exp per query row. Attention takes
     * the stage's precision too (CUDA: tensor cores in bf16). */
    size_t (*attention_state_floats)(int B, int T, int H);
    void (*attention_forward)(gpt_precision prec, float *out, float *att, const float *qkv, int B,
                              int T, int H, int hd);
    /* `out` is attention_forward's output; scratch holds B*H*T floats. */
    void (*attention_backward)(gpt_precision prec, float *dqkv, float *scratch, const float *dout,
                               const float *out, const float *qkv, const float *att, int B, int T,
                               int H, int hd);
    void (*gelu_forward)(float *out, const float *inp, size_t n);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n);
    void (*residual_forward)(float *out, const float *a, const float *b, const float *bias,
                             size_t rows, int C);
    /* residual_forward into res, then layernorm_forward of res into out. */
    void (*residual_layernorm_forward)(float *res, float *out, float *mean, float *rstd,
                                       const float *a, const float *b, const float *bias,
                                       const float *w, const float *ln_b, int N, int C);
    void (*token_embedding_forward)(float *out, const int32_t *tokens, const float *wte,
                                    int v_begin, int v_count, int N, int C);
    void (*token_embedding_backward_weight)(float *dwte, const float *dout, const int32_t *tokens,
                                            int v_begin, int v_count, int N, int C);
    void (*position_embedding_forward)(float *out, const float *wpe, int B, int T, int C);
    void (*position_embedding_backward_weight)(float *dwpe, const float *dout, int B, int T, int C);
    void (*crossentropy_row_max)(float *max, const float *logits, int N, int V);
    void (*crossentropy_row_sums)(float *sums, const float *logits, const float *max,
                                  const int32_t *targets, int v_begin, int N, int V);
    float (*crossentropy_loss)(const float *max, const float *sums, int N);
    void (*crossentropy_backward)(float *logits, const float *max, const float *sums,
                                  const int32_t *targets, int v_begin, int N, int V, float scale);
    void (*adamw_update)(float *p, const float *g, float *m, float *v, size_t n, float lr,
                         float beta1, float beta2, float eps, float weight_decay, float bc1,
                         float bc2);
    double (*sumsq)(const float *p, size_t n);
    void (*scale)(float *p, size_t n, float factor);
};

extern const struct gpt_backend gpt_cpu_backend;
/* Defined by libplait_kernels_cuda.a; NULL (weak) when it is not linked. */
const struct gpt_backend *gpt_cuda_backend(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif
