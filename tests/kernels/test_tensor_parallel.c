/* Tensor-parallel shards (2 and 4 ranks as threads, with an in-process
 * all-reduce) against the unsharded model: the init is the slice of the
 * unsharded init, and loss, gradients, squared norm and an AdamW step compose
 * to the unsharded results. */
#include <pthread.h>
#include <string.h>

#include "tests/check.h"
#include "tests/kernels/model_util.h"

enum { MAX_TP = 4, MICRO = 2 };

struct group {
    int size;
    pthread_barrier_t barrier;
    float *bufs[MAX_TP];
};

struct rank {
    struct group *g;
    int rank;
};

/* Every rank reduces in rank order, so all ranks get identical results. */
static int allreduce(void *ctx, float *buf, size_t n, int is_max)
{
    struct rank *r = ctx;
    struct group *g = r->g;
    float *out = malloc(n * sizeof(float));
    if (!out)
        return -1;
    g->bufs[r->rank] = buf;
    pthread_barrier_wait(&g->barrier);
    for (size_t i = 0; i < n; i++) {
        float acc = g->bufs[0][i];
        for (int k = 1; k < g->size; k++)
            acc = is_max ? fmaxf(acc, g->bufs[k][i]) : acc + g->bufs[k][i];
        out[i] = acc;
    }
    pthread_barrier_wait(&g->barrier);
    memcpy(buf, out, n * sizeof(float));
    free(out);
    return 0;
}

static int allreduce_sum(void *ctx, float *buf, size_t n)
{
    return allreduce(ctx, buf, n, 0);
}

static int allreduce_max(void *ctx, float *buf, size_t n)
{
    return allreduce(ctx, buf, n, 1);
}

struct job {
    struct rank rank;
    int tp_size;
    uint64_t seed;
    const int32_t (*tok)[TINY_N], (*tgt)[TINY_N];
    gpt_stage *stage;
    float loss[MICRO], loss_after;
    double sumsq;
    int rc;
};

/* The same schedule as the unsharded run: two micro-batches in two slots, the
 * weight halves deferred, then an AdamW step and one more forward. */
static void *run_rank(void *arg)
{
    struct job *j = arg;
    gpt_comm comm = {&j->rank, allreduce_sum, allreduce_max, NULL};
    j->stage =
        make_stage(0, tiny_config.n_layer, 1, 1, j->rank.rank, j->tp_size, MICRO, comm, j->seed);
    gpt_stage *s = j->stage;
    j->rc = 0;
    for (int m = 0; m < MICRO; m++)
        j->rc |= gpt_stage_forward(s, m, j->tok[m], NULL, j->tgt[m], NULL, &j->loss[m]);
    for (int m = MICRO - 1; m >= 0; m--)
        j->rc |= gpt_stage_backward_input(s, m, NULL, 1.0f / MICRO, NULL);
    for (int m = 0; m < MICRO; m++)
        j->rc |= gpt_stage_backward_weight(s, m);
    j->sumsq = gpt_stage_grad_sumsq(s);
    return NULL;
}

static void *step_rank(void *arg)
{
    struct job *j = arg;
    gpt_stage_adamw(j->stage, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    j->rc |= gpt_stage_forward(j->stage, 0, j->tok[0], NULL, j->tgt[0], NULL, &j->loss_after);
    j->rc |= gpt_stage_discard(j->stage, 0);
    return NULL;
}

static void run_group(struct job *jobs, int tp, void *(*fn)(void *))
{
    pthread_t th[MAX_TP];
    for (int r = 0; r < tp; r++)
        pthread_create(&th[r], NULL, fn, &jobs[r]);
    for (int r = 0; r < tp; r++)
        pthread_join(th[r], NULL);
}

/* Compares shard tensor t (data or grad) with the slice of the unsharded one. */
static double slice_err(const gpt_tensor *t, const gpt_tensor *full, int grads)
{
    float *want = malloc(t->count * sizeof(float));
    take_slice(want, t, grads ? full->grad : full->data);
    double e = rel_err_f(grads ? t->grad : t->data, want, t->count);
    free(want);
    return e;
}

static void test_tp(int tp, uint64_t seed)
{
    int32_t tok[MICRO][TINY_N], tgt[MICRO][TINY_N];
    for (int m = 0; m < MICRO; m++) {
        random_tokens(tok[m], TINY_N);
        random_tokens(tgt[m], TINY_N);
    }
    struct job ref = {.tp_size = 1, .seed = seed, .tok = tok, .tgt = tgt};
    run_rank(&ref);
    CHECK(ref.rc == 0);

    struct group g = {.size = tp};
    pthread_barrier_init(&g.barrier, NULL, tp);
    struct job jobs[MAX_TP];
    for (int r = 0; r < tp; r++)
        jobs[r] =
            (struct job){.rank = {&g, r}, .tp_size = tp, .seed = seed, .tok = tok, .tgt = tgt};
    run_group(jobs, tp, run_rank);

    double sumsq = 0.0;
    for (int r = 0; r < tp; r++) {
        gpt_stage *s = jobs[r].stage;
        CHECK_MSG(jobs[r].rc == 0, "tp %d rank %d: %s", tp, r, gpt_stage_error(s));
        for (int m = 0; m < MICRO; m++)
            CHECK_MSG(fabsf(jobs[r].loss[m] - ref.loss[m]) <= 1e-5f * ref.loss[m],
                      "tp %d rank %d: loss %g, unsharded %g", tp, r, jobs[r].loss[m], ref.loss[m]);
        CHECK_INT_EQ(gpt_stage_tensor_count(s), gpt_stage_tensor_count(ref.stage));
        for (int i = 0; i < gpt_stage_tensor_count(s); i++) {
            const gpt_tensor *t = gpt_stage_tensor(s, i);
            const gpt_tensor *full = gpt_stage_tensor_by_name(ref.stage, t->name);
            CHECK_MSG(full != NULL, "%s not in the unsharded model", t->name);
            if (!full)
                continue;
            double e = slice_err(t, full, 0);
            CHECK_MSG(e == 0.0, "tp %d rank %d %s: init differs from the slice (%g)", tp, r,
                      t->name, e);
            e = slice_err(t, full, 1);
            CHECK_MSG(e < 1e-5, "tp %d rank %d %s: gradient relative error %g", tp, r, t->name, e);
        }
        sumsq += jobs[r].sumsq;
    }
    CHECK_MSG(fabs(sumsq - ref.sumsq) <= 1e-5 * ref.sumsq, "tp %d: sum of squares %g, unsharded %g",
              tp, sumsq, ref.sumsq);

    step_rank(&ref);
    run_group(jobs, tp, step_rank);
    for (int r = 0; r < tp; r++) {
        CHECK(jobs[r].rc == 0);
        CHECK_MSG(fabsf(jobs[r].loss_after - ref.loss_after) <= 1e-5f * ref.loss_after,
                  "tp %d rank %d: loss after AdamW %g, unsharded %g", tp, r, jobs[r].loss_after,
                  ref.loss_after);
        CHECK(jobs[r].loss_after < jobs[r].loss[0]);
        gpt_stage_destroy(jobs[r].stage);
    }
    pthread_barrier_destroy(&g.barrier);
    gpt_stage_destroy(ref.stage);
}

static int failing_allreduce(void *ctx, float *buf, size_t n)
{
    (void)ctx, (void)buf, (void)n;
    return -1;
}

static const char *failing_error(void *ctx)
{
    (void)ctx;
    return "peer rank 1 (host b): Endpoint timeout";
}

/* A failed collective's error carries the caller's reason, which is what the
 * user can act on. */
static void test_comm_error(uint64_t seed)
{
    gpt_comm comm = {NULL, failing_allreduce, failing_allreduce, failing_error};
    gpt_stage_opts o = {.config = tiny_config,
                        .layer_end = tiny_config.n_layer,
                        .first = 1,
                        .last = 1,
                        .tp_size = 2,
                        .batch = TINY_B,
                        .seq = TINY_T,
                        .slots = 1,
                        .comm = comm};
    char err[256] = "";
    gpt_stage *s = gpt_stage_create(&o, seed, err, sizeof(err));
    const char *why = s ? gpt_stage_error(s) : err;
    if (s) {
        int32_t tok[TINY_N] = {0};
        float loss;
        CHECK(gpt_stage_forward(s, 0, tok, NULL, tok, NULL, &loss) != 0);
    }
    CHECK_MSG(strstr(why, "tensor-parallel allreduce-") &&
                  strstr(why, "failed on rank 0 of 2: peer rank 1 (host b): Endpoint timeout"),
              "error: %s", why);
    gpt_stage_destroy(s);
}

int main(void)
{
    uint64_t seed = test_seed();
    test_tp(2, seed);
    test_tp(4, seed);
    test_comm_error(seed);
    return check_status("test_tensor_parallel");
}
