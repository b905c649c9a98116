/* fp32 CPU operations the GPT stage is built from. Rows are the N = B*T
 * tokens of a micro-batch; matrices are row-major; a linear layer's weight is
 * (out, in) as in PyTorch. Functions named *_backward_* accumulate into
 * parameter gradients (+=) and overwrite or add into activation gradients as
 * documented. The CPU backend (backend.c) exposes them to the stage. */
#ifndef PLAIT_KERNELS_CPU_OPS_H
#define PLAIT_KERNELS_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Element-wise passes over fewer elements than this run on one thread: there
 * the fork and barrier of a parallel region cost more than the work (most
 * LayerNorm and bias tensors), and on a shared machine a barrier can wait a
 * whole scheduling quantum. */
#define OPS_PARALLEL_MIN 32768

/* out = LN(inp) * w + b per row of C; keeps mean and 1/std for backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
/* res = a + b (+ bias per row of C when bias is not NULL), then out = LN(res)
 * * w + ln_b with mean and 1/std kept: residual_forward and layernorm_forward
 * in one pass. */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *bias, const float *w,
                                const float *ln_b, int N, int C);
/* dinp += d LN / d inp applied to dout. */
void layernorm_backward_input(float *dinp, const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C);
/* dw += sum over rows of dout * xhat, db += sum over rows of dout. */
void layernorm_backward_weight(float *dw, float *db, const float *dout, const float *inp,
                               const float *mean, const float *rstd, int N, int C);

/* out[N,O] = inp[N,K] w[O,K]^T (+ b when b is not NULL). */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int K,
                    int O);
/* dinp[N,K] = dout[N,O] w[O,K]. */
void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int K, int O);
/* dw[O,K] += dout^T inp; db[O] += column sums of dout (db may be NULL). */
void linear_backward_weight(float *dw, float *db, const float *dout, const float *inp, int N, int K,
                            int O);

/* Causal multi-head attention over qkv rows laid out [q | k | v], each H heads
 * of hd. out[N, H*hd]; att[B,H,T,T] keeps the softmax (zeros above the
 * diagonal). */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int hd);
/* dqkv = d out / d qkv applied to dout (overwritten). scratch: B*H*T floats. */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int H, int hd);

/* GELU, tanh approximation (GPT-2). */
void gelu_forward(float *out, const float *inp, size_t n);
/* dinp = gelu'(inp) * dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* out = a + b (+ bias per row of C when bias is not NULL); n = rows * C. */
void residual_forward(float *out, const float *a, const float *b, const float *bias, size_t rows,
                      int C);

/* out[N,C] = rows of wte for tokens in [v_begin, v_begin + v_count), zeros for
 * the others (vocabulary-parallel lookup; the shards' outputs sum). */
void token_embedding_forward(float *out, const int32_t *tokens, const float *wte, int v_begin,
                             int v_count, int N, int C);
void token_embedding_backward_weight(float *dwte, const float *dout, const int32_t *tokens,
                                     int v_begin, int v_count, int N, int C);
/* out[b,t,:] += wpe[t,:]. */
void position_embedding_forward(float *out, const float *wpe, int B, int T, int C);
void position_embedding_backward_weight(float *dwpe, const float *dout, int B, int T, int C);

/* Vocabulary-parallel softmax cross-entropy over logits[N,V] holding the
 * vocabulary slice [v_begin, v_begin + V). The caller max-reduces `max`
 * between the two steps and sum-reduces `sums` after the second. */
void crossentropy_row_max(float *max, const float *logits, int N, int V);
/* sums[2N]: sums[i] = sum exp(logit - max), sums[N + i] = the target's logit
 * if it lies in this slice, else 0. */
void crossentropy_row_sums(float *sums, const float *logits, const float *max,
                           const int32_t *targets, int v_begin, int N, int V);
/* Mean over rows of log(sum) + max - target logit. */
float crossentropy_loss(const float *max, const float *sums, int N);
/* logits -> scale / N * (softmax - onehot(target)), in place. */
void crossentropy_backward(float *logits, const float *max, const float *sums,
                           const int32_t *targets, int v_begin, int N, int V, float scale);

/* One AdamW step over n elements; bc1, bc2 are 1 - beta^step. */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2);

#endif
