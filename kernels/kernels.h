/* plait kernels: the compute of one pipeline stage of a GPT-2-style decoder.
 *
 * A stage holds layers [layer_begin, layer_end) of the model, optionally the
 * embeddings (first stage) and the final LayerNorm + tied output head +
 * cross-entropy (last stage), sharded tensor-parallel as rank tp_rank of
 * tp_size (Megatron style: QKV and fc1 split by output features, attention
 * projection and fc2 split by input features, the vocabulary split for the
 * embedding and the loss). One process training alone is one stage with
 * everything and tp_size 1.
 *
 * Memory: with GPT_DEVICE_CPU every pointer below is host memory. With
 * GPT_DEVICE_CUDA (link libplait_kernels_cuda.a, see kernels/build.mk)
 * activation, gradient, parameter and collective buffers are device memory on
 * the current device, fp32 whatever the precision; tokens and targets stay on
 * the host. The stage's device
 * work is finished whenever one of its calls returns and before every gpt_comm
 * call.
 *
 * Threads: the CPU stage runs on the OpenMP threads (OMP_NUM_THREADS) and
 * sets OpenBLAS to one thread, so that the two pools do not compete.
 *
 * Loss scale: forward on the last stage returns the mean cross-entropy over the
 * B*T tokens of its micro-batch. backward_input on the last stage seeds the
 * gradient with `loss_scale` times d(mean loss): to average over M accumulated
 * micro-batches and D data-parallel replicas, pass 1/(M*D) and sum-all-reduce
 * the gradients over the data-parallel group. Gradients accumulate until
 * gpt_stage_zero_grad.
 *
 * Errors: functions returning int give 0 on success and -1 on failure, with a
 * one-line message in gpt_stage_error(). */
#ifndef PLAIT_KERNELS_H
#define PLAIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gpt_config {
    int vocab;   /* vocabulary size (padded as desired), divisible by tp_size */
    int max_seq; /* rows of the position embedding; T <= max_seq */
    int n_layer;
    int n_head;  /* divisible by tp_size */
    int d_model; /* divisible by n_head and tp_size */
} gpt_config;

typedef enum gpt_device { GPT_DEVICE_CPU = 0, GPT_DEVICE_CUDA = 1 } gpt_device;

/* What the matrix products multiply in. Storage is fp32 either way (master
 * weights, gradients, moments, activations); GPT_BF16 (CUDA only) rounds the
 * GEMM operands to bf16 on the tensor cores and accumulates in fp32. */
typedef enum gpt_precision { GPT_FP32 = 0, GPT_BF16 = 1 } gpt_precision;

/* The tensor-parallel collectives the stage needs, supplied by the caller.
 * Every rank of the TP group makes the same calls in the same order with the
 * same count. Return 0 on success. Never called when tp_size is 1. error
 * (optional) says why the last call failed, for gpt_stage_error. */
typedef struct gpt_comm {
    void *ctx;
    int (*allreduce_sum)(void *ctx, float *buf, size_t count);
    int (*allreduce_max)(void *ctx, float *buf, size_t count);
    const char *(*error)(void *ctx);
} gpt_comm;

/* Memory from the caller: alloc returns `bytes` of zeroed, 64-byte-aligned
 * memory, or NULL (the stage then takes its own); free gets back what alloc
 * returned. */
typedef struct gpt_alloc {
    void *ctx;
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p);
} gpt_alloc;

typedef struct gpt_stage_opts {
    gpt_config config;
    int layer_begin, layer_end; /* this stage's layers, global indices */
    int first;                  /* holds the embeddings (wte, wpe) */
    int last;                   /* holds ln_f, the tied head (wte) and the loss */
    int tp_rank, tp_size;
    int batch, seq; /* micro-batch B and T */
    int slots;      /* micro-batches in flight: forward/backward take 0..slots-1 */
    gpt_device device;
    gpt_comm comm;           /* required when tp_size > 1 */
    gpt_precision precision; /* GPT_FP32 (0) unless set; GPT_BF16 needs GPT_DEVICE_CUDA */
    /* GPT_DEVICE_CPU: where the gradient buffer (gpt_stage_grads) comes from,
     * when alloc is set: memory the caller's collectives read in place, such
     * as plait_mem_alloc's. Ignored on CUDA. */
    gpt_alloc grad_alloc;
} gpt_stage_opts;

typedef struct gpt_stage gpt_stage;

/* One parameter tensor of this shard. The global tensor has `ndim` dims of
 * `shape`; this shard holds the slice [offset, offset+extent) of dimension
 * `split_dim`, or all of it when split_dim is -1 (replicated across TP; then
 * offset 0 and extent shape[0]). `data`, `grad`, `adam_m`, `adam_v` point into
 * the stage's contiguous buffers at element `index`, `count` elements each, the
 * slice stored densely in row-major order. */
typedef struct gpt_tensor {
    char name[48]; /* "wte", "wpe", "h.3.attn.qkv.w", ..., "lnf.b" */
    int ndim;
    int64_t shape[3];
    int split_dim;
    int64_t offset, extent;
    size_t index, count;
    int decay; /* AdamW weight decay applies (matrices, not biases or LN) */
    float *data, *grad, *adam_m, *adam_v;
} gpt_tensor;

/* Creates a stage. Parameters are initialised from `seed` (see gpt_stage_init);
 * gradients and moments are zero. On failure returns NULL and writes a
 * one-line reason to err. */
gpt_stage *gpt_stage_create(const gpt_stage_opts *opts, uint64_t seed, char *err, size_t errlen);
void gpt_stage_destroy(gpt_stage *s);
const char *gpt_stage_error(const gpt_stage *s);

/* GPT-2 init: every element is a function of (seed, tensor name, global
 * element index) only, so each shard equals the matching slice of the unsharded
 * model, whatever the layout. Normal(0, 0.02) for matrices and embeddings,
 * scaled by 1/sqrt(2*n_layer) for attn.proj.w and mlp.fc2.w; zero biases; unit
 * LayerNorm weights. Zeroes the AdamW moments. */
int gpt_stage_init(gpt_stage *s, uint64_t seed);

/* Forward of micro-batch `slot`.
 * first stage: reads tokens[B*T] (ids in [0, vocab)), `input` ignored.
 * other stages: reads input[B*T*d_model], the previous stage's output.
 * last stage: reads targets[B*T], stores the mean loss in *loss, `output`
 *   ignored. other stages: writes output[B*T*d_model].
 * The slot's activations are kept until its backward_weight. */
int gpt_stage_forward(gpt_stage *s, int slot, const int32_t *tokens, const float *input,
                      const int32_t *targets, float *output, float *loss);

/* Input-gradient half of the backward of `slot`.
 * last stage: grad_output must be NULL; the gradient is loss_scale * d(loss).
 * other stages: reads grad_output[B*T*d_model] (already scaled).
 * first stage: grad_input is ignored. other stages: writes
 *   grad_input[B*T*d_model] for the previous stage. */
int gpt_stage_backward_input(gpt_stage *s, int slot, const float *grad_output, float loss_scale,
                             float *grad_input);
/* Weight-gradient half: accumulates this slot's parameter gradients and frees
 * the slot for the next forward. Call after backward_input of the same slot;
 * may be deferred past other slots' work (zero-bubble schedules). */
int gpt_stage_backward_weight(gpt_stage *s, int slot);
/* Both halves, layer by layer; equals backward_input then backward_weight. */
int gpt_stage_backward(gpt_stage *s, int slot, const float *grad_output, float loss_scale,
                       float *grad_input);

/* Drops the slot's activations without a backward (evaluation-only forward). */
int gpt_stage_discard(gpt_stage *s, int slot);

/* Parameters of this shard, in a fixed order; the buffers are contiguous. */
int gpt_stage_tensor_count(const gpt_stage *s);
const gpt_tensor *gpt_stage_tensor(const gpt_stage *s, int i);
const gpt_tensor *gpt_stage_tensor_by_name(const gpt_stage *s, const char *name);
/* The contiguous buffers (count elements each), for bucketed all-reduce and
 * checkpoints. The tied embedding is the tensor "wte" (first and last stage). */
size_t gpt_stage_param_count(const gpt_stage *s);
float *gpt_stage_params(gpt_stage *s);
float *gpt_stage_grads(gpt_stage *s);
float *gpt_stage_adam_m(gpt_stage *s);
float *gpt_stage_adam_v(gpt_stage *s);

void gpt_stage_zero_grad(gpt_stage *s);
/* This shard's share of the global squared gradient norm: a tensor replicated
 * across TP counts on tp_rank 0 only, and "wte" on a last stage that is not
 * also first is left out (the first stage counts it; the caller has summed the
 * two copies' gradients). Sum the results over the TP and pipeline groups. */
double gpt_stage_grad_sumsq(gpt_stage *s);
void gpt_stage_scale_grads(gpt_stage *s, float factor);
/* AdamW with bias correction; `step` counts from 1. Decay only where
 * gpt_tensor.decay. */
void gpt_stage_adamw(gpt_stage *s, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int step);

/* Floating-point operations of one forward+backward of one micro-batch on
 * this shard (matrix products and attention), for throughput figures. */
double gpt_stage_flops(const gpt_stage *s);

#endif
