/* LayerNorm over the last dimension, eps 1e-5 as in GPT-2. */
#include <math.h>

#include "ops.h"

/* One row: y = LN(x) * w + b, its mean and 1/std to *mean and *rstd. */
static void layernorm_row(float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int C)
{
    float m = 0.0f;
    for (int c = 0; c < C; c++)
        m += x[c];
    m /= C;
    float var = 0.0f;
    for (int c = 0; c < C; c++) {
        float d = x[c] - m;
        var += d * d;
    }
    var /= C;
    float s = 1.0f / sqrtf(var + 1e-5f);
    for (int c = 0; c < C; c++)
        y[c] = (x[c] - m) * s * w[c] + b[c];
    *mean = m;
    *rstd = s;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++)
        layernorm_row(out + (size_t)i * C, &mean[i], &rstd[i], inp + (size_t)i * C, w, b, C);
}

/* Row by row, so the LayerNorm reads the sum while it is in cache; the same
 * arithmetic as residual_forward then layernorm_forward, so the same bits. */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *bias, const float *w,
                                const float *ln_b, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float *x = res + (size_t)i * C;
        for (int c = 0; c < C; c++)
            x[c] = a[(size_t)i * C + c] + b[(size_t)i * C + c] + (bias ? bias[c] : 0.0f);
        layernorm_row(out + (size_t)i * C, &mean[i], &rstd[i], x, w, ln_b, C);
    }
}

void layernorm_backward_input(float *dinp, const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        const float *dy = dout + (size_t)i * C;
        float *dx = dinp + (size_t)i * C;
        float m = mean[i], s = rstd[i];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int c = 0; c < C; c++) {
            float dnorm = w[c] * dy[c];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * (x[c] - m) * s;
        }
        dnorm_mean /= C;
        dnorm_norm_mean /= C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * s;
            dx[c] += (w[c] * dy[c] - dnorm_mean - xhat * dnorm_norm_mean) * s;
        }
    }
}

void layernorm_backward_weight(float *dw, float *db, const float *dout, const float *inp,
                               const float *mean, const float *rstd, int N, int C)
{
    /* Parallel over channels so each gradient element has one writer. */
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        float gw = 0.0f, gb = 0.0f;
        for (int i = 0; i < N; i++) {
            float dy = dout[(size_t)i * C + c];
            gw += dy * (inp[(size_t)i * C + c] - mean[i]) * rstd[i];
            gb += dy;
        }
        dw[c] += gw;
        db[c] += gb;
    }
}
