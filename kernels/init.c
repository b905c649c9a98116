/* The tensor table of a stage and its layout-independent initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/stage_internal.h"

static int add_tensor(struct gpt_stage *s, const char *name, int ndim, const int64_t *shape,
                      int split_dim, int64_t offset, int64_t extent, int decay,
                      enum tensor_init init, float std)
{
    if (s->n_tensors == s->cap_tensors) {
        int cap = s->cap_tensors ? 2 * s->cap_tensors : 64;
        gpt_tensor *t = realloc(s->tensors, cap * sizeof(*t));
        enum tensor_init *in = realloc(s->init, cap * sizeof(*in));
        float *sd = realloc(s->init_std, cap * sizeof(*sd));
        if (t)
            s->tensors = t;
        if (in)
            s->init = in;
        if (sd)
            s->init_std = sd;
        if (!t || !in || !sd) {
            snprintf(s->err, sizeof(s->err), "out of memory for the tensor table");
            return -1;
        }
        s->cap_tensors = cap;
    }
    gpt_tensor *t = &s->tensors[s->n_tensors];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        count *= (size_t)(d == split_dim ? extent : shape[d]);
    }
    t->split_dim = split_dim;
    t->offset = split_dim < 0 ? 0 : offset;
    t->extent = split_dim < 0 ? shape[0] : extent;
    t->index = s->n_params;
    t->count = count;
    t->decay = decay;
    s->init[s->n_tensors] = init;
    s->init_std[s->n_tensors] = std;
    /* Keep every tensor 64-byte aligned inside the buffers. */
    s->n_params += (count + 15) & ~(size_t)15;
    return s->n_tensors++;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static int add_layer(struct gpt_stage *s, int l)
{
    const int64_t C = s->C, tp = s->o.tp_size, r = s->o.tp_rank;
    const int64_t Cl = C / tp, F = 4 * C, Fl = F / tp;
    const float std = 0.02f, res_std = 0.02f / sqrtf(2.0f * s->o.config.n_layer);
    char n[48];
    int rc = 0;
#define T(suffix, ...) (snprintf(n, sizeof(n), "h.%d.%s", l, suffix), add_tensor(s, n, __VA_ARGS__))
    rc |= T("ln1.w", 1, SHAPE(C), -1, 0, 0, 0, INIT_ONE, 0);
    rc |= T("ln1.b", 1, SHAPE(C), -1, 0, 0, 0, INIT_ZERO, 0);
    rc |= T("attn.qkv.w", 3, SHAPE(3, C, C), 1, r * Cl, Cl, 1, INIT_NORMAL, std);
    rc |= T("attn.qkv.b", 2, SHAPE(3, C), 1, r * Cl, Cl, 0, INIT_ZERO, 0);
    rc |= T("attn.proj.w", 2, SHAPE(C, C), 1, r * Cl, Cl, 1, INIT_NORMAL, res_std);
    rc |= T("attn.proj.b", 1, SHAPE(C), -1, 0, 0, 0, INIT_ZERO, 0);
    rc |= T("ln2.w", 1, SHAPE(C), -1, 0, 0, 0, INIT_ONE, 0);
    rc |= T("ln2.b", 1, SHAPE(C), -1, 0, 0, 0, INIT_ZERO, 0);
    rc |= T("mlp.fc1.w", 2, SHAPE(F, C), 0, r * Fl, Fl, 1, INIT_NORMAL, std);
    rc |= T("mlp.fc1.b", 1, SHAPE(F), 0, r * Fl, Fl, 0, INIT_ZERO, 0);
    rc |= T("mlp.fc2.w", 2, SHAPE(C, F), 1, r * Fl, Fl, 1, INIT_NORMAL, res_std);
    rc |= T("mlp.fc2.b", 1, SHAPE(C), -1, 0, 0, 0, INIT_ZERO, 0);
#undef T
    return rc < 0 ? -1 : 0;
}

int stage_build_tensors(struct gpt_stage *s)
{
    const gpt_config *c = &s->o.config;
    const int64_t C = c->d_model;
    s->i_wte = s->i_wpe = s->i_layers = s->i_lnf = -1;
    if (s->o.first || s->o.last) {
        s->i_wte = add_tensor(s, "wte", 2, SHAPE(c->vocab, C), 0, s->v_begin, s->Vl, 1, INIT_NORMAL,
                              0.02f);
        if (s->i_wte < 0)
            return -1;
    }
    if (s->o.first) {
        s->i_wpe = add_tensor(s, "wpe", 2, SHAPE(c->max_seq, C), -1, 0, 0, 1, INIT_NORMAL, 0.02f);
        if (s->i_wpe < 0)
            return -1;
    }
    s->i_layers = s->n_tensors;
    for (int l = s->o.layer_begin; l < s->o.layer_end; l++)
        if (add_layer(s, l) < 0)
            return -1;
    if (s->o.last) {
        s->i_lnf = add_tensor(s, "lnf.w", 1, SHAPE(C), -1, 0, 0, 0, INIT_ONE, 0);
        if (s->i_lnf < 0 || add_tensor(s, "lnf.b", 1, SHAPE(C), -1, 0, 0, 0, INIT_ZERO, 0) < 0)
            return -1;
    }
    return 0;
}

/* A counter-based generator: every value depends only on (seed, tensor,
 * element), so shards generate exactly their slice in any order. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static double uniform(uint64_t key, uint64_t i)
{
    uint64_t x = mix64(key + 0x9e3779b97f4a7c15ULL * (i + 1));
    return ((double)(x >> 11) + 0.5) * 0x1.0p-53;
}

static double normal(uint64_t key, uint64_t g)
{
    double u1 = uniform(key, 2 * g), u2 = uniform(key, 2 * g + 1);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static uint64_t name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
    return h;
}

static void init_normal(const gpt_tensor *t, float *data, uint64_t key, float std)
{
    int64_t local[3] = {1, 1, 1}, global[3] = {1, 1, 1};
    for (int d = 0; d < t->ndim; d++) {
        global[3 - t->ndim + d] = t->shape[d];
        local[3 - t->ndim + d] = d == t->split_dim ? t->extent : t->shape[d];
    }
    const int split = t->split_dim < 0 ? -1 : 3 - t->ndim + t->split_dim;
    const int64_t offset = t->offset;
#pragma omp parallel for
    for (size_t k = 0; k < t->count; k++) {
        int64_t i2 = (int64_t)k % local[2], i1 = ((int64_t)k / local[2]) % local[1];
        int64_t i0 = (int64_t)k / (local[2] * local[1]);
        int64_t idx[3] = {i0, i1, i2};
        if (split >= 0)
            idx[split] += offset;
        uint64_t g = (uint64_t)((idx[0] * global[1] + idx[1]) * global[2] + idx[2]);
        data[k] = (float)(std * normal(key, g));
    }
}

int stage_init(struct gpt_stage *s, uint64_t seed)
{
    size_t largest = 0;
    for (int i = 0; i < s->n_tensors; i++)
        largest = s->tensors[i].count > largest ? s->tensors[i].count : largest;
    /* Generated on the host, then copied to the device. */
    float *data = malloc((largest ? largest : 1) * sizeof(float));
    if (!data) {
        snprintf(s->err, sizeof(s->err), "out of memory for initialising %zu parameters", largest);
        return -1;
    }
    for (int i = 0; i < s->n_tensors; i++) {
        const gpt_tensor *t = &s->tensors[i];
        switch (s->init[i]) {
        case INIT_ZERO:
            memset(data, 0, t->count * sizeof(float));
            break;
        case INIT_ONE:
            for (size_t k = 0; k < t->count; k++)
                data[k] = 1.0f;
            break;
        case INIT_NORMAL:
            init_normal(t, data, mix64(seed ^ name_hash(t->name)), s->init_std[i]);
            break;
        }
        s->ops->upload(s->params + t->index, data, t->count * sizeof(float));
    }
    free(data);
    s->ops->zero(s->adam_m, s->n_params);
    s->ops->zero(s->adam_v, s->n_params);
    return s->ops->status(s->err, sizeof(s->err));
}

int gpt_stage_init(gpt_stage *s, uint64_t seed)
{
    return stage_init(s, seed);
}
