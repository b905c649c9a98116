/* Linear layers through cblas_sgemm; the weight is (out, in).
 *
 * The products are split across the OpenMP threads, each calling a
 * single-threaded sgemm on its block: with one thread pool instead of two
 * (OpenMP for the other kernels, OpenBLAS's own pthreads for the GEMMs), idle
 * threads of one pool do not spin on the cores the other one needs. Bias
 * fills and sums share the product's parallel region, one barrier each. */
#include <cblas.h>
#include <omp.h>

#include "ops.h"

/* This thread's block of C[M,N] = op(A) op(B) + beta C (row-major), split
 * along the longer of M and N. With `bias`, the block is first filled with
 * bias[column] and the product added to it. Call inside a parallel region. */
static void sgemm_block(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, const float *bias)
{
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    int split_m = M >= N, len = split_m ? M : N;
    int chunk = ((len + nt - 1) / nt + 15) & ~15;
    int begin = id * chunk, end = begin + chunk < len ? begin + chunk : len;
    if (begin >= end)
        return;
    const float *a = A, *b = B;
    float *c;
    int m = M, n = N, col0 = 0;
    if (split_m) {
        a += (size_t)begin * (trans_a ? 1 : lda);
        c = C + (size_t)begin * ldc;
        m = end - begin;
    } else {
        b += (size_t)begin * (trans_b ? ldb : 1);
        c = C + begin;
        n = end - begin;
        col0 = begin;
    }
    if (bias) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = bias[col0 + j];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int K,
                    int O)
{
#pragma omp parallel
    sgemm_block(0, 1, N, O, K, inp, K, w, K, 0.0f, out, O, b);
}

void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int K, int O)
{
#pragma omp parallel
    sgemm_block(0, 0, N, K, O, dout, O, w, K, 0.0f, dinp, K, NULL);
}

void linear_backward_weight(float *dw, float *db, const float *dout, const float *inp, int N, int K,
                            int O)
{
#pragma omp parallel
    {
        sgemm_block(1, 0, O, K, N, dout, O, inp, K, 1.0f, dw, K, NULL);
        if (db) {
#pragma omp for nowait
            for (int o = 0; o < O; o++) {
                float s = 0.0f;
                for (int i = 0; i < N; i++)
                    s += dout[(size_t)i * O + o];
                db[o] += s;
            }
        }
    }
}
