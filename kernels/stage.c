/* A GPT stage on any backend: creation, forward, split backward. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/stage_internal.h"

static int fail(struct gpt_stage *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return -1;
}

/* The backend's memory, zeroed, freed with the stage. */
static float *alloc_floats(struct gpt_stage *s, size_t n)
{
    if (s->n_allocs == s->cap_allocs) {
        int cap = s->cap_allocs ? 2 * s->cap_allocs : 256;
        void **a = realloc(s->allocs, cap * sizeof(*a));
        if (!a)
            return NULL;
        s->allocs = a;
        s->cap_allocs = cap;
    }
    float *p = s->ops->alloc(n * sizeof(float));
    if (p)
        s->allocs[s->n_allocs++] = p;
    return p;
}

/* The caller's reason (a runtime's: a dead peer, a descriptor limit) is the
 * cause the user needs. */
static int tp_fail(struct gpt_stage *s, const char *op, size_t n)
{
    const char *why = s->o.comm.error ? s->o.comm.error(s->o.comm.ctx) : NULL;
    return fail(s, "tensor-parallel allreduce-%s of %zu floats failed on rank %d of %d%s%s", op, n,
                s->o.tp_rank, s->o.tp_size, why && *why ? ": " : "", why && *why ? why : "");
}

static int tp_sum(struct gpt_stage *s, float *buf, size_t n)
{
    if (s->o.tp_size == 1)
        return 0;
    if (s->ops->status(s->err, sizeof(s->err)) < 0)
        return -1;
    return s->o.comm.allreduce_sum(s->o.comm.ctx, buf, n) ? tp_fail(s, "sum", n) : 0;
}

static int tp_max(struct gpt_stage *s, float *buf, size_t n)
{
    if (s->o.tp_size == 1)
        return 0;
    if (s->ops->status(s->err, sizeof(s->err)) < 0)
        return -1;
    return s->o.comm.allreduce_max(s->o.comm.ctx, buf, n) ? tp_fail(s, "max", n) : 0;
}

static const char *check_opts(const gpt_stage_opts *o)
{
    static _Thread_local char msg[200];
    const gpt_config *c = &o->config;
#define BAD(...) return (snprintf(msg, sizeof(msg), __VA_ARGS__), msg)
    if (c->vocab <= 0 || c->max_seq <= 0 || c->n_layer <= 0 || c->n_head <= 0 || c->d_model <= 0)
        BAD("model config vocab=%d max_seq=%d n_layer=%d n_head=%d d_model=%d: expected all > 0",
            c->vocab, c->max_seq, c->n_layer, c->n_head, c->d_model);
    if (c->d_model % c->n_head)
        BAD("d_model %d: expected a multiple of n_head %d", c->d_model, c->n_head);
    if (o->tp_size <= 0 || o->tp_rank < 0 || o->tp_rank >= o->tp_size)
        BAD("tp_rank %d of tp_size %d: expected 0 <= tp_rank < tp_size", o->tp_rank, o->tp_size);
    if (c->n_head % o->tp_size || c->vocab % o->tp_size)
        BAD("tp_size %d: expected a divisor of n_head %d and vocab %d", o->tp_size, c->n_head,
            c->vocab);
    if (o->tp_size > 1 && (!o->comm.allreduce_sum || !o->comm.allreduce_max))
        BAD("tp_size %d: expected allreduce_sum and allreduce_max in comm", o->tp_size);
    if (o->layer_begin < 0 || o->layer_end < o->layer_begin || o->layer_end > c->n_layer)
        BAD("layers [%d, %d): expected 0 <= begin <= end <= n_layer %d", o->layer_begin,
            o->layer_end, c->n_layer);
    if (o->first && o->layer_begin != 0)
        BAD("first stage starting at layer %d: expected layer 0", o->layer_begin);
    if (o->last && o->layer_end != c->n_layer)
        BAD("last stage ending at layer %d: expected n_layer %d", o->layer_end, c->n_layer);
    if (o->batch <= 0 || o->seq <= 0 || o->seq > c->max_seq)
        BAD("micro-batch B=%d T=%d: expected B > 0 and 0 < T <= max_seq %d", o->batch, o->seq,
            c->max_seq);
    if (o->slots <= 0)
        BAD("slots %d: expected at least 1", o->slots);
    if (o->device != GPT_DEVICE_CPU && o->device != GPT_DEVICE_CUDA)
        BAD("device %d: expected GPT_DEVICE_CPU or GPT_DEVICE_CUDA", (int)o->device);
    if (o->precision != GPT_FP32 && o->precision != GPT_BF16)
        BAD("precision %d: expected GPT_FP32 or GPT_BF16", (int)o->precision);
    if (o->precision == GPT_BF16 && o->device != GPT_DEVICE_CUDA)
        BAD("precision bf16 on device cpu: expected device cuda (the CPU computes in fp32)");
    if (o->device == GPT_DEVICE_CUDA && !(gpt_cuda_backend && gpt_cuda_backend()))
        BAD("device cuda: not available (link libplait_kernels_cuda.a, built when nvcc is "
            "found)");
#undef BAD
    return NULL;
}

static int alloc_slot(struct gpt_stage *s, struct slot *sl)
{
    const size_t N = s->N, C = s->C, B = s->o.batch, T = s->o.seq, L = s->L;
    int ok = 1;
#define A(ptr, n) ok &= ((ptr) = alloc_floats(s, (n))) != NULL
    sl->res = calloc(L + 1, sizeof(float *));
    sl->dres = calloc(L + 1, sizeof(float *));
    sl->layer = calloc(L ? L : 1, sizeof(*sl->layer));
    if (!sl->res || !sl->dres || !sl->layer)
        return -1;
    for (size_t l = 0; l <= L; l++) {
        A(sl->res[l], N * C);
        A(sl->dres[l], N * C);
    }
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *a = &sl->layer[l];
        A(a->ln1, N * C);
        A(a->ln1_mean, N);
        A(a->ln1_rstd, N);
        A(a->qkv, N * 3 * s->Cl);
        A(a->att, s->ops->attention_state_floats(B, T, s->Hl));
        A(a->atty, N * s->Cl);
        A(a->res_mid, N * C);
        A(a->ln2, N * C);
        A(a->ln2_mean, N);
        A(a->ln2_rstd, N);
        A(a->fc1, N * s->Fl);
        A(a->gelu, N * s->Fl);
        A(a->dres_mid, N * C);
        A(a->dqkv, N * 3 * s->Cl);
        A(a->dfc1, N * s->Fl);
        A(a->dln1, N * C);
        A(a->dln2, N * C);
    }
    sl->tokens = (int32_t *)alloc_floats(s, N);
    sl->targets = (int32_t *)alloc_floats(s, N);
    ok &= sl->tokens && sl->targets;
    if (s->o.last) {
        A(sl->lnf, N * C);
        A(sl->lnf_mean, N);
        A(sl->lnf_rstd, N);
        A(sl->logits, N * s->Vl);
        A(sl->ce_max, N);
        A(sl->ce_sums, 2 * N);
        A(sl->dlnf, N * C);
    }
#undef A
    return ok ? 0 : -1;
}

/* The caller's memory when it offers some on the CPU, else the stage's own. */
static float *grad_buffer(struct gpt_stage *s)
{
    const gpt_alloc *a = &s->o.grad_alloc;
    float *p = NULL;
    if (a->alloc && s->o.device == GPT_DEVICE_CPU)
        p = a->alloc(a->ctx, s->n_params * sizeof(float));
    s->grads_from_caller = p != NULL;
    return p ? p : alloc_floats(s, s->n_params);
}

gpt_stage *gpt_stage_create(const gpt_stage_opts *opts, uint64_t seed, char *err, size_t errlen)
{
    const char *why = check_opts(opts);
    if (why) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    struct gpt_stage *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory for a GPT stage");
        return NULL;
    }
    s->o = *opts;
    s->ops = opts->device == GPT_DEVICE_CUDA ? gpt_cuda_backend() : &gpt_cpu_backend;
    if (s->ops->open(s->err, sizeof(s->err)) < 0)
        goto fail;
    const gpt_config *c = &opts->config;
    s->L = opts->layer_end - opts->layer_begin;
    s->N = opts->batch * opts->seq;
    s->C = c->d_model;
    s->Cl = c->d_model / opts->tp_size;
    s->Hl = c->n_head / opts->tp_size;
    s->hd = c->d_model / c->n_head;
    s->Fl = 4 * c->d_model / opts->tp_size;
    s->Vl = c->vocab / opts->tp_size;
    s->v_begin = opts->tp_rank * s->Vl;
    if (stage_build_tensors(s) < 0)
        goto fail;
    s->params = alloc_floats(s, s->n_params);
    s->grads = grad_buffer(s);
    s->adam_m = alloc_floats(s, s->n_params);
    s->adam_v = alloc_floats(s, s->n_params);
    s->tmp = alloc_floats(s, (size_t)s->N * s->C);
    s->datty = alloc_floats(s, (size_t)s->N * s->Cl);
    s->dgelu = alloc_floats(s, (size_t)s->N * s->Fl);
    s->att_scratch = alloc_floats(s, (size_t)opts->batch * s->Hl * opts->seq);
    s->slots = calloc(opts->slots, sizeof(*s->slots));
    if (!s->params || !s->grads || !s->adam_m || !s->adam_v || !s->tmp || !s->datty || !s->dgelu ||
        !s->att_scratch || !s->slots) {
        fail(s, "out of memory for %zu parameters and activations", s->n_params);
        goto fail;
    }
    for (int i = 0; i < opts->slots; i++)
        if (alloc_slot(s, &s->slots[i]) < 0) {
            fail(s, "out of memory for the activations of %d micro-batches", opts->slots);
            goto fail;
        }
    for (int i = 0; i < s->n_tensors; i++) {
        gpt_tensor *t = &s->tensors[i];
        t->data = s->params + t->index;
        t->grad = s->grads + t->index;
        t->adam_m = s->adam_m + t->index;
        t->adam_v = s->adam_v + t->index;
    }
    if (stage_init(s, seed) < 0)
        goto fail;
    return s;
fail:
    snprintf(err, errlen, "%s", s->err);
    gpt_stage_destroy(s);
    return NULL;
}

void gpt_stage_destroy(gpt_stage *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_allocs; i++)
        s->ops->free(s->allocs[i]);
    if (s->grads_from_caller)
        s->o.grad_alloc.free(s->o.grad_alloc.ctx, s->grads);
    if (s->slots)
        for (int i = 0; i < s->o.slots; i++) {
            free(s->slots[i].res);
            free(s->slots[i].dres);
            free(s->slots[i].layer);
        }
    free(s->slots);
    free(s->allocs);
    free(s->tensors);
    free(s->init);
    free(s->init_std);
    free(s);
}

const char *gpt_stage_error(const gpt_stage *s)
{
    return s->err;
}

static float *param(struct gpt_stage *s, int i)
{
    return s->params + s->tensors[i].index;
}

static float *grad(struct gpt_stage *s, int i)
{
    return s->grads + s->tensors[i].index;
}

#define LP(l, k) param(s, s->i_layers + (l)*LAYER_TENSORS + (k))
#define LG(l, k) grad(s, s->i_layers + (l)*LAYER_TENSORS + (k))

/* Where a LayerNorm writes and what it multiplies and adds. */
struct layernorm_target {
    float *out, *mean, *rstd;
    const float *w, *b;
};

/* The LayerNorm that reads the residual stream res[l]: layer l's first, or
 * after the last layer the final one on the last stage; 0 when none does
 * (the stage's output). The residual add that writes res[l] computes it in
 * the same pass. */
static int stream_layernorm(struct gpt_stage *s, struct slot *sl, int l, struct layernorm_target *t)
{
    if (l < s->L) {
        struct layer_acts *a = &sl->layer[l];
        *t =
            (struct layernorm_target){a->ln1, a->ln1_mean, a->ln1_rstd, LP(l, LN1_W), LP(l, LN1_B)};
        return 1;
    }
    if (!s->o.last)
        return 0;
    *t = (struct layernorm_target){sl->lnf, sl->lnf_mean, sl->lnf_rstd, param(s, s->i_lnf),
                                   param(s, s->i_lnf + 1)};
    return 1;
}

/* Expects layer l's ln1 done; leaves res[l + 1] and the LayerNorm that reads
 * it. */
static int layer_forward(struct gpt_stage *s, struct slot *sl, int l)
{
    struct layer_acts *a = &sl->layer[l];
    const int N = s->N, C = s->C, Cl = s->Cl, Fl = s->Fl;
    s->ops->linear_forward(s->o.precision, a->qkv, a->ln1, LP(l, QKV_W), LP(l, QKV_B), N, C,
                           3 * Cl);
    s->ops->attention_forward(s->o.precision, a->atty, a->att, a->qkv, s->o.batch, s->o.seq, s->Hl,
                              s->hd);
    s->ops->linear_forward(s->o.precision, s->tmp, a->atty, LP(l, PROJ_W), NULL, N, Cl, C);
    if (tp_sum(s, s->tmp, (size_t)N * C) < 0)
        return -1;
    s->ops->residual_layernorm_forward(a->res_mid, a->ln2, a->ln2_mean, a->ln2_rstd, sl->res[l],
                                       s->tmp, LP(l, PROJ_B), LP(l, LN2_W), LP(l, LN2_B), N, C);
    s->ops->linear_forward(s->o.precision, a->fc1, a->ln2, LP(l, FC1_W), LP(l, FC1_B), N, C, Fl);
    s->ops->gelu_forward(a->gelu, a->fc1, (size_t)N * Fl);
    s->ops->linear_forward(s->o.precision, s->tmp, a->gelu, LP(l, FC2_W), NULL, N, Fl, C);
    if (tp_sum(s, s->tmp, (size_t)N * C) < 0)
        return -1;
    struct layernorm_target t;
    if (stream_layernorm(s, sl, l + 1, &t))
        s->ops->residual_layernorm_forward(sl->res[l + 1], t.out, t.mean, t.rstd, a->res_mid,
                                           s->tmp, LP(l, FC2_B), t.w, t.b, N, C);
    else
        s->ops->residual_forward(sl->res[l + 1], a->res_mid, s->tmp, LP(l, FC2_B), N, C);
    return 0;
}

/* Expects the final LayerNorm done (by the last layer's residual add). */
static int head_forward(struct gpt_stage *s, struct slot *sl, float *loss)
{
    const int N = s->N, C = s->C;
    s->ops->linear_forward(s->o.precision, sl->logits, sl->lnf, param(s, s->i_wte), NULL, N, C,
                           s->Vl);
    s->ops->crossentropy_row_max(sl->ce_max, sl->logits, N, s->Vl);
    if (tp_max(s, sl->ce_max, N) < 0)
        return -1;
    s->ops->crossentropy_row_sums(sl->ce_sums, sl->logits, sl->ce_max, sl->targets, s->v_begin, N,
                                  s->Vl);
    if (tp_sum(s, sl->ce_sums, 2 * (size_t)N) < 0)
        return -1;
    *loss = s->ops->crossentropy_loss(sl->ce_max, sl->ce_sums, N);
    return 0;
}

static int check_ids(struct gpt_stage *s, const int32_t *ids, const char *what)
{
    for (int i = 0; i < s->N; i++)
        if (ids[i] < 0 || ids[i] >= s->o.config.vocab)
            return fail(s, "%s[%d] = %d: expected a token id in [0, %d)", what, i, ids[i],
                        s->o.config.vocab);
    return 0;
}

static struct slot *get_slot(struct gpt_stage *s, int slot, enum slot_state want)
{
    static const char *const what[] = {"no micro-batch", "a forward without backward",
                                       "an input gradient without weight gradient"};
    if (slot < 0 || slot >= s->o.slots) {
        fail(s, "slot %d: expected 0 <= slot < %d", slot, s->o.slots);
        return NULL;
    }
    struct slot *sl = &s->slots[slot];
    if (sl->state != want) {
        fail(s, "slot %d holds %s: expected %s", slot, what[sl->state], what[want]);
        return NULL;
    }
    return sl;
}

int gpt_stage_forward(gpt_stage *s, int slot, const int32_t *tokens, const float *input,
                      const int32_t *targets, float *output, float *loss)
{
    struct slot *sl = get_slot(s, slot, SLOT_FREE);
    if (!sl)
        return -1;
    const int N = s->N, C = s->C;
    if (s->o.first ? !tokens : !input)
        return fail(s, "forward: %s is NULL", s->o.first ? "tokens" : "input");
    if (s->o.last ? (!targets || !loss) : !output)
        return fail(s, "forward: %s is NULL", s->o.last ? "targets or loss" : "output");
    if (s->o.first) {
        if (check_ids(s, tokens, "tokens") < 0)
            return -1;
        s->ops->upload(sl->tokens, tokens, N * sizeof(int32_t));
        s->ops->token_embedding_forward(sl->res[0], sl->tokens, param(s, s->i_wte), s->v_begin,
                                        s->Vl, N, C);
        if (tp_sum(s, sl->res[0], (size_t)N * C) < 0)
            return -1;
        s->ops->position_embedding_forward(sl->res[0], param(s, s->i_wpe), s->o.batch, s->o.seq, C);
    } else {
        s->ops->copy(sl->res[0], input, (size_t)N * C * sizeof(float));
    }
    struct layernorm_target t;
    if (stream_layernorm(s, sl, 0, &t))
        s->ops->layernorm_forward(t.out, t.mean, t.rstd, sl->res[0], t.w, t.b, N, C);
    for (int l = 0; l < s->L; l++)
        if (layer_forward(s, sl, l) < 0)
            return -1;
    if (s->o.last) {
        if (check_ids(s, targets, "targets") < 0)
            return -1;
        s->ops->upload(sl->targets, targets, N * sizeof(int32_t));
        if (head_forward(s, sl, loss) < 0)
            return -1;
    } else {
        s->ops->copy(output, sl->res[s->L], (size_t)N * C * sizeof(float));
    }
    if (s->ops->status(s->err, sizeof(s->err)) < 0)
        return -1;
    sl->state = SLOT_FORWARD_DONE;
    return 0;
}

static int head_backward_input(struct gpt_stage *s, struct slot *sl, float loss_scale)
{
    const int N = s->N, C = s->C;
    s->ops->crossentropy_backward(sl->logits, sl->ce_max, sl->ce_sums, sl->targets, s->v_begin, N,
                                  s->Vl, loss_scale);
    s->ops->linear_backward_input(s->o.precision, sl->dlnf, sl->logits, param(s, s->i_wte), N, C,
                                  s->Vl);
    if (tp_sum(s, sl->dlnf, (size_t)N * C) < 0)
        return -1;
    s->ops->zero(sl->dres[s->L], (size_t)N * C);
    s->ops->layernorm_backward_input(sl->dres[s->L], sl->dlnf, sl->res[s->L], param(s, s->i_lnf),
                                     sl->lnf_mean, sl->lnf_rstd, N, C);
    return 0;
}

static void head_backward_weight(struct gpt_stage *s, struct slot *sl)
{
    s->ops->linear_backward_weight(s->o.precision, grad(s, s->i_wte), NULL, sl->logits, sl->lnf,
                                   s->N, s->C, s->Vl);
    s->ops->layernorm_backward_weight(grad(s, s->i_lnf), grad(s, s->i_lnf + 1), sl->dlnf,
                                      sl->res[s->L], sl->lnf_mean, sl->lnf_rstd, s->N, s->C);
}

static int layer_backward_input(struct gpt_stage *s, struct slot *sl, int l)
{
    struct layer_acts *a = &sl->layer[l];
    const int N = s->N, C = s->C, Cl = s->Cl, Fl = s->Fl;
    const size_t bytes = (size_t)N * C * sizeof(float);
    s->ops->linear_backward_input(s->o.precision, s->dgelu, sl->dres[l + 1], LP(l, FC2_W), N, Fl,
                                  C);
    s->ops->gelu_backward(a->dfc1, a->fc1, s->dgelu, (size_t)N * Fl);
    s->ops->linear_backward_input(s->o.precision, a->dln2, a->dfc1, LP(l, FC1_W), N, C, Fl);
    if (tp_sum(s, a->dln2, (size_t)N * C) < 0)
        return -1;
    s->ops->copy(a->dres_mid, sl->dres[l + 1], bytes);
    s->ops->layernorm_backward_input(a->dres_mid, a->dln2, a->res_mid, LP(l, LN2_W), a->ln2_mean,
                                     a->ln2_rstd, N, C);
    s->ops->linear_backward_input(s->o.precision, s->datty, a->dres_mid, LP(l, PROJ_W), N, Cl, C);
    s->ops->attention_backward(s->o.precision, a->dqkv, s->att_scratch, s->datty, a->atty, a->qkv,
                               a->att, s->o.batch, s->o.seq, s->Hl, s->hd);
    s->ops->linear_backward_input(s->o.precision, a->dln1, a->dqkv, LP(l, QKV_W), N, C, 3 * Cl);
    if (tp_sum(s, a->dln1, (size_t)N * C) < 0)
        return -1;
    s->ops->copy(sl->dres[l], a->dres_mid, bytes);
    s->ops->layernorm_backward_input(sl->dres[l], a->dln1, sl->res[l], LP(l, LN1_W), a->ln1_mean,
                                     a->ln1_rstd, N, C);
    return 0;
}

static void layer_backward_weight(struct gpt_stage *s, struct slot *sl, int l)
{
    struct layer_acts *a = &sl->layer[l];
    const int N = s->N, C = s->C, Cl = s->Cl, Fl = s->Fl;
    s->ops->linear_backward_weight(s->o.precision, LG(l, FC2_W), LG(l, FC2_B), sl->dres[l + 1],
                                   a->gelu, N, Fl, C);
    s->ops->linear_backward_weight(s->o.precision, LG(l, FC1_W), LG(l, FC1_B), a->dfc1, a->ln2, N,
                                   C, Fl);
    s->ops->layernorm_backward_weight(LG(l, LN2_W), LG(l, LN2_B), a->dln2, a->res_mid, a->ln2_mean,
                                      a->ln2_rstd, N, C);
    s->ops->linear_backward_weight(s->o.precision, LG(l, PROJ_W), LG(l, PROJ_B), a->dres_mid,
                                   a->atty, N, Cl, C);
    s->ops->linear_backward_weight(s->o.precision, LG(l, QKV_W), LG(l, QKV_B), a->dqkv, a->ln1, N,
                                   C, 3 * Cl);
    s->ops->layernorm_backward_weight(LG(l, LN1_W), LG(l, LN1_B), a->dln1, sl->res[l], a->ln1_mean,
                                      a->ln1_rstd, N, C);
}

static void embedding_backward_weight(struct gpt_stage *s, struct slot *sl)
{
    s->ops->token_embedding_backward_weight(grad(s, s->i_wte), sl->dres[0], sl->tokens, s->v_begin,
                                            s->Vl, s->N, s->C);
    s->ops->position_embedding_backward_weight(grad(s, s->i_wpe), sl->dres[0], s->o.batch, s->o.seq,
                                               s->C);
}

/* The weight half of each piece runs right after its input half when `fused`;
 * either way every gradient tensor receives its contributions in the same
 * order, so the fused and split results are identical. */
static int backward_input(struct gpt_stage *s, int slot, const float *grad_output, float loss_scale,
                          float *grad_input, int fused)
{
    struct slot *sl = get_slot(s, slot, SLOT_FORWARD_DONE);
    if (!sl)
        return -1;
    const size_t bytes = (size_t)s->N * s->C * sizeof(float);
    if (s->o.last ? grad_output != NULL : grad_output == NULL)
        return fail(s, "backward: grad_output must be %s on a %s stage",
                    s->o.last ? "NULL" : "given", s->o.last ? "last" : "non-last");
    if (!s->o.first && !grad_input)
        return fail(s, "backward: grad_input is NULL on a stage that is not first");
    if (s->o.last) {
        if (head_backward_input(s, sl, loss_scale) < 0)
            return -1;
        if (fused)
            head_backward_weight(s, sl);
    } else {
        s->ops->copy(sl->dres[s->L], grad_output, bytes);
    }
    for (int l = s->L - 1; l >= 0; l--) {
        if (layer_backward_input(s, sl, l) < 0)
            return -1;
        if (fused)
            layer_backward_weight(s, sl, l);
    }
    if (s->o.first) {
        if (fused)
            embedding_backward_weight(s, sl);
    } else {
        s->ops->copy(grad_input, sl->dres[0], bytes);
    }
    if (s->ops->status(s->err, sizeof(s->err)) < 0)
        return -1;
    sl->state = fused ? SLOT_FREE : SLOT_INPUT_GRAD_DONE;
    return 0;
}

int gpt_stage_backward_input(gpt_stage *s, int slot, const float *grad_output, float loss_scale,
                             float *grad_input)
{
    return backward_input(s, slot, grad_output, loss_scale, grad_input, 0);
}

int gpt_stage_backward(gpt_stage *s, int slot, const float *grad_output, float loss_scale,
                       float *grad_input)
{
    return backward_input(s, slot, grad_output, loss_scale, grad_input, 1);
}

int gpt_stage_backward_weight(gpt_stage *s, int slot)
{
    struct slot *sl = get_slot(s, slot, SLOT_INPUT_GRAD_DONE);
    if (!sl)
        return -1;
    if (s->o.last)
        head_backward_weight(s, sl);
    for (int l = s->L - 1; l >= 0; l--)
        layer_backward_weight(s, sl, l);
    if (s->o.first)
        embedding_backward_weight(s, sl);
    if (s->ops->status(s->err, sizeof(s->err)) < 0)
        return -1;
    sl->state = SLOT_FREE;
    return 0;
}

int gpt_stage_discard(gpt_stage *s, int slot)
{
    if (slot < 0 || slot >= s->o.slots)
        return fail(s, "slot %d: expected 0 <= slot < %d", slot, s->o.slots);
    s->slots[slot].state = SLOT_FREE;
    return 0;
}
