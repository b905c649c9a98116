/* The model stage of one rank (one gpt_stage, or with data parallelism a chain
 * of per-layer chunks) and what the optimizer step does to it. */
#include "runtime/train/trainer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int trainer_fail(struct trainer *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int plait_fail(struct trainer *t, const char *what)
{
    return trainer_fail(t, "%s: %s", what, plait_error(t->ctx));
}

static int tp_allreduce_sum(void *ctx, float *buf, size_t count)
{
    struct trainer *t = ctx;
    return plait_allreduce(t->tp, buf, buf, count, PLAIT_FLOAT32, PLAIT_SUM) == PLAIT_OK ? 0 : -1;
}

static const char *tp_error(void *ctx)
{
    return plait_error(((struct trainer *)ctx)->ctx);
}

/* The runtime reduces by sum only: gather every rank's values, take the max. */
static int tp_allreduce_max(void *ctx, float *buf, size_t count)
{
    struct trainer *t = ctx;
    size_t n = (size_t)plait_comm_size(t->tp);
    if (t->tp_scratch_len < n * count) {
        float *p = realloc(t->tp_scratch, n * count * sizeof(float));
        if (!p)
            return -1;
        t->tp_scratch = p;
        t->tp_scratch_len = n * count;
    }
    if (plait_allgather(t->tp, buf, t->tp_scratch, count, PLAIT_FLOAT32) != PLAIT_OK)
        return -1;
    for (size_t i = 0; i < count; i++)
        for (size_t r = 0; r < n; r++)
            if (t->tp_scratch[r * count + i] > buf[i])
                buf[i] = t->tp_scratch[r * count + i];
    return 0;
}

/* Registered memory for the gradients, so that the data-parallel all-reduce
 * within a node (the whole group's, or each node's part of one across nodes)
 * reads peers' gradients in place instead of staging them. NULL when it
 * cannot be had: the stage then allocates its own, and the all-reduce stages
 * it (same sums in the same order, same bits). */
static void *grad_alloc(void *ctx, size_t bytes)
{
    struct trainer *t = ctx;
    void *p;
    return plait_mem_alloc(t->ctx, bytes, &p) == PLAIT_OK ? p : NULL;
}

static void grad_free(void *ctx, void *p)
{
    struct trainer *t = ctx;
    plait_mem_free(t->ctx, p);
}

int model_create(struct trainer *t)
{
    const struct train_model_config *m = &t->cfg.model;
    int pp = t->place->pp_size, s = t->place->pp_rank;
    int *bounds = malloc(sizeof *bounds * ((size_t)pp + 1));
    if (!bounds)
        return trainer_fail(t, "out of memory for the pipeline split");
    int split =
        pipe_split_layers(t->cfg.split, m->layers, pp, m->vocab_size, m->dim, m->context, bounds);
    int begin = bounds[s], end = bounds[s + 1];
    free(bounds);
    if (split != 0)
        return trainer_fail(t, "%d layers cannot fill %d pipeline stages", m->layers, pp);

    t->actions = malloc(sizeof *t->actions * PIPE_MAX_ACTIONS((size_t)t->accum));
    if (!t->actions)
        return trainer_fail(t, "out of memory for the pipeline schedule");
    t->nactions = pipe_schedule(t->cfg.schedule, pp, s, t->accum, t->actions);
    if (t->nactions < 0)
        return trainer_fail(t, "no %s schedule for %d stages and %d micro-batches",
                            pipe_kind_name(t->cfg.schedule), pp, t->accum);
    t->slots = pipe_peak_in_flight(t->actions, t->nactions);

    /* Per-layer chunks only pay off where there is a data-parallel
     * all-reduce to overlap; alone, one chunk keeps a single tied embedding. */
    t->nchunks = t->place->dp_size > 1 ? end - begin : 1;
    t->chunk = calloc((size_t)t->nchunks, sizeof *t->chunk);
    t->bucket = calloc((size_t)t->nchunks, sizeof *t->bucket);
    if (!t->chunk || !t->bucket)
        return trainer_fail(t, "out of memory for %d chunks", t->nchunks);
    for (int k = 0; k < t->nchunks; k++) {
        gpt_stage_opts o = {
            .config = {m->vocab_size, m->context, m->layers, m->heads, m->dim},
            .layer_begin = t->nchunks == 1 ? begin : begin + k,
            .layer_end = t->nchunks == 1 ? end : begin + k + 1,
            .first = t->first && k == 0,
            .last = t->last && k == t->nchunks - 1,
            .tp_rank = t->place->tp_rank,
            .tp_size = t->place->tp_size,
            .batch = t->cfg.micro_batch,
            .seq = m->context,
            .slots = t->slots,
            .device = t->cuda ? GPT_DEVICE_CUDA : GPT_DEVICE_CPU,
            .precision = t->cfg.precision == TRAIN_BF16 ? GPT_BF16 : GPT_FP32,
            .comm = t->cuda ? train_cuda_tp_comm(t)
                            : (gpt_comm){t, tp_allreduce_sum, tp_allreduce_max, tp_error},
            .grad_alloc = {t, t->place->dp_size > 1 ? grad_alloc : NULL, grad_free},
        };
        t->chunk[k] = gpt_stage_create(&o, (uint64_t)t->cfg.seed, t->err, sizeof t->err);
        if (!t->chunk[k])
            return -1;
    }

    size_t n = (size_t)(t->nchunks + 1) * (size_t)t->slots;
    t->act_len = (size_t)t->cfg.micro_batch * (size_t)m->context * (size_t)m->dim;
    t->act = calloc(n, sizeof *t->act);
    t->grad = calloc(n, sizeof *t->grad);
    t->act_send = calloc((size_t)t->slots, sizeof *t->act_send);
    t->grad_send = calloc((size_t)t->slots, sizeof *t->grad_send);
    if (!t->act || !t->grad || !t->act_send || !t->grad_send)
        return trainer_fail(t, "out of memory for activation buffers");
    for (size_t i = 0; i < n; i++) {
        if (t->cuda) {
            if (!(t->act[i] = train_cuda_alloc(t, t->act_len)) ||
                !(t->grad[i] = train_cuda_alloc(t, t->act_len)))
                return -1;
            continue;
        }
        t->act[i] = malloc(t->act_len * sizeof(float));
        t->grad[i] = malloc(t->act_len * sizeof(float));
        if (!t->act[i] || !t->grad[i])
            return trainer_fail(t, "out of memory for activation buffers (%zu floats each)",
                                t->act_len);
    }
    return 0;
}

static void free_buffer(struct trainer *t, float *p)
{
    if (t->cuda)
        train_cuda_free(p);
    else
        free(p);
}

void model_destroy(struct trainer *t)
{
    size_t n = (size_t)(t->nchunks + 1) * (size_t)t->slots;
    for (size_t i = 0; t->act && i < n; i++)
        free_buffer(t, t->act[i]);
    for (size_t i = 0; t->grad && i < n; i++)
        free_buffer(t, t->grad[i]);
    for (int k = 0; t->chunk && k < t->nchunks; k++)
        gpt_stage_destroy(t->chunk[k]);
    free(t->act);
    free(t->grad);
    free(t->act_send);
    free(t->grad_send);
    free(t->bucket);
    free(t->chunk);
    free(t->actions);
    free(t->tp_scratch);
}

void model_zero_grad(struct trainer *t)
{
    for (int k = 0; k < t->nchunks; k++)
        gpt_stage_zero_grad(t->chunk[k]);
}

/* Both copies become first + last, the same float sum on both sides. */
static void add_into(float *mine, const float *other, size_t n, int mine_is_first)
{
    for (size_t i = 0; i < n; i++)
        mine[i] = mine_is_first ? mine[i] + other[i] : other[i] + mine[i];
}

int model_tie_embeddings(struct trainer *t)
{
    int pp = t->place->pp_size;
    const gpt_tensor *head =
        t->last ? gpt_stage_tensor_by_name(t->chunk[t->nchunks - 1], "wte") : NULL;
    const gpt_tensor *emb = t->first ? gpt_stage_tensor_by_name(t->chunk[0], "wte") : NULL;
    if (pp == 1 && t->nchunks == 1)
        return 0; /* one gpt_stage holds both uses */
    if (t->cuda)
        return emb || head ? train_cuda_tie_embeddings(t, emb, head) : 0;
    if (pp == 1) {
        float *copy = malloc(emb->count * sizeof(float));
        if (!copy)
            return trainer_fail(t, "out of memory tying the embedding");
        memcpy(copy, emb->grad, emb->count * sizeof(float));
        add_into(emb->grad, head->grad, emb->count, 1);
        add_into(head->grad, copy, head->count, 0);
        free(copy);
        return 0;
    }
    if (!emb && !head)
        return 0;
    const gpt_tensor *mine = emb ? emb : head;
    int peer = emb ? pp - 1 : 0;
    float *other = malloc(mine->count * sizeof(float));
    if (!other)
        return trainer_fail(t, "out of memory tying the embedding");
    plait_request_t *rq;
    int rc = 0;
    if (plait_irecv(t->pp, other, mine->count * sizeof(float), peer, PLAIT_TAG_MAX, &rq) !=
            PLAIT_OK ||
        plait_send(t->pp, mine->grad, mine->count * sizeof(float), peer, PLAIT_TAG_MAX) !=
            PLAIT_OK ||
        plait_wait(rq) != PLAIT_OK)
        rc = plait_fail(t, "exchanging the tied embedding's gradient");
    else
        add_into(mine->grad, other, mine->count, emb != NULL);
    free(other);
    return rc;
}

double model_grad_sumsq(struct trainer *t)
{
    double sum = 0;
    for (int k = 0; k < t->nchunks; k++)
        sum += gpt_stage_grad_sumsq(t->chunk[k]);
    return sum;
}

void model_scale_grads(struct trainer *t, float factor)
{
    for (int k = 0; k < t->nchunks; k++)
        gpt_stage_scale_grads(t->chunk[k], factor);
}

void model_adamw(struct trainer *t, float lr, int step)
{
    const struct train_optim_config *o = &t->cfg.optim;
    for (int k = 0; k < t->nchunks; k++)
        gpt_stage_adamw(t->chunk[k], lr, (float)o->beta1, (float)o->beta2, (float)o->eps,
                        (float)o->weight_decay, step);
}

/* The tied embedding counts once, on the first stage. */
long long model_param_count(struct trainer *t)
{
    long long n = 0;
    for (int k = 0; k < t->nchunks; k++) {
        const gpt_tensor *wte = gpt_stage_tensor_by_name(t->chunk[k], "wte");
        n += (long long)gpt_stage_param_count(t->chunk[k]);
        if (wte && !(t->first && k == 0))
            n -= (long long)wte->count;
    }
    return n;
}

double model_flops_per_step(struct trainer *t)
{
    double f = 0;
    for (int k = 0; k < t->nchunks; k++)
        f += gpt_stage_flops(t->chunk[k]);
    return f * t->accum;
}
