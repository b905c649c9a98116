/* GELU and residual additions. */
#include <math.h>

#include "ops.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */

void gelu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float grad =
            0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 0.134145f * x * x);
        dinp[i] = grad * dout[i];
    }
}

void residual_forward(float *out, const float *a, const float *b, const float *bias, size_t rows,
                      int C)
{
#pragma omp parallel for
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t i = r * C + c;
            out[i] = a[i] + b[i] + (bias ? bias[c] : 0.0f);
        }
}
