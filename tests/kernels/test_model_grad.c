/* Whole-model gradients against finite differences on a tiny model; the split
 * backward (input, then weight) against the fused one; the loss scale; and
 * the optimizer-side operations. */
#include <string.h>

#include "tests/check.h"
#include "tests/kernels/model_util.h"

static float eval_loss(gpt_stage *s, const int32_t *tok, const int32_t *tgt)
{
    float loss = NAN;
    CHECK(gpt_stage_forward(s, 0, tok, NULL, tgt, NULL, &loss) == 0);
    CHECK(gpt_stage_discard(s, 0) == 0);
    return loss;
}

/* Along a random direction per tensor (tilted towards the gradient so the
 * derivative is well away from zero), the analytic directional derivative
 * sum(grad * dir) against the central difference of the fp32 loss. The step
 * is sized to move the loss by about 1e-3 of itself, far above fp32
 * rounding, and small enough for the quadratic term to cancel. */
static void test_finite_differences(uint64_t seed)
{
    gpt_stage *s = make_whole(1, seed);
    int32_t tok[TINY_N], tgt[TINY_N];
    random_tokens(tok, TINY_N);
    random_tokens(tgt, TINY_N);
    /* Away from the init, where LayerNorm and bias gradients are tiny. */
    for (int i = 0; i < gpt_stage_tensor_count(s); i++) {
        const gpt_tensor *t = gpt_stage_tensor(s, i);
        for (size_t k = 0; k < t->count; k++)
            t->data[k] += (float)(0.4 * test_uniform() - 0.2);
    }
    float loss;
    gpt_stage_zero_grad(s);
    CHECK(gpt_stage_forward(s, 0, tok, NULL, tgt, NULL, &loss) == 0);
    CHECK(gpt_stage_backward(s, 0, NULL, 1.0f, NULL) == 0);
    for (int i = 0; i < gpt_stage_tensor_count(s); i++) {
        const gpt_tensor *t = gpt_stage_tensor(s, i);
        float *dir = test_random(t->count, 0.5f, 1.5f), *orig = test_copy(t->data, t->count);
        double norm = 0.0, analytic = 0.0;
        for (size_t k = 0; k < t->count; k++)
            norm += (double)t->grad[k] * t->grad[k];
        CHECK_MSG(norm > 0.0, "%s: gradient is zero", t->name);
        for (size_t k = 0; k < t->count; k++) {
            dir[k] *= (float)(t->grad[k] / sqrt(norm));
            analytic += (double)t->grad[k] * dir[k];
        }
        const double eps = 1e-3 * loss / analytic;
        for (size_t k = 0; k < t->count; k++)
            t->data[k] = orig[k] + (float)(eps * dir[k]);
        double up = eval_loss(s, tok, tgt);
        for (size_t k = 0; k < t->count; k++)
            t->data[k] = orig[k] - (float)(eps * dir[k]);
        double down = eval_loss(s, tok, tgt);
        memcpy(t->data, orig, t->count * sizeof(float));
        double numeric = (up - down) / (2 * eps);
        CHECK_MSG(fabs(numeric - analytic) <= 1e-2 * analytic,
                  "%s: finite difference %g, gradient %g", t->name, numeric, analytic);
        free(dir);
        free(orig);
    }
    gpt_stage_destroy(s);
}

static void test_split_equals_fused(uint64_t seed)
{
    gpt_stage *a = make_whole(2, seed), *b = make_whole(2, seed);
    int32_t tok[2][TINY_N], tgt[2][TINY_N];
    for (int m = 0; m < 2; m++) {
        random_tokens(tok[m], TINY_N);
        random_tokens(tgt[m], TINY_N);
    }
    float la[2], lb[2];
    for (int m = 0; m < 2; m++) {
        CHECK(gpt_stage_forward(a, m, tok[m], NULL, tgt[m], NULL, &la[m]) == 0);
        CHECK(gpt_stage_backward(a, m, NULL, 0.5f, NULL) == 0);
    }
    /* Both forwards first, both input halves, then the weight halves. */
    for (int m = 0; m < 2; m++)
        CHECK(gpt_stage_forward(b, m, tok[m], NULL, tgt[m], NULL, &lb[m]) == 0);
    for (int m = 0; m < 2; m++)
        CHECK(gpt_stage_backward_input(b, m, NULL, 0.5f, NULL) == 0);
    for (int m = 0; m < 2; m++)
        CHECK(gpt_stage_backward_weight(b, m) == 0);
    CHECK(la[0] == lb[0] && la[1] == lb[1]);
    size_t n = gpt_stage_param_count(a);
    CHECK_MSG(memcmp(gpt_stage_grads(a), gpt_stage_grads(b), n * sizeof(float)) == 0,
              "split backward differs from fused backward");
    /* A slot must see forward, input half, weight half in that order. */
    CHECK(gpt_stage_backward_weight(b, 0) == -1);
    CHECK_STR_CONTAINS(gpt_stage_error(b), "slot 0");
    CHECK(gpt_stage_backward(b, 2, NULL, 1.0f, NULL) == -1);
    gpt_stage_destroy(a);
    gpt_stage_destroy(b);
}

static void test_scale_and_optimizer(uint64_t seed)
{
    gpt_stage *a = make_whole(1, seed), *b = make_whole(1, seed);
    int32_t tok[TINY_N], tgt[TINY_N];
    random_tokens(tok, TINY_N);
    random_tokens(tgt, TINY_N);
    float loss;
    CHECK(gpt_stage_forward(a, 0, tok, NULL, tgt, NULL, &loss) == 0);
    CHECK(gpt_stage_backward(a, 0, NULL, 1.0f, NULL) == 0);
    CHECK(gpt_stage_forward(b, 0, tok, NULL, tgt, NULL, &loss) == 0);
    CHECK(gpt_stage_backward(b, 0, NULL, 0.25f, NULL) == 0);
    size_t n = gpt_stage_param_count(a);
    gpt_stage_scale_grads(a, 0.25f);
    CHECK(rel_err_f(gpt_stage_grads(b), gpt_stage_grads(a), n) < 1e-6);
    double sumsq = 0.0;
    for (size_t i = 0; i < n; i++)
        sumsq += (double)gpt_stage_grads(a)[i] * gpt_stage_grads(a)[i];
    CHECK(fabs(gpt_stage_grad_sumsq(a) - sumsq) <= 1e-9 * sumsq);

    /* AdamW moves every parameter; no decay on LayerNorm and biases: with a
     * zero gradient those stay put while matrices shrink. */
    gpt_stage_zero_grad(a);
    const gpt_tensor *ln = gpt_stage_tensor_by_name(a, "h.0.ln1.w");
    const gpt_tensor *fc = gpt_stage_tensor_by_name(a, "h.0.mlp.fc1.w");
    CHECK(ln && fc && !ln->decay && fc->decay);
    float ln0 = ln->data[0], fc0 = fc->data[0];
    gpt_stage_adamw(a, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    CHECK(ln->data[0] == ln0);
    CHECK(fabsf(fc->data[0] - fc0 * (1.0f - 1e-3f)) <= 1e-6f * fabsf(fc0));
    gpt_stage_destroy(a);
    gpt_stage_destroy(b);
}

static void test_init_and_errors(uint64_t seed)
{
    gpt_stage *s = make_whole(1, seed);
    const gpt_tensor *wte = gpt_stage_tensor_by_name(s, "wte");
    const gpt_tensor *proj = gpt_stage_tensor_by_name(s, "h.1.attn.proj.w");
    const gpt_tensor *b = gpt_stage_tensor_by_name(s, "h.2.mlp.fc2.b");
    CHECK(wte && proj && b);
    double m2 = 0.0;
    for (size_t k = 0; k < wte->count; k++)
        m2 += (double)wte->data[k] * wte->data[k];
    double std = sqrt(m2 / wte->count);
    CHECK_MSG(std > 0.015 && std < 0.025, "wte std %g, expected about 0.02", std);
    m2 = 0.0;
    for (size_t k = 0; k < proj->count; k++)
        m2 += (double)proj->data[k] * proj->data[k];
    std = sqrt(m2 / proj->count);
    double want = 0.02 / sqrt(2.0 * tiny_config.n_layer);
    CHECK_MSG(std > 0.7 * want && std < 1.3 * want, "proj std %g, expected about %g", std, want);
    for (size_t k = 0; k < b->count; k++)
        CHECK(b->data[k] == 0.0f);
    CHECK(wte->shape[0] == tiny_config.vocab && wte->shape[1] == tiny_config.d_model);

    int32_t tok[TINY_N], tgt[TINY_N];
    random_tokens(tok, TINY_N);
    random_tokens(tgt, TINY_N);
    tok[3] = tiny_config.vocab;
    float loss;
    CHECK(gpt_stage_forward(s, 0, tok, NULL, tgt, NULL, &loss) == -1);
    CHECK_STR_CONTAINS(gpt_stage_error(s), "tokens[3] = 24");
    gpt_stage_destroy(s);

    gpt_stage_opts o = {.config = tiny_config,
                        .layer_end = 3,
                        .first = 1,
                        .last = 1,
                        .tp_size = 3,
                        .batch = 1,
                        .seq = 4,
                        .slots = 1};
    char err[256];
    CHECK(gpt_stage_create(&o, seed, err, sizeof(err)) == NULL);
    CHECK_STR_CONTAINS(err, "tp_size 3");
    /* The CPU tests do not link the CUDA backend. */
    o.tp_size = 1;
    o.device = GPT_DEVICE_CUDA;
    CHECK(gpt_stage_create(&o, seed, err, sizeof(err)) == NULL);
    CHECK_STR_CONTAINS(err, "device cuda");
}

int main(void)
{
    uint64_t seed = test_seed();
    test_finite_differences(seed);
    test_split_equals_fused(seed);
    test_scale_and_optimizer(seed);
    test_init_and_errors(seed);
    return check_status("test_model_grad");
}
