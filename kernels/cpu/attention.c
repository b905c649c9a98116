/* Causal multi-head attention, one (batch, head) pair per task; the TxT
 * softmax is kept for backward (T is small on the CPU). */
#include <math.h>

#include "ops.h"
#include "vecmath.h"

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int hd)
{
    const int C = H * hd, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * T * C3 + h * hd;
            for (int t = 0; t < T; t++) {
                const float *q = base + (size_t)t * C3;
                float *a = att + (((size_t)b * H + h) * T + t) * T;
                float max = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = base + (size_t)t2 * C3 + C;
                    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                    for (int i = 0; i < hd; i++)
                        dot += q[i] * k[i];
                    a[t2] = dot * scale;
                    if (a[t2] > max)
                        max = a[t2];
                }
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int t2 = 0; t2 <= t; t2++) {
                    a[t2] = vec_expf(a[t2] - max);
                    sum += a[t2];
                }
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 <= t; t2++)
                    a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++)
                    a[t2] = 0.0f;
                float *y = out + ((size_t)b * T + t) * C + h * hd;
                for (int i = 0; i < hd; i++)
                    y[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = base + (size_t)t2 * C3 + 2 * C;
                    for (int i = 0; i < hd; i++)
                        y[i] += a[t2] * v[i];
                }
            }
        }
    }
}

void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int H, int hd)
{
    const int C = H * hd, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const float *base = qkv + (size_t)b * T * C3 + h * hd;
            float *dbase = dqkv + (size_t)b * T * C3 + h * hd;
            float *datt = scratch + ((size_t)b * H + h) * T;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < hd; i++) {
                    float *row = dbase + (size_t)t * C3;
                    row[i] = row[C + i] = row[2 * C + i] = 0.0f;
                }
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * H + h) * T + t) * T;
                const float *dy = dout + ((size_t)b * T + t) * C + h * hd;
                const float *q = base + (size_t)t * C3;
                float *dq = dbase + (size_t)t * C3;
                float dot_sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = base + (size_t)t2 * C3 + 2 * C;
                    float *dv = dbase + (size_t)t2 * C3 + 2 * C;
                    float d = 0.0f;
#pragma omp simd reduction(+ : d)
                    for (int i = 0; i < hd; i++) {
                        d += dy[i] * v[i];
                        dv[i] += a[t2] * dy[i];
                    }
                    datt[t2] = d;
                    dot_sum += a[t2] * d;
                }
                for (int t2 = 0; t2 <= t; t2++) {
                    float dpre = a[t2] * (datt[t2] - dot_sum) * scale;
                    const float *k = base + (size_t)t2 * C3 + C;
                    float *dk = dbase + (size_t)t2 * C3 + C;
                    for (int i = 0; i < hd; i++) {
                        dq[i] += dpre * k[i];
                        dk[i] += dpre * q[i];
                    }
                }
            }
        }
    }
}
