/* Access to a stage's parameters and the optimizer-side operations on them. */
#include <math.h>
#include <string.h>

#include "kernels/stage_internal.h"

int gpt_stage_tensor_count(const gpt_stage *s)
{
    return s->n_tensors;
}

const gpt_tensor *gpt_stage_tensor(const gpt_stage *s, int i)
{
    return i >= 0 && i < s->n_tensors ? &s->tensors[i] : NULL;
}

const gpt_tensor *gpt_stage_tensor_by_name(const gpt_stage *s, const char *name)
{
    for (int i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0)
            return &s->tensors[i];
    return NULL;
}

size_t gpt_stage_param_count(const gpt_stage *s)
{
    return s->n_params;
}

float *gpt_stage_params(gpt_stage *s)
{
    return s->params;
}

float *gpt_stage_grads(gpt_stage *s)
{
    return s->grads;
}

float *gpt_stage_adam_m(gpt_stage *s)
{
    return s->adam_m;
}

float *gpt_stage_adam_v(gpt_stage *s)
{
    return s->adam_v;
}

void gpt_stage_zero_grad(gpt_stage *s)
{
    s->ops->zero(s->grads, s->n_params);
}

double gpt_stage_grad_sumsq(gpt_stage *s)
{
    double total = 0.0;
    for (int i = 0; i < s->n_tensors; i++) {
        const gpt_tensor *t = &s->tensors[i];
        if (t->split_dim < 0 && s->o.tp_rank != 0)
            continue;
        if (i == s->i_wte && !s->o.first)
            continue;
        total += s->ops->sumsq(t->grad, t->count);
    }
    return total;
}

void gpt_stage_scale_grads(gpt_stage *s, float factor)
{
    s->ops->scale(s->grads, s->n_params, factor);
}

void gpt_stage_adamw(gpt_stage *s, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int step)
{
    const float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    for (int i = 0; i < s->n_tensors; i++) {
        const gpt_tensor *t = &s->tensors[i];
        s->ops->adamw_update(t->data, t->grad, t->adam_m, t->adam_v, t->count, lr, beta1, beta2,
                             eps, t->decay ? weight_decay : 0.0f, bc1, bc2);
    }
}

double gpt_stage_flops(const gpt_stage *s)
{
    const double N = s->N, C = s->C, Cl = s->Cl, Fl = s->Fl, T = s->o.seq;
    /* Per layer: qkv, proj, fc1, fc2 products, and the causal score and
     * value products of attention. */
    double layer = 2.0 * N * (C * 3 * Cl + Cl * C + C * Fl + Fl * C);
    layer += 2.0 * 2.0 * s->o.batch * s->Hl * (T * (T + 1) / 2) * s->hd;
    double fwd = s->L * layer + (s->o.last ? 2.0 * N * C * s->Vl : 0.0);
    return 3.0 * fwd;
}
