/* Linear layers through cblas_sgemm; the weight is (out, in). */
#include <cblas.h>

#include "ops.h"

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int K,
                    int O)
{
    float beta = 0.0f;
    if (b) {
#pragma omp parallel for
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++)
                out[(size_t)i * O + o] = b[o];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, K, 1.0f, inp, K, w, K, beta, out, O);
}

void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int K, int O)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, O, 1.0f, dout, O, w, K, 0.0f, dinp,
                K);
}

void linear_backward_weight(float *dw, float *db, const float *dout, const float *inp, int N, int K,
                            int O)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, N, 1.0f, dout, O, inp, K, 1.0f, dw,
                K);
    if (!db)
        return;
#pragma omp parallel for
    for (int o = 0; o < O; o++) {
        float s = 0.0f;
        for (int i = 0; i < N; i++)
            s += dout[(size_t)i * O + o];
        db[o] += s;
    }
}
