/* The CUDA stage against the CPU stage (itself checked against float64 and
 * finite differences) on a tiny model: same init, losses, every gradient
 * after a split backward of two micro-batches, and the loss after an AdamW
 * step. Skips without a GPU. */
#include <cuda_runtime_api.h>
#include <string.h>

#include "tests/check.h"
#include "tests/kernels/model_util.h"

enum { MICRO = 2 };

static gpt_stage *make_device_stage(gpt_device device, uint64_t seed)
{
    gpt_stage_opts o = {.config = tiny_config,
                        .layer_end = tiny_config.n_layer,
                        .first = 1,
                        .last = 1,
                        .tp_size = 1,
                        .batch = TINY_B,
                        .seq = TINY_T,
                        .slots = MICRO,
                        .device = device};
    char err[256];
    gpt_stage *s = gpt_stage_create(&o, seed, err, sizeof(err));
    if (!s)
        fprintf(stderr, "gpt_stage_create: %s\n", err);
    return s;
}

static float *download(const float *dev, size_t n)
{
    float *host = malloc(n * sizeof(float));
    cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost);
    return host;
}

static void run(gpt_stage *s, int32_t tok[MICRO][TINY_N], int32_t tgt[MICRO][TINY_N],
                float loss[MICRO + 1])
{
    for (int m = 0; m < MICRO; m++)
        CHECK(gpt_stage_forward(s, m, tok[m], NULL, tgt[m], NULL, &loss[m]) == 0);
    for (int m = MICRO - 1; m >= 0; m--)
        CHECK(gpt_stage_backward_input(s, m, NULL, 1.0f / MICRO, NULL) == 0);
    for (int m = 0; m < MICRO; m++)
        CHECK(gpt_stage_backward_weight(s, m) == 0);
}

int main(void)
{
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("no CUDA device: test_cuda_stage needs a GPU\n");
        return CHECK_SKIP;
    }
    uint64_t seed = test_seed();
    gpt_stage *cpu = make_device_stage(GPT_DEVICE_CPU, seed);
    gpt_stage *gpu = make_device_stage(GPT_DEVICE_CUDA, seed);
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
    run(cpu, tok, tgt, lc);
    run(gpu, tok, tgt, lg);
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
