#include "schedule.h"

#include <limits.h>
#include <stdlib.h>

struct emitter {
    struct pipe_action *out;
    int n, stages, stage;
};

static void push(struct emitter *e, enum pipe_op op, int mb)
{
    e->out[e->n++] = (struct pipe_action){op, mb};
}

/* A compute op together with the receive it waits for and the send it feeds. */
static void emit_forward(struct emitter *e, int mb)
{
    if (e->stage > 0)
        push(e, OP_RECV_ACT, mb);
    push(e, OP_FORWARD, mb);
    if (e->stage < e->stages - 1)
        push(e, OP_SEND_ACT, mb);
}

/* WITH_WEIGHT: the weight pass before the send, as one backward in 1F1B. */
static void emit_backward(struct emitter *e, int mb, int with_weight)
{
    if (e->stage < e->stages - 1)
        push(e, OP_RECV_GRAD, mb);
    push(e, OP_BACKWARD, mb);
    if (with_weight)
        push(e, OP_WEIGHT, mb);
    if (e->stage > 0)
        push(e, OP_SEND_GRAD, mb);
}

/* 1F1B (Narayanan et al., PipeDream-Flush): stages-stage-1 warm-up forwards,
 * then alternate one forward and one whole backward (input and weight
 * gradients, then the send), then drain the backwards. */
static void one_f_one_b(struct emitter *e, int m)
{
    int warmup = e->stages - e->stage - 1;
    if (warmup > m)
        warmup = m;
    int f = 0, b = 0;
    while (f < warmup)
        emit_forward(e, f++);
    while (f < m) {
        emit_forward(e, f++);
        emit_backward(e, b++, 1);
    }
    while (b < m) {
        emit_backward(e, b++, 1);
    }
}

/* Whether the k-th forward-or-backward of a stage with WARMUP warm-up
 * forwards is a forward, in 1F1B's order. */
static int is_forward(int k, int warmup, int m)
{
    return k < warmup || (k < 2 * m - warmup && (k - warmup) % 2 == 0);
}

/* ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", 2023): 1F1B's order
 * of forwards and backwards, the backward split into its input part (sent on
 * at once) and its weight part, which is deferred into the time the stage
 * would otherwise wait. Derived by list-scheduling all stages with unit-time
 * F, B and W: a free stage runs its next 1F1B op when its input is there,
 * else a pending weight pass. No stage holds more micro-batches (forward done,
 * weight pass not) than 1F1B's first stage does: stages. The resulting
 * per-stage order is what is executed; real durations change the timing,
 * never the order. */
static int zero_bubble_h1(struct emitter *e, int m)
{
    int p = e->stages;
    int *fin_f = malloc(sizeof(int) * (size_t)(p * m));
    int *fin_b = malloc(sizeof(int) * (size_t)(p * m));
    int *next = calloc((size_t)p * 3, sizeof(int)); /* next F, B, W per stage */
    if (!fin_f || !fin_b || !next) {
        free(fin_f);
        free(fin_b);
        free(next);
        return -1;
    }
    for (int i = 0; i < p * m; i++)
        fin_f[i] = fin_b[i] = INT_MAX;
    int mine = e->stage, done = 0;
    for (int t = 0; done < 3 * m * p; t++) {
        for (int s = 0; s < p; s++) {
            int *nf = &next[3 * s], *nb = &next[3 * s + 1], *nw = &next[3 * s + 2];
            int warmup = p - s - 1 < m ? p - s - 1 : m;
            int fb = *nf + *nb, forward = fb < 2 * m && is_forward(fb, warmup, m);
            int ready = 0;
            if (fb < 2 * m && forward)
                ready = (s == 0 || fin_f[(s - 1) * m + *nf] <= t) && *nf - *nw < p;
            else if (fb < 2 * m)
                ready = s == p - 1 || fin_b[(s + 1) * m + *nb] <= t;
            if (ready && forward) {
                fin_f[s * m + *nf] = t + 1;
                if (s == mine)
                    emit_forward(e, *nf);
                (*nf)++;
            } else if (ready) {
                fin_b[s * m + *nb] = t + 1;
                if (s == mine)
                    emit_backward(e, *nb, 0);
                (*nb)++;
            } else if (*nw < *nb) {
                if (s == mine)
                    push(e, OP_WEIGHT, *nw);
                (*nw)++;
            } else {
                continue;
            }
            done++;
        }
    }
    free(fin_f);
    free(fin_b);
    free(next);
    return 0;
}

int pipe_schedule(enum pipe_kind kind, int stages, int stage, int m, struct pipe_action *out)
{
    if (stages < 1 || stage < 0 || stage >= stages || m < 1 || m > INT_MAX / 7 / stages)
        return -1;
    struct emitter e = {out, 0, stages, stage};
    if (kind == PIPE_ZB_H1) {
        if (zero_bubble_h1(&e, m))
            return -1;
    } else {
        one_f_one_b(&e, m);
    }
    return e.n;
}

int pipe_peak_in_flight(const struct pipe_action *a, int n)
{
    int held = 0, peak = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].op == OP_FORWARD && ++held > peak)
            peak = held;
        if (a[i].op == OP_WEIGHT)
            held--;
    }
    return peak;
}

/* Stages [0, stages) share `layers` as evenly as integers allow, the
 * larger shares first; bounds[stages] = layers. */
static void share_evenly(int layers, int stages, int *bounds)
{
    for (int s = 0; s <= stages; s++)
        bounds[s] = (int)(((long long)layers * s + stages - 1) / stages);
}

int pipe_split_layers(enum pipe_split split, int layers, int stages, int vocab, int dim,
                      int context, int *bounds)
{
    if (stages < 1 || layers < stages)
        return -1;
    share_evenly(layers, stages, bounds);
    if (split == PIPE_SPLIT_EVEN || stages == 1)
        return 0;
    /* Work in layers: the head weighs vocab / (12 dim + context) of them. */
    double head = (double)vocab / (12.0 * dim + context), best = 0;
    int best_last = 0;
    for (int last = 1; last <= layers - (stages - 1); last++) {
        int rest = layers - last, most = (rest + stages - 2) / (stages - 1);
        double busiest = most > last + head ? most : last + head;
        if (best_last == 0 || busiest < best) {
            best = busiest;
            best_last = last;
        }
    }
    share_evenly(layers - best_last, stages - 1, bounds);
    bounds[stages] = layers;
    return 0;
}

const char *pipe_kind_name(enum pipe_kind kind)
{
    return kind == PIPE_ZB_H1 ? "zb-h1" : "1f1b";
}

const char *pipe_op_name(enum pipe_op op)
{
    static const char *const names[] = {"recv-act", "forward",   "send-act", "recv-grad",
                                        "backward", "send-grad", "weight"};
    return names[op];
}
