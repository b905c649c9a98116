/* plait-train on a GPU (device = "cuda"): runtime/train/cuda.c, linked only
 * where CUDA is. The functions are weak: in a build without CUDA they are
 * NULL, plait-train refuses device = "cuda", and nothing below is called. A
 * CPU run calls none of them either (t->cuda is NULL), so it never touches
 * the CUDA runtime.
 *
 * On the GPU, the stage's parameters, gradients, moments and activation
 * buffers are device memory (kernels.h, GPT_DEVICE_CUDA); tokens, targets,
 * losses and the agreed scalars stay on the host. TP collectives and the DP
 * gradient all-reduce go through NCCL (one GPU per rank), activations
 * between pipeline stages through libplait_cuda's point-to-point, and a
 * checkpoint's snapshot is a device-to-host copy. */
#ifndef PLAIT_TRAIN_CUDA_H
#define PLAIT_TRAIN_CUDA_H

#include "kernels/kernels.h"
#include "runtime/plait_cuda.h"

struct trainer;

#define WEAK __attribute__((weak))

/* Selects the rank's GPU before any other CUDA work, then opens NCCL (when
 * tp or dp > 1) and the pipeline's point-to-point (pp > 1). Collective. */
WEAK int train_cuda_open(struct trainer *t);
/* failed: the run stops on an error, so NCCL is aborted, not waited for. */
WEAK void train_cuda_close(struct trainer *t, int failed);
/* The TP collectives for gpt_stage_opts.comm, on device buffers. */
WEAK gpt_comm train_cuda_tp_comm(struct trainer *t);

/* Zeroed device memory for `count` floats; NULL (and t->err) on failure. */
WEAK float *train_cuda_alloc(struct trainer *t, size_t count);
WEAK void train_cuda_free(float *p);

/* Activations and gradients between stages (device buffers). */
WEAK int train_cuda_isend(struct trainer *t, const float *buf, size_t bytes, int peer, uint32_t tag,
                          plait_cuda_request_t **req);
WEAK int train_cuda_recv(struct trainer *t, float *buf, size_t bytes, int peer, uint32_t tag);
WEAK int train_cuda_wait(struct trainer *t, plait_cuda_request_t *req);

/* Starts chunk k's gradient all-reduce over the DP group (once per step);
 * train_cuda_dp_finish waits for all of them. */
WEAK int train_cuda_dp_start(struct trainer *t, int k);
WEAK int train_cuda_dp_finish(struct trainer *t);

/* The tied embedding's gradient: the sum of both copies in both. */
WEAK int train_cuda_tie_embeddings(struct trainer *t, const gpt_tensor *emb,
                                   const gpt_tensor *head);

/* io's copy_to_host (ctx: the trainer), and the way back for a resume. */
WEAK int train_cuda_copy_to_host(void *dst, const void *src, size_t bytes, void *ctx);
WEAK int train_cuda_upload(struct trainer *t, void *dst, const void *src, size_t bytes);

#undef WEAK

#endif
