/* A chain of pipeline stages (first, middle, last) against the whole model:
 * two micro-batches in flight with the weight halves deferred, as a
 * zero-bubble schedule runs them. The tied embedding's gradient is split
 * between the first and the last stage and sums to the whole model's. */
#include <string.h>

#include "tests/check.h"
#include "tests/kernels/model_util.h"

enum { MICRO = 2, STAGES = 3 };

static void test_chain(uint64_t seed)
{
    int32_t tok[MICRO][TINY_N], tgt[MICRO][TINY_N];
    for (int m = 0; m < MICRO; m++) {
        random_tokens(tok[m], TINY_N);
        random_tokens(tgt[m], TINY_N);
    }
    gpt_stage *whole = make_whole(1, seed);
    float ref_loss[MICRO];
    for (int m = 0; m < MICRO; m++) {
        CHECK(gpt_stage_forward(whole, 0, tok[m], NULL, tgt[m], NULL, &ref_loss[m]) == 0);
        CHECK(gpt_stage_backward(whole, 0, NULL, 1.0f / MICRO, NULL) == 0);
    }

    gpt_stage *st[STAGES];
    for (int k = 0; k < STAGES; k++)
        st[k] = make_stage(k, k + 1, k == 0, k == STAGES - 1, 0, 1, MICRO, (gpt_comm){0}, seed);
    const size_t n = (size_t)TINY_N * tiny_config.d_model;
    float *act[STAGES], *grad[STAGES];
    for (int k = 0; k < STAGES; k++) {
        act[k] = test_poisoned(n);
        grad[k] = test_poisoned(n);
    }
    float loss[MICRO];
    for (int m = 0; m < MICRO; m++) {
        CHECK(gpt_stage_forward(st[0], m, tok[m], NULL, NULL, act[0], NULL) == 0);
        CHECK(gpt_stage_forward(st[1], m, NULL, act[0], NULL, act[1], NULL) == 0);
        CHECK(gpt_stage_forward(st[2], m, NULL, act[1], tgt[m], NULL, &loss[m]) == 0);
        CHECK_MSG(fabsf(loss[m] - ref_loss[m]) <= 1e-6f * ref_loss[m], "loss %g, whole model %g",
                  loss[m], ref_loss[m]);
    }
    for (int m = 0; m < MICRO; m++) {
        CHECK(gpt_stage_backward_input(st[2], m, NULL, 1.0f / MICRO, grad[2]) == 0);
        CHECK(gpt_stage_backward_input(st[1], m, grad[2], 0.0f, grad[1]) == 0);
        CHECK(gpt_stage_backward_input(st[0], m, grad[1], 0.0f, NULL) == 0);
    }
    for (int m = MICRO - 1; m >= 0; m--)
        for (int k = 0; k < STAGES; k++)
            CHECK(gpt_stage_backward_weight(st[k], m) == 0);

    /* What the trainer does with the tied embedding: sum the two copies. */
    const gpt_tensor *wte0 = gpt_stage_tensor_by_name(st[0], "wte");
    const gpt_tensor *wte2 = gpt_stage_tensor_by_name(st[2], "wte");
    CHECK(wte0 && wte2 && gpt_stage_tensor_by_name(st[1], "wte") == NULL);
    CHECK(memcmp(wte0->data, wte2->data, wte0->count * sizeof(float)) == 0);
    for (size_t i = 0; i < wte0->count; i++)
        wte0->grad[i] = wte2->grad[i] = wte0->grad[i] + wte2->grad[i];

    int seen = 0;
    double sumsq = 0.0;
    for (int k = 0; k < STAGES; k++) {
        for (int i = 0; i < gpt_stage_tensor_count(st[k]); i++) {
            const gpt_tensor *t = gpt_stage_tensor(st[k], i);
            const gpt_tensor *full = gpt_stage_tensor_by_name(whole, t->name);
            CHECK_MSG(full && full->count == t->count, "%s: not in the whole model", t->name);
            if (!full || full->count != t->count)
                continue;
            CHECK_MSG(memcmp(t->data, full->data, t->count * sizeof(float)) == 0,
                      "%s: init differs", t->name);
            double e = rel_err_f(t->grad, full->grad, t->count);
            CHECK_MSG(e < 1e-5, "stage %d %s: gradient relative error %g", k, t->name, e);
            seen++;
        }
        sumsq += gpt_stage_grad_sumsq(st[k]);
    }
    CHECK_INT_EQ(seen, gpt_stage_tensor_count(whole) + 1); /* wte twice */
    double ref = gpt_stage_grad_sumsq(whole);
    CHECK_MSG(fabs(sumsq - ref) <= 1e-5 * ref, "sum of squares %g, whole model %g", sumsq, ref);

    /* Misuse gets an error, not a crash. */
    CHECK(gpt_stage_backward_input(st[1], 0, NULL, 1.0f, grad[1]) == -1);
    CHECK_STR_CONTAINS(gpt_stage_error(st[1]), "slot 0");
    CHECK(gpt_stage_forward(st[1], 0, NULL, act[0], NULL, act[1], NULL) == 0);
    CHECK(gpt_stage_backward_input(st[1], 0, NULL, 1.0f, grad[1]) == -1);
    CHECK_STR_CONTAINS(gpt_stage_error(st[1]), "grad_output");

    for (int k = 0; k < STAGES; k++) {
        gpt_stage_destroy(st[k]);
        free(act[k]);
        free(grad[k]);
    }
    gpt_stage_destroy(whole);
}

int main(void)
{
    uint64_t seed = test_seed();
    test_chain(seed);
    return check_status("test_pipeline");
}
