/* The CUDA stage against the CPU stage (itself checked against float64 and
 * finite differences) on a tiny model: same init, losses, every gradient
 * after a split backward of two micro-batches, and the loss after an AdamW
 * step; tensor-parallel CUDA shards (2 ranks as threads, device buffers
 * reduced through the host) against the unsharded CPU model; the bf16
 * stage's loss and gradient norm against fp32; and one layer at GPT-2 124M's
 * sizes. Skips without a GPU. */
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <string.h>

#include "tests/check.h"
#include "tests/kernels/model_util.h"

enum { MICRO = 2, TP = 2 };

static gpt_stage *make_stage_on(const gpt_config *c, int B, int T, gpt_device device,
                                gpt_precision prec, int tp_rank, int tp_size, gpt_comm comm,
                                uint64_t seed)
{
    gpt_stage_opts o = {.config = *c,
                        .layer_end = c->n_layer,
                        .first = 1,
                        .last = 1,
                        .tp_rank = tp_rank,
                        .tp_size = tp_size,
                        .batch = B,
                        .seq = T,
                        .slots = MICRO,
                        .device = device,
                        .comm = comm,
                        .precision = prec};
    char err[256];
    gpt_stage *s = gpt_stage_create(&o, seed, err, sizeof(err));
    if (!s)
        fprintf(stderr, "gpt_stage_create: %s\n", err);
    return s;
}

static gpt_stage *make_device_stage(gpt_device device, gpt_precision prec, int tp_rank, int tp_size,
                                    gpt_comm comm, uint64_t seed)
{
    return make_stage_on(&tiny_config, TINY_B, TINY_T, device, prec, tp_rank, tp_size, comm, seed);
}

static float *download(const float *dev, size_t n)
{
    float *host = malloc(n * sizeof(float));
    CHECK(cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    return host;
}

static int run(gpt_stage *s, const int32_t tok[MICRO][TINY_N], const int32_t tgt[MICRO][TINY_N],
               float loss[MICRO])
{
    int rc = 0;
    for (int m = 0; m < MICRO; m++)
        rc |= gpt_stage_forward(s, m, tok[m], NULL, tgt[m], NULL, &loss[m]);
    for (int m = MICRO - 1; m >= 0; m--)
        rc |= gpt_stage_backward_input(s, m, NULL, 1.0f / MICRO, NULL);
    for (int m = 0; m < MICRO; m++)
        rc |= gpt_stage_backward_weight(s, m);
    if (rc)
        fprintf(stderr, "%s\n", gpt_stage_error(s));
    return rc;
}

/* An in-process TP group over device buffers: every rank copies its buffer
 * to the host, all reduce in rank order, and copy the result back. */
struct group {
    pthread_barrier_t barrier;
    float *host[TP];
};

struct rank {
    struct group *g;
    int rank;
    uint64_t seed;
    const int32_t (*tok)[TINY_N], (*tgt)[TINY_N];
    gpt_stage *stage;
    float loss[MICRO];
    int rc;
};

static int allreduce(void *ctx, float *buf, size_t n, int is_max)
{
    struct rank *r = ctx;
    struct group *g = r->g;
    float *mine = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    int rc = mine && out &&
                     cudaMemcpy(mine, buf, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess
                 ? 0
                 : -1;
    g->host[r->rank] = mine;
    pthread_barrier_wait(&g->barrier);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        float acc = g->host[0][i];
        for (int k = 1; k < TP; k++)
            acc = is_max ? fmaxf(acc, g->host[k][i]) : acc + g->host[k][i];
        out[i] = acc;
    }
    pthread_barrier_wait(&g->barrier);
    if (rc == 0 && cudaMemcpy(buf, out, n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
        rc = -1;
    free(mine);
    free(out);
    return rc;
}

static int allreduce_sum(void *ctx, float *buf, size_t n)
{
    return allreduce(ctx, buf, n, 0);
}

static int allreduce_max(void *ctx, float *buf, size_t n)
{
    return allreduce(ctx, buf, n, 1);
}

static void *run_rank(void *arg)
{
    struct rank *r = arg;
    gpt_comm comm = {r, allreduce_sum, allreduce_max, NULL};
    r->stage = make_device_stage(GPT_DEVICE_CUDA, GPT_FP32, r->rank, TP, comm, r->seed);
    r->rc = r->stage ? run(r->stage, r->tok, r->tgt, r->loss) : -1;
    return NULL;
}

static void test_tensor_parallel(gpt_stage *whole, const float loss[MICRO],
                                 const int32_t tok[MICRO][TINY_N], const int32_t tgt[MICRO][TINY_N],
                                 uint64_t seed)
{
    struct group g;
    struct rank ranks[TP];
    pthread_t th[TP];
    pthread_barrier_init(&g.barrier, NULL, TP);
    for (int r = 0; r < TP; r++) {
        ranks[r] = (struct rank){.g = &g, .rank = r, .seed = seed, .tok = tok, .tgt = tgt};
        pthread_create(&th[r], NULL, run_rank, &ranks[r]);
    }
    for (int r = 0; r < TP; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&g.barrier);
    for (int r = 0; r < TP; r++) {
        CHECK_MSG(ranks[r].rc == 0, "TP rank %d failed", r);
        if (ranks[r].rc)
            continue;
        for (int m = 0; m < MICRO; m++)
            CHECK_MSG(fabsf(ranks[r].loss[m] - loss[m]) <= 1e-5f * loss[m],
                      "TP rank %d loss %g, unsharded %g", r, ranks[r].loss[m], loss[m]);
        gpt_stage *s = ranks[r].stage;
        for (int i = 0; i < gpt_stage_tensor_count(s); i++) {
            const gpt_tensor *t = gpt_stage_tensor(s, i);
            const gpt_tensor *full = gpt_stage_tensor_by_name(whole, t->name);
            float *got = download(t->grad, t->count), *want = malloc(t->count * sizeof(float));
            take_slice(want, t, full->grad);
            double e = rel_err_f(got, want, t->count);
            CHECK_MSG(e < 1e-4, "TP rank %d %s: gradient relative error %g", r, t->name, e);
            free(got);
            free(want);
        }
    }
    for (int r = 0; r < TP; r++)
        gpt_stage_destroy(ranks[r].stage);
}

/* bf16 products: the loss within 1e-2 of fp32's, the gradient norm within 5e-2. */
static void test_bf16(gpt_stage *fp32, const float loss[MICRO], const int32_t tok[MICRO][TINY_N],
                      const int32_t tgt[MICRO][TINY_N], uint64_t seed)
{
    gpt_stage *s = make_device_stage(GPT_DEVICE_CUDA, GPT_BF16, 0, 1, (gpt_comm){0}, seed);
    CHECK(s != NULL);
    if (!s)
        return;
    float lb[MICRO];
    CHECK(run(s, tok, tgt, lb) == 0);
    for (int m = 0; m < MICRO; m++)
        CHECK_MSG(fabsf(lb[m] - loss[m]) <= 1e-2f * loss[m], "bf16 loss %g, fp32 %g", lb[m],
                  loss[m]);
    double nb = gpt_stage_grad_sumsq(s), nf = gpt_stage_grad_sumsq(fp32);
    CHECK_MSG(fabs(sqrt(nb) - sqrt(nf)) <= 5e-2 * sqrt(nf), "bf16 gradient norm %g, fp32 %g",
              sqrt(nb), sqrt(nf));
    gpt_stage_destroy(s);
}

/* One layer of GPT-2 124M's shapes (d=768, 12 heads of 64, vocabulary 50304)
 * at B=2, T=128 (two attention tiles): CUDA fp32 against the CPU (loss, every
 * gradient), bf16's loss and gradient norm against fp32's. Catches what the tiny model's sizes
 * cannot (cuBLASLt layouts and alignments, head dim 64, the vocabulary). */
static void test_gpt2_shapes(uint64_t seed)
{
    const gpt_config c = {
        .vocab = 50304, .max_seq = 1024, .n_layer = 1, .n_head = 12, .d_model = 768};
    enum { B = 2, T = 128, N = B * T };
    gpt_stage *st[3] = {
        make_stage_on(&c, B, T, GPT_DEVICE_CPU, GPT_FP32, 0, 1, (gpt_comm){0}, seed),
        make_stage_on(&c, B, T, GPT_DEVICE_CUDA, GPT_FP32, 0, 1, (gpt_comm){0}, seed),
        make_stage_on(&c, B, T, GPT_DEVICE_CUDA, GPT_BF16, 0, 1, (gpt_comm){0}, seed)};
    int32_t *tok = malloc(N * sizeof(int32_t)), *tgt = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        tok[i] = (int32_t)(test_uniform() * c.vocab);
        tgt[i] = (int32_t)(test_uniform() * c.vocab);
    }
    float loss[3] = {0};
    for (int k = 0; k < 3; k++) {
        CHECK_MSG(st[k] != NULL, "GPT-2-shaped stage %d not created", k);
        if (!st[k])
            goto done;
        int rc = gpt_stage_forward(st[k], 0, tok, NULL, tgt, NULL, &loss[k]);
        rc = rc < 0 ? rc : gpt_stage_backward(st[k], 0, NULL, 1.0f, NULL);
        CHECK_MSG(rc == 0, "GPT-2-shaped stage %d: %s", k, gpt_stage_error(st[k]));
    }
    CHECK_MSG(fabsf(loss[1] - loss[0]) <= 1e-5f * loss[0], "GPT-2 shapes: loss %g, CPU %g", loss[1],
              loss[0]);
    CHECK_MSG(fabsf(loss[2] - loss[1]) <= 1e-2f * loss[1], "GPT-2 shapes: bf16 loss %g, fp32 %g",
              loss[2], loss[1]);
    /* bf16's attention backward runs on tensor cores at head dim 64. */
    double nb = gpt_stage_grad_sumsq(st[2]), nf = gpt_stage_grad_sumsq(st[1]);
    CHECK_MSG(fabs(sqrt(nb) - sqrt(nf)) <= 5e-2 * sqrt(nf),
              "GPT-2 shapes: bf16 gradient norm %g, fp32 %g", sqrt(nb), sqrt(nf));
    for (int i = 0; i < gpt_stage_tensor_count(st[0]); i++) {
        const gpt_tensor *tc = gpt_stage_tensor(st[0], i), *tg = gpt_stage_tensor(st[1], i);
        float *g = download(tg->grad, tg->count);
        double e = rel_err_f(g, tc->grad, tc->count);
        CHECK_MSG(e < 1e-4, "GPT-2 shapes %s: gradient relative error %g against the CPU", tc->name,
                  e);
        free(g);
    }
done:
    for (int k = 0; k < 3; k++)
        gpt_stage_destroy(st[k]);
    free(tok);
    free(tgt);
}

int main(void)
{
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("no CUDA device: test_cuda_stage needs a GPU\n");
        return CHECK_SKIP;
    }
    uint64_t seed = test_seed();
    gpt_stage *cpu = make_device_stage(GPT_DEVICE_CPU, GPT_FP32, 0, 1, (gpt_comm){0}, seed);
    gpt_stage *gpu = make_device_stage(GPT_DEVICE_CUDA, GPT_FP32, 0, 1, (gpt_comm){0}, seed);
    CHECK(cpu && gpu);
    if (!cpu || !gpu)
        return check_status("test_cuda_stage");
    int32_t tok[MICRO][TINY_N], tgt[MICRO][TINY_N];
    for (int m = 0; m < MICRO; m++) {
        random_tokens(tok[m], TINY_N);
        random_tokens(tgt[m], TINY_N);
    }
    size_t n = gpt_stage_param_count(cpu);
    CHECK_INT_EQ(n, gpt_stage_param_count(gpu));
    float *p = download(gpt_stage_params(gpu), n);
    CHECK_MSG(memcmp(p, gpt_stage_params(cpu), n * sizeof(float)) == 0, "init differs");
    free(p);

    float lc[MICRO + 1], lg[MICRO + 1];
    CHECK(run(cpu, tok, tgt, lc) == 0);
    CHECK(run(gpu, tok, tgt, lg) == 0);
    for (int m = 0; m < MICRO; m++)
        CHECK_MSG(fabsf(lc[m] - lg[m]) <= 1e-5f * lc[m], "loss %g, CPU %g", lg[m], lc[m]);
    for (int i = 0; i < gpt_stage_tensor_count(cpu); i++) {
        const gpt_tensor *tc = gpt_stage_tensor(cpu, i), *tg = gpt_stage_tensor(gpu, i);
        float *g = download(tg->grad, tg->count);
        double e = rel_err_f(g, tc->grad, tc->count);
        CHECK_MSG(e < 1e-4, "%s: gradient relative error %g against the CPU", tc->name, e);
        free(g);
    }
    double sc = gpt_stage_grad_sumsq(cpu), sg = gpt_stage_grad_sumsq(gpu);
    CHECK_MSG(fabs(sc - sg) <= 1e-4 * sc, "sum of squares %g, CPU %g", sg, sc);

    test_tensor_parallel(cpu, lc, tok, tgt, seed);
    test_bf16(gpu, lg, tok, tgt, seed);
    test_gpt2_shapes(seed);

    gpt_stage_adamw(cpu, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    gpt_stage_adamw(gpu, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    CHECK(gpt_stage_forward(cpu, 0, tok[0], NULL, tgt[0], NULL, &lc[MICRO]) == 0);
    CHECK(gpt_stage_forward(gpu, 0, tok[0], NULL, tgt[0], NULL, &lg[MICRO]) == 0);
    CHECK_MSG(fabsf(lc[MICRO] - lg[MICRO]) <= 1e-4f * lc[MICRO], "loss after AdamW %g, CPU %g",
              lg[MICRO], lc[MICRO]);
    CHECK(lg[MICRO] < lg[0]);
    gpt_stage_destroy(cpu);
    gpt_stage_destroy(gpu);
    return check_status("test_cuda_stage");
}
