/* Simulates every stage of a pipeline executing its schedule: receives wait for
 * the matching send, sends never wait. Checks each schedule is complete (every
 * micro-batch's forward, backward and weight pass exactly once, in that order,
 * with the transfers they need), dependency-correct and deadlock-free for
 * random op durations, and that its modelled bubble with unit-time F, B and W
 * is 1F1B's (p-1)/(m+p-1), and for ZB-H1 (p-1)/(3m+p-1), under (p-1)/(3m),
 * holding no more micro-batches than 1F1B's first stage. With unequal times
 * (a weight pass no longer than the forward or the input-gradient pass, as
 * measured on the CPU), 1F1B's bubble stays (p-1)/(m+p-1) and ZB-H1's is
 * Qi et al.'s (p-1)(F+B-W) idle per stage: the anchor the benchmark holds
 * the measured bubble to. */
#include "../check.h"
#include "../../runtime/train/schedule.h"

#include <stdlib.h>

#define MAXP 8
#define MAXM 24

struct sim {
    int p, m;
    struct pipe_action act[MAXP][PIPE_MAX_ACTIONS(MAXM)];
    int n[MAXP];
    double act_sent[MAXP][MAXM];  /* time stage s sent activations of mb; <0: not yet */
    double grad_sent[MAXP][MAXM]; /* time stage s sent the input gradient of mb */
    double busy[MAXP], clock[MAXP];
    double pass[3]; /* duration of a forward, input- and weight-gradient pass */
};

static unsigned rng_state = 12345;
static double duration(const struct sim *s, enum pipe_op op, int random)
{
    if (!random)
        return s->pass[op == OP_FORWARD ? 0 : op == OP_BACKWARD ? 1 : 2];
    rng_state = rng_state * 1103515245u + 12345u;
    return 0.1 + (double)((rng_state >> 16) % 1000) / 100.0;
}

static void check_complete(struct sim *s, int stage)
{
    int seen[7][MAXM] = {{0}};
    int pos[7][MAXM];
    for (int i = 0; i < s->n[stage]; i++) {
        struct pipe_action a = s->act[stage][i];
        CHECK(a.mb >= 0 && a.mb < s->m);
        seen[a.op][a.mb]++;
        pos[a.op][a.mb] = i;
    }
    int p = s->p;
    for (int mb = 0; mb < s->m; mb++) {
        CHECK_INT_EQ(seen[OP_FORWARD][mb], 1);
        CHECK_INT_EQ(seen[OP_BACKWARD][mb], 1);
        CHECK_INT_EQ(seen[OP_WEIGHT][mb], 1);
        CHECK_INT_EQ(seen[OP_RECV_ACT][mb], stage > 0);
        CHECK_INT_EQ(seen[OP_SEND_GRAD][mb], stage > 0);
        CHECK_INT_EQ(seen[OP_SEND_ACT][mb], stage < p - 1);
        CHECK_INT_EQ(seen[OP_RECV_GRAD][mb], stage < p - 1);
        CHECK(pos[OP_FORWARD][mb] < pos[OP_BACKWARD][mb]);
        CHECK(pos[OP_BACKWARD][mb] < pos[OP_WEIGHT][mb]);
        if (stage > 0) {
            CHECK(pos[OP_RECV_ACT][mb] < pos[OP_FORWARD][mb]);
            CHECK(pos[OP_BACKWARD][mb] < pos[OP_SEND_GRAD][mb]);
        }
        if (stage < p - 1) {
            CHECK(pos[OP_FORWARD][mb] < pos[OP_SEND_ACT][mb]);
            CHECK(pos[OP_RECV_GRAD][mb] < pos[OP_BACKWARD][mb]);
        }
    }
}

/* Runs all stages to completion; returns 0, or -1 on deadlock. Makes no
 * assumption about the order stages are stepped in: a receive only completes
 * once its send happened, at max(own clock, send time). */
static int simulate(struct sim *s, int random)
{
    int pc[MAXP] = {0};
    for (int st = 0; st < s->p; st++) {
        s->busy[st] = s->clock[st] = 0;
        for (int mb = 0; mb < s->m; mb++)
            s->act_sent[st][mb] = s->grad_sent[st][mb] = -1;
    }
    for (;;) {
        int progressed = 0, finished = 1;
        for (int st = 0; st < s->p; st++) {
            while (pc[st] < s->n[st]) {
                struct pipe_action a = s->act[st][pc[st]];
                double ready = s->clock[st];
                if (a.op == OP_RECV_ACT) {
                    if (s->act_sent[st - 1][a.mb] < 0)
                        break;
                    ready = s->act_sent[st - 1][a.mb];
                } else if (a.op == OP_RECV_GRAD) {
                    if (s->grad_sent[st + 1][a.mb] < 0)
                        break;
                    ready = s->grad_sent[st + 1][a.mb];
                }
                if (ready > s->clock[st])
                    s->clock[st] = ready;
                if (a.op == OP_FORWARD || a.op == OP_BACKWARD || a.op == OP_WEIGHT) {
                    double d = duration(s, a.op, random);
                    s->clock[st] += d;
                    s->busy[st] += d;
                }
                if (a.op == OP_SEND_ACT)
                    s->act_sent[st][a.mb] = s->clock[st];
                if (a.op == OP_SEND_GRAD)
                    s->grad_sent[st][a.mb] = s->clock[st];
                pc[st]++;
                progressed = 1;
            }
            finished &= pc[st] == s->n[st];
        }
        if (finished)
            return 0;
        if (!progressed)
            return -1;
    }
}

/* Idle fraction of the busiest-waiting stage over the whole step. */
static double bubble(const struct sim *s)
{
    double makespan = 0, worst = 0;
    for (int st = 0; st < s->p; st++)
        if (s->clock[st] > makespan)
            makespan = s->clock[st];
    for (int st = 0; st < s->p; st++) {
        double idle = (makespan - s->busy[st]) / makespan;
        if (idle > worst)
            worst = idle;
    }
    return worst;
}

static struct sim sim;

static void set_passes(double f, double b, double w)
{
    sim.pass[0] = f;
    sim.pass[1] = b;
    sim.pass[2] = w;
}

/* Modelled bubbles with unequal pass times: 1F1B's formula does not depend
 * on them; ZB-H1 idles F + B - W per stage where unit times give 1. */
static void check_unequal_passes(enum pipe_kind kind, int p, int m)
{
    static const double passes[][3] = {{2, 2, 1}, {1, 1.5, 0.5}, {3, 2, 1}, {17, 18, 9}};
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
        double f = passes[i][0], b = passes[i][1], w = passes[i][2];
        set_passes(f, b, w);
        CHECK(simulate(&sim, 0) == 0);
        double got = bubble(&sim), want = (double)(p - 1) / (m + p - 1);
        if (kind == PIPE_ZB_H1)
            want = (p - 1) * (f + b - w) / (m * (f + b + w) + (p - 1) * (f + b - w));
        CHECK_MSG(fabs(got - want) < 1e-9, "%s p=%d m=%d F,B,W=%g,%g,%g bubble %.4f, formula %.4f",
                  pipe_kind_name(kind), p, m, f, b, w, got, want);
    }
    set_passes(1, 1, 1);
}

static void run_case(enum pipe_kind kind, int p, int m)
{
    sim.p = p;
    sim.m = m;
    for (int st = 0; st < p; st++) {
        sim.n[st] = pipe_schedule(kind, p, st, m, sim.act[st]);
        CHECK(sim.n[st] > 0 && sim.n[st] <= PIPE_MAX_ACTIONS(m));
        check_complete(&sim, st);
        int peak = pipe_peak_in_flight(sim.act[st], sim.n[st]);
        int limit = kind == PIPE_1F1B ? p - st : p;
        limit = limit < m ? limit : m;
        CHECK_MSG(peak <= limit, "%s p=%d m=%d stage %d holds %d micro-batches, 1F1B %d",
                  pipe_kind_name(kind), p, m, st, peak, limit);
    }
    for (int trial = 0; trial < 5; trial++)
        CHECK_MSG(simulate(&sim, 1) == 0, "%s p=%d m=%d deadlocks", pipe_kind_name(kind), p, m);
    CHECK_MSG(simulate(&sim, 0) == 0, "%s p=%d m=%d deadlocks", pipe_kind_name(kind), p, m);
    if (m < p)
        return;
    double got = bubble(&sim);
    if (kind == PIPE_1F1B) {
        double want = (double)(p - 1) / (m + p - 1);
        CHECK_MSG(fabs(got - want) < 1e-9, "1f1b p=%d m=%d bubble %.4f, formula %.4f", p, m, got,
                  want);
    } else {
        /* (p-1) x (F + B - W) idle per stage: (p-1)/(3m+p-1), below (p-1)/(3m). */
        double want = (double)(p - 1) / (3.0 * m + p - 1);
        CHECK_MSG(fabs(got - want) < 1e-9, "zb-h1 p=%d m=%d bubble %.4f, (p-1)/(3m+p-1) %.4f", p, m,
                  got, want);
        CHECK(got <= (p - 1) / (3.0 * m) + 1e-12);
    }
    check_unequal_passes(kind, p, m);
}

/* The busiest stage's work in layers, the classifier counted as
 * vocab / (12 dim + context) of them on the last stage. */
static double busiest(const int *bounds, int stages, double head)
{
    double most = 0;
    for (int s = 0; s < stages; s++) {
        double w = bounds[s + 1] - bounds[s] + (s == stages - 1 ? head : 0);
        most = w > most ? w : most;
    }
    return most;
}

static void check_split(enum pipe_split split, int layers, int stages, int vocab, int dim,
                        int context, const int *want)
{
    int got[8];
    CHECK_INT_EQ(pipe_split_layers(split, layers, stages, vocab, dim, context, got), 0);
    for (int s = 0; s <= stages; s++)
        CHECK_MSG(got[s] == want[s],
                  "%s split of %d layers over %d stages (V=%d d=%d T=%d): "
                  "bound %d is %d, expected %d",
                  split == PIPE_SPLIT_EVEN ? "even" : "balanced", layers, stages, vocab, dim,
                  context, s, got[s], want[s]);
}

/* Known splits, and for many shapes: every stage holds a layer, the bounds
 * rise to `layers`, and balanced never leaves the busiest stage busier. */
static void test_split(void)
{
    int b[64];
    CHECK_INT_EQ(pipe_split_layers(PIPE_SPLIT_EVEN, 3, 4, 256, 32, 16, b), -1);
    CHECK_INT_EQ(pipe_split_layers(PIPE_SPLIT_BALANCED, 3, 4, 256, 32, 16, b), -1);
    check_split(PIPE_SPLIT_EVEN, 12, 2, 50304, 768, 1024, (int[]){0, 6, 12});
    check_split(PIPE_SPLIT_EVEN, 11, 3, 256, 32, 16, (int[]){0, 4, 8, 11});
    check_split(PIPE_SPLIT_BALANCED, 7, 1, 50304, 768, 1024, (int[]){0, 7});
    /* GPT-2 124M: the classifier weighs about 4.9 layers. */
    check_split(PIPE_SPLIT_BALANCED, 12, 2, 50304, 768, 1024, (int[]){0, 8, 12});
    check_split(PIPE_SPLIT_BALANCED, 12, 4, 50304, 768, 1024, (int[]){0, 4, 8, 11, 12});
    /* A small vocabulary keeps the even split. */
    check_split(PIPE_SPLIT_BALANCED, 4, 2, 256, 256, 64, (int[]){0, 2, 4});
    check_split(PIPE_SPLIT_BALANCED, 4, 2, 256, 32, 16, (int[]){0, 2, 4});
    for (int layers = 1; layers <= 40; layers++)
        for (int stages = 1; stages <= layers && stages <= 16; stages++)
            for (int vocab = 64; vocab <= 65536; vocab *= 4) {
                int even[64], bal[64];
                CHECK_INT_EQ(
                    pipe_split_layers(PIPE_SPLIT_EVEN, layers, stages, vocab, 64, 128, even), 0);
                CHECK_INT_EQ(
                    pipe_split_layers(PIPE_SPLIT_BALANCED, layers, stages, vocab, 64, 128, bal), 0);
                int ok = bal[0] == 0 && bal[stages] == layers && even[stages] == layers;
                for (int s = 0; s < stages; s++)
                    ok = ok && bal[s + 1] > bal[s] && even[s + 1] > even[s];
                double head = vocab / (12.0 * 64 + 128);
                CHECK_MSG(ok && busiest(bal, stages, head) <= busiest(even, stages, head) + 1e-9,
                          "%d layers, %d stages, V=%d: balanced split not valid or busier", layers,
                          stages, vocab);
            }
}

int main(void)
{
    struct pipe_action tmp[PIPE_MAX_ACTIONS(4)];
    CHECK_INT_EQ(pipe_schedule(PIPE_1F1B, 0, 0, 4, tmp), -1);
    CHECK_INT_EQ(pipe_schedule(PIPE_1F1B, 2, 2, 4, tmp), -1);
    CHECK_INT_EQ(pipe_schedule(PIPE_ZB_H1, 2, 0, 0, tmp), -1);
    set_passes(1, 1, 1);
    test_split();

    for (int p = 1; p <= MAXP; p++)
        for (int m = 1; m <= MAXM; m++) {
            run_case(PIPE_1F1B, p, m);
            run_case(PIPE_ZB_H1, p, m);
        }

    printf("modelled bubble (unit F, B, W):\n  p  m   1f1b  (p-1)/(m+p-1)  zb-h1  (p-1)/(3m)\n");
    int shown[][2] = {{2, 4}, {4, 8}, {4, 16}, {8, 16}, {8, 24}};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        int p = shown[i][0], m = shown[i][1];
        double b[2];
        for (int k = 0; k < 2; k++) {
            sim.p = p;
            sim.m = m;
            for (int st = 0; st < p; st++)
                sim.n[st] = pipe_schedule((enum pipe_kind)k, p, st, m, sim.act[st]);
            simulate(&sim, 0);
            b[k] = bubble(&sim);
        }
        printf("  %d %2d  %.4f  %.4f         %.4f  %.4f\n", p, m, b[0],
               (double)(p - 1) / (m + p - 1), b[1], (double)(p - 1) / (3.0 * m));
    }
    return check_status("schedule_test");
}
