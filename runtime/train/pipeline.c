/* One optimizer step over the pipeline: runs this stage's schedule, moving
 * activations forward and gradients backward over the runtime's
 * point-to-point calls, and all-reduces each chunk's gradients over the
 * data-parallel group as soon as the step's last weight pass has left it
 * (with dp.overlap = false: all of them after the schedule, to measure what
 * the overlap buys). Each step's time is split by where it went
 * (enum pipe_time), for the bubble and its causes. */
#include "runtime/train/trainer.h"

#include <time.h>

#define TAG_ACT(mb)  (2u * (uint32_t)(mb))
#define TAG_GRAD(mb) (2u * (uint32_t)(mb) + 1u)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adds the time since SINCE to entry WHAT of this step; returns now. */
static double charge(struct trainer *t, enum pipe_time what, double since)
{
    double end = now();
    t->pipe_time[what] += end - since;
    return end;
}

static float *act(struct trainer *t, int k, int slot)
{
    return t->act[k * t->slots + slot];
}

static float *grad(struct trainer *t, int k, int slot)
{
    return t->grad[k * t->slots + slot];
}

static int comm_fail(struct trainer *t, const char *what, int mb)
{
    if (mb < 0)
        return trainer_fail(t, "%s: %s", what, plait_error(t->ctx));
    return trainer_fail(t, "%s of micro-batch %d: %s", what, mb, plait_error(t->ctx));
}

static int chunk_fail(struct trainer *t, int k)
{
    return trainer_fail(t, "%s", gpt_stage_error(t->chunk[k]));
}

/* Waits for an earlier send from a buffer before it is written again. */
static int finish_send(struct trainer *t, struct pipe_send *send, int mb)
{
    int rc = 0;
    double start = now();
    if (send->host)
        rc = plait_wait(send->host) == PLAIT_OK ? 0 : -1;
    else if (send->device)
        rc = train_cuda_wait(t, send->device);
    else
        return 0;
    charge(t, PIPE_T_WAIT_SEND, start);
    *send = (struct pipe_send){0};
    return rc ? comm_fail(t, "sending", mb) : 0;
}

static int start_send(struct trainer *t, float *buf, int peer, uint32_t tag, struct pipe_send *req,
                      const char *what, int mb)
{
    size_t bytes = t->act_len * sizeof(float);
    int rc;
    if (t->cuda)
        rc = train_cuda_isend(t, buf, bytes, peer, tag, &req->device);
    else
        rc = plait_isend(t->pp, buf, bytes, peer, tag, &req->host) == PLAIT_OK ? 0 : -1;
    return rc ? comm_fail(t, what, mb) : 0;
}

/* The wait is charged to CAUSE and, unless it is PIPE_T_N, to PHASE. */
static int receive(struct trainer *t, float *buf, int peer, uint32_t tag, int mb,
                   enum pipe_time cause, enum pipe_time phase)
{
    size_t bytes = t->act_len * sizeof(float);
    double start = now();
    int rc;
    if (t->cuda)
        rc = train_cuda_recv(t, buf, bytes, peer, tag);
    else
        rc = plait_recv(t->pp, buf, bytes, peer, tag) == PLAIT_OK ? 0 : -1;
    double waited = charge(t, cause, start) - start;
    if (phase != PIPE_T_N)
        t->pipe_time[phase] += waited;
    return rc ? comm_fail(t, "receiving", mb) : 0;
}

/* Keeps the gradient all-reduces moving between chunks (the runtime has no
 * progress thread). */
static int progress(struct trainer *t)
{
    if (plait_progress(t->ctx) != PLAIT_OK)
        return trainer_fail(t, "data-parallel gradient all-reduce: %s", plait_error(t->ctx));
    return 0;
}

static int start_bucket(struct trainer *t, int k)
{
    if (t->place->dp_size == 1)
        return 0;
    if (t->cuda)
        return train_cuda_dp_start(t, k);
    if (t->bucket[k])
        return 0;
    float *g = gpt_stage_grads(t->chunk[k]);
    size_t n = gpt_stage_param_count(t->chunk[k]);
    if (plait_iallreduce(t->dp, g, g, n, PLAIT_FLOAT32, PLAIT_SUM, &t->bucket[k]) != PLAIT_OK)
        return trainer_fail(t, "starting the gradient all-reduce of layer chunk %d: %s", k,
                            plait_error(t->ctx));
    return 0;
}

static int forward(struct trainer *t, int mb, int slot, double *loss_sum)
{
    size_t n = (size_t)t->cfg.micro_batch * (size_t)t->cfg.model.context;
    const int32_t *tokens = t->first ? t->tokens + (size_t)mb * n : NULL;
    const int32_t *targets = t->last ? t->targets + (size_t)mb * n : NULL;
    int K = t->nchunks;
    if (finish_send(t, &t->act_send[slot], mb))
        return -1;
    double start = now();
    for (int k = 0; k < K; k++) {
        int head = t->last && k == K - 1;
        float loss = 0;
        if (gpt_stage_forward(t->chunk[k], slot, k == 0 ? tokens : NULL, act(t, k, slot),
                              head ? targets : NULL, head ? NULL : act(t, k + 1, slot), &loss))
            return chunk_fail(t, k);
        if (head)
            *loss_sum += loss;
    }
    charge(t, PIPE_T_FORWARD, start);
    return 0;
}

/* Chunk k's weight-gradient pass of `slot`; the last micro-batch's makes the
 * chunk's gradients final, so its data-parallel all-reduce can start. */
static int weight_chunk(struct trainer *t, int k, int mb, int slot)
{
    double start = now();
    if (gpt_stage_backward_weight(t->chunk[k], slot))
        return chunk_fail(t, k);
    charge(t, PIPE_T_WEIGHT, start);
    return t->cfg.dp_overlap && mb == t->accum - 1 ? start_bucket(t, k) : 0;
}

/* The input-gradient pass through the chunks, last to first; with WEIGHT
 * each chunk's weight pass follows at once (1F1B's whole backward). */
static int backward(struct trainer *t, int mb, int slot, int weight)
{
    float scale = 1.0f / (float)(t->accum * t->place->dp_size);
    int K = t->nchunks;
    if (finish_send(t, &t->grad_send[slot], mb))
        return -1;
    for (int k = K - 1; k >= 0; k--) {
        int head = t->last && k == K - 1, embed = t->first && k == 0;
        double start = now();
        if (gpt_stage_backward_input(t->chunk[k], slot, head ? NULL : grad(t, k + 1, slot), scale,
                                     embed ? NULL : grad(t, k, slot)))
            return chunk_fail(t, k);
        charge(t, PIPE_T_BACKWARD, start);
        if (weight && weight_chunk(t, k, mb, slot))
            return -1;
        if (progress(t))
            return -1;
    }
    return 0;
}

static int weight(struct trainer *t, int mb, int slot)
{
    for (int k = t->nchunks - 1; k >= 0; k--) {
        if (weight_chunk(t, k, mb, slot))
            return -1;
        if (progress(t))
            return -1;
    }
    return 0;
}

int pipeline_step(struct trainer *t, double *loss_sum)
{
    int prev = t->place->pp_rank - 1, next = t->place->pp_rank + 1, K = t->nchunks;
    double begin = now();
    *loss_sum = 0;
    for (int i = 0; i < PIPE_T_N; i++)
        t->pipe_time[i] = 0;
    int forwards = 0, backwards = 0;
    for (int i = 0; i < t->nactions; i++) {
        struct pipe_action a = t->actions[i];
        int slot = a.mb % t->slots, rc = 0;
        enum pipe_time phase = backwards == 0         ? PIPE_T_WARMUP
                               : forwards == t->accum ? PIPE_T_COOLDOWN
                                                      : PIPE_T_N;
        switch (a.op) {
        case OP_RECV_ACT:
            rc = receive(t, act(t, 0, slot), prev, TAG_ACT(a.mb), a.mb, PIPE_T_WAIT_ACT, phase);
            break;
        case OP_FORWARD:
            rc = forward(t, a.mb, slot, loss_sum);
            forwards++;
            break;
        case OP_SEND_ACT:
            rc = start_send(t, act(t, K, slot), next, TAG_ACT(a.mb), &t->act_send[slot],
                            "sending activations", a.mb);
            break;
        case OP_RECV_GRAD:
            rc = receive(t, grad(t, K, slot), next, TAG_GRAD(a.mb), a.mb, PIPE_T_WAIT_GRAD, phase);
            break;
        case OP_BACKWARD: {
            /* 1F1B's weight pass directly after: do both chunk by chunk. */
            int fused = i + 1 < t->nactions && t->actions[i + 1].op == OP_WEIGHT &&
                        t->actions[i + 1].mb == a.mb;
            rc = backward(t, a.mb, slot, fused);
            backwards++;
            i += fused;
            break;
        }
        case OP_SEND_GRAD:
            rc = start_send(t, grad(t, 0, slot), prev, TAG_GRAD(a.mb), &t->grad_send[slot],
                            "sending gradients", a.mb);
            break;
        case OP_WEIGHT:
            rc = weight(t, a.mb, slot);
            break;
        }
        if (rc)
            return -1;
    }
    for (int s = 0; s < t->slots; s++)
        if (finish_send(t, &t->act_send[s], -1) || finish_send(t, &t->grad_send[s], -1))
            return -1;
    for (int k = K - 1; k >= 0; k--)
        if (start_bucket(t, k))
            return -1;
    if (t->cuda && t->place->dp_size > 1 && train_cuda_dp_finish(t))
        return -1;
    for (int k = K - 1; k >= 0; k--) {
        if (!t->bucket[k])
            continue;
        plait_status_t st = plait_wait(t->bucket[k]);
        t->bucket[k] = NULL;
        if (st != PLAIT_OK)
            return trainer_fail(t, "data-parallel gradient all-reduce of layer chunk %d: %s", k,
                                plait_error(t->ctx));
    }
    t->pipe_time[PIPE_T_SPAN] = now() - begin;
    return 0;
}
