/* LayerNorm over the last dimension, eps 1e-5 as in GPT-2. */
#include <math.h>

#include "ops.h"

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        float *y = out + (size_t)i * C;
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
        mean[i] = m;
        rstd[i] = s;
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
