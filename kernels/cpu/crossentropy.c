/* Vocabulary-parallel softmax cross-entropy: each shard sees a slice of the
 * logits; the row max and the exp sums are reduced across shards by the
 * caller between the steps. */
#include <math.h>

#include "ops.h"
#include "vecmath.h"

void crossentropy_row_max(float *max, const float *logits, int N, int V)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * V;
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int v = 0; v < V; v++)
            m = l[v] > m ? l[v] : m;
        max[i] = m;
    }
}

void crossentropy_row_sums(float *sums, const float *logits, const float *max,
                           const int32_t *targets, int v_begin, int N, int V)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * V;
        float s = 0.0f, row_max = max[i];
#pragma omp simd reduction(+ : s)
        for (int v = 0; v < V; v++)
            s += vec_expf(l[v] - row_max);
        sums[i] = s;
        int t = targets[i] - v_begin;
        sums[N + i] = (t >= 0 && t < V) ? l[t] : 0.0f;
    }
}

float crossentropy_loss(const float *max, const float *sums, int N)
{
    double loss = 0.0;
    for (int i = 0; i < N; i++)
        loss += logf(sums[i]) + max[i] - sums[N + i];
    return (float)(loss / N);
}

void crossentropy_backward(float *logits, const float *max, const float *sums,
                           const int32_t *targets, int v_begin, int N, int V, float scale)
{
    const float s = scale / N;
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        float *l = logits + (size_t)i * V;
        float inv = 1.0f / sums[i], row_max = max[i];
#pragma omp simd
        for (int v = 0; v < V; v++)
            l[v] = s * vec_expf(l[v] - row_max) * inv;
        int t = targets[i] - v_begin;
        if (t >= 0 && t < V)
            l[t] -= s;
    }
}
