/* Linear layers through cblas_sgemm; the weight is (out, in).
 *
 * The products are split across the OpenMP threads, each calling a
 * single-threaded sgemm on its block: with one thread pool instead of two
 * (OpenMP for the other kernels, OpenBLAS's own pthreads for the GEMMs), idle
 * threads of one pool do not spin on the cores the other one needs. */
#include <cblas.h>
#include <omp.h>

#include "ops.h"

/* C[M,N] = alpha op(A) op(B) + beta C, row-major, split along the longer of
 * M and N into one block per thread. */
static void sgemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int split_m = M >= N, len = split_m ? M : N;
        int chunk = ((len + nt - 1) / nt + 15) & ~15;
        int begin = id * chunk, end = begin + chunk < len ? begin + chunk : len;
        if (begin < end) {
            const float *a = A, *b = B;
            float *c;
            int m = M, n = N;
            if (split_m) {
                a += (size_t)begin * (trans_a ? 1 : lda);
                c = C + (size_t)begin * ldc;
                m = end - begin;
            } else {
                b += (size_t)begin * (trans_b ? ldb : 1);
                c = C + begin;
                n = end - begin;
            }
            cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                        trans_b ? CblasTrans : CblasNoTrans, m, n, K, 1.0f, a, lda, b, ldb, beta, c,
                        ldc);
        }
    }
}

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
    sgemm(0, 1, N, O, K, inp, K, w, K, beta, out, O);
}

void linear_backward_input(float *dinp, const float *dout, const float *w, int N, int K, int O)
{
    sgemm(0, 0, N, K, O, dout, O, w, K, 0.0f, dinp, K);
}

void linear_backward_weight(float *dw, float *db, const float *dout, const float *inp, int N, int K,
                            int O)
{
    sgemm(1, 0, O, K, N, dout, O, inp, K, 1.0f, dw, K);
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
