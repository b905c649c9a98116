/* Token (vocabulary-parallel) and position embeddings. */
#include <string.h>

#include "ops.h"

void token_embedding_forward(float *out, const int32_t *tokens, const float *wte, int v_begin,
                             int v_count, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        int v = tokens[i] - v_begin;
        float *y = out + (size_t)i * C;
        if (v >= 0 && v < v_count)
            memcpy(y, wte + (size_t)v * C, sizeof(float) * C);
        else
            memset(y, 0, sizeof(float) * C);
    }
}

void token_embedding_backward_weight(float *dwte, const float *dout, const int32_t *tokens,
                                     int v_begin, int v_count, int N, int C)
{
    /* Repeated tokens hit the same row, so rows are summed in order by one
     * thread per channel range. */
#pragma omp parallel for
    for (int c = 0; c < C; c++)
        for (int i = 0; i < N; i++) {
            int v = tokens[i] - v_begin;
            if (v >= 0 && v < v_count)
                dwte[(size_t)v * C + c] += dout[(size_t)i * C + c];
        }
}

void position_embedding_forward(float *out, const float *wpe, int B, int T, int C)
{
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++)
                out[((size_t)b * T + t) * C + c] += wpe[(size_t)t * C + c];
}

void position_embedding_backward_weight(float *dwpe, const float *dout, int B, int T, int C)
{
#pragma omp parallel for
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                dwpe[(size_t)t * C + c] += dout[((size_t)b * T + t) * C + c];
}
