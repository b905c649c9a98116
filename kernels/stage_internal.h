/* The layout of a gpt_stage, shared by the files that implement it. */
#ifndef PLAIT_KERNELS_STAGE_INTERNAL_H
#define PLAIT_KERNELS_STAGE_INTERNAL_H

#include <stdbool.h>

#include "kernels/backend.h"
#include "kernels/kernels.h"

/* Per-layer tensors, in the order they appear in the parameter buffer. */
enum {
    LN1_W,
    LN1_B,
    QKV_W,
    QKV_B,
    PROJ_W,
    PROJ_B,
    LN2_W,
    LN2_B,
    FC1_W,
    FC1_B,
    FC2_W,
    FC2_B,
    LAYER_TENSORS
};

enum tensor_init { INIT_ZERO, INIT_ONE, INIT_NORMAL };

/* What one layer keeps of one micro-batch between forward and backward. */
struct layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *res_mid;
    float *ln2, *ln2_mean, *ln2_rstd, *fc1, *gelu;
    /* Output gradients of the layer's operations, kept from backward_input
     * for backward_weight. */
    float *dres_mid, *dqkv, *dfc1, *dln1, *dln2;
};

enum slot_state { SLOT_FREE, SLOT_FORWARD_DONE, SLOT_INPUT_GRAD_DONE };

struct slot {
    enum slot_state state;
    int32_t *tokens, *targets;
    float **res, **dres; /* residual stream and its gradient, n_layers + 1 each */
    struct layer_acts *layer;
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *ce_max, *ce_sums, *dlnf;
};

struct gpt_stage {
    gpt_stage_opts o;
    const struct gpt_backend *ops;
    int L;                    /* layers held */
    int N, C, Cl, Hl, hd, Fl; /* tokens, width, local width, local heads, head dim, local MLP */
    int Vl, v_begin;          /* this shard's vocabulary slice */
    gpt_tensor *tensors;
    enum tensor_init *init;
    float *init_std;
    int n_tensors, cap_tensors;
    int i_wte, i_wpe, i_layers, i_lnf; /* first tensor index of each group, -1 if absent */
    float *params, *grads, *adam_m, *adam_v;
    bool grads_from_caller; /* from o.grad_alloc: given back through it */
    size_t n_params;
    struct slot *slots;
    float *tmp, *datty, *dgelu, *att_scratch; /* scratch shared by all slots */
    void **allocs;
    int n_allocs, cap_allocs;
    char err[256];
};

/* Builds the tensor table and the contiguous buffers; 0 or -1 with s->err. */
int stage_build_tensors(struct gpt_stage *s);
/* Initialises parameters and moments; 0 or -1 with s->err. */
int stage_init(struct gpt_stage *s, uint64_t seed);

#endif
