/* Helpers for the whole-model kernels tests: a tiny GPT, stage creation, and
 * the slice of an unsharded tensor that a shard should hold. */
#ifndef PLAIT_TESTS_KERNELS_MODEL_UTIL_H
#define PLAIT_TESTS_KERNELS_MODEL_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "tests/kernels/testutil.h"

static const gpt_config tiny_config = {
    .vocab = 24, .max_seq = 8, .n_layer = 3, .n_head = 4, .d_model = 16};
enum { TINY_B = 2, TINY_T = 6, TINY_N = TINY_B * TINY_T };

static inline gpt_stage *make_stage(int layer_begin, int layer_end, int first, int last,
                                    int tp_rank, int tp_size, int slots, gpt_comm comm,
                                    uint64_t seed)
{
    gpt_stage_opts o = {.config = tiny_config,
                        .layer_begin = layer_begin,
                        .layer_end = layer_end,
                        .first = first,
                        .last = last,
                        .tp_rank = tp_rank,
                        .tp_size = tp_size,
                        .batch = TINY_B,
                        .seq = TINY_T,
                        .slots = slots,
                        .comm = comm};
    char err[256];
    gpt_stage *s = gpt_stage_create(&o, seed, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "gpt_stage_create: %s\n", err);
        exit(1);
    }
    return s;
}

static inline gpt_stage *make_whole(int slots, uint64_t seed)
{
    return make_stage(0, tiny_config.n_layer, 1, 1, 0, 1, slots, (gpt_comm){0}, seed);
}

static inline void random_tokens(int32_t *tok, int n)
{
    for (int i = 0; i < n; i++)
        tok[i] = (int32_t)(test_uniform() * tiny_config.vocab);
}

/* Copies into out[t->count] the part of `full` (an unsharded tensor of the same
 * name) that shard tensor t holds, from `src` (full->data or full->grad). */
static inline void take_slice(float *out, const gpt_tensor *t, const float *src)
{
    int64_t local[3] = {1, 1, 1}, global[3] = {1, 1, 1};
    for (int d = 0; d < t->ndim; d++) {
        global[3 - t->ndim + d] = t->shape[d];
        local[3 - t->ndim + d] = d == t->split_dim ? t->extent : t->shape[d];
    }
    int split = t->split_dim < 0 ? -1 : 3 - t->ndim + t->split_dim;
    for (size_t k = 0; k < t->count; k++) {
        int64_t idx[3] = {(int64_t)k / (local[2] * local[1]), ((int64_t)k / local[2]) % local[1],
                          (int64_t)k % local[2]};
        if (split >= 0)
            idx[split] += t->offset;
        out[k] = src[(idx[0] * global[1] + idx[1]) * global[2] + idx[2]];
    }
}

#endif
