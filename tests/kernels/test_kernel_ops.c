/* Every kernel of a backend, forward and backward, against a float64
 * reference on fresh random inputs, with outputs poisoned before each call.
 * Built twice: for the CPU backend, and with KERNELS_TEST_CUDA for the CUDA
 * backend (skips without a GPU). */
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cpu/vecmath.h"
#include "tests/check.h"
#include "tests/kernels/testutil.h"

#define TOL      1e-5
#define TOL_BF16 1e-2

static const struct gpt_backend *be;

/* Arguments are copied to the backend's memory for one call and copied back
 * (outputs and inputs alike) by sync_back. */
static struct mirror {
    void *host, *dev;
    size_t bytes;
} mirrors[16];
static int n_mirrors;

static void *mirror(void *host, size_t bytes)
{
    void *dev = be->alloc(bytes);
    be->upload(dev, host, bytes);
    mirrors[n_mirrors++] = (struct mirror){host, dev, bytes};
    return dev;
}

static void sync_back(void)
{
    char err[256];
    CHECK_MSG(be->status(err, sizeof(err)) == 0, "%s", err);
    for (int i = 0; i < n_mirrors; i++) {
        be->download(mirrors[i].host, mirrors[i].dev, mirrors[i].bytes);
        be->free(mirrors[i].dev);
    }
    n_mirrors = 0;
}

#define F(p, n)   ((float *)mirror((p), (size_t)(n) * sizeof(float)))
#define I32(p, n) ((int32_t *)mirror((p), (size_t)(n) * sizeof(int32_t)))

static double *dalloc(size_t n)
{
    return calloc(n, sizeof(double));
}

#define CHECK_CLOSE_TOL(got, want, n, tol)                                                         \
    do {                                                                                           \
        double e_ = rel_err_d((got), (want), (n));                                                 \
        CHECK_MSG(e_ < (tol), "%s: relative error %g (tolerance %g)", #got, e_, (double)(tol));    \
    } while (0)
#define CHECK_CLOSE(got, want, n) CHECK_CLOSE_TOL(got, want, n, TOL)

static void test_layernorm(int N, int C)
{
    float *x = test_random((size_t)N * C, -2, 2), *w = test_random(C, 0.5f, 1.5f);
    float *b = test_random(C, -1, 1), *dy = test_random((size_t)N * C, -1, 1);
    float *out = test_poisoned((size_t)N * C), *mean = test_poisoned(N), *rstd = test_poisoned(N);
    be->layernorm_forward(F(out, N * C), F(mean, N), F(rstd, N), F(x, N * C), F(w, C), F(b, C), N,
                          C);
    sync_back();
    double *rout = dalloc((size_t)N * C), *rmean = dalloc(N), *rrstd = dalloc(N);
    double *xhat = dalloc((size_t)N * C);
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[i * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[i * C + c] - m) * (x[i * C + c] - m);
        v /= C;
        rmean[i] = m;
        rrstd[i] = 1.0 / sqrt(v + 1e-5);
        for (int c = 0; c < C; c++) {
            xhat[i * C + c] = (x[i * C + c] - m) * rrstd[i];
            rout[i * C + c] = xhat[i * C + c] * w[c] + b[c];
        }
    }
    CHECK_CLOSE(out, rout, (size_t)N * C);
    CHECK_CLOSE(mean, rmean, N);
    CHECK_CLOSE(rstd, rrstd, N);

    /* Backward accumulates: start from random values. */
    float *dx = test_random((size_t)N * C, -1, 1), *dw = test_random(C, -1, 1);
    float *db = test_random(C, -1, 1);
    double *rdx = dalloc((size_t)N * C), *rdw = dalloc(C), *rdb = dalloc(C);
    for (int i = 0; i < N; i++) {
        double g_mean = 0, g_xhat = 0;
        for (int c = 0; c < C; c++) {
            double g = (double)w[c] * dy[i * C + c];
            g_mean += g;
            g_xhat += g * xhat[i * C + c];
        }
        g_mean /= C;
        g_xhat /= C;
        for (int c = 0; c < C; c++) {
            double g = (double)w[c] * dy[i * C + c];
            rdx[i * C + c] = dx[i * C + c] + (g - g_mean - xhat[i * C + c] * g_xhat) * rrstd[i];
        }
    }
    for (int c = 0; c < C; c++) {
        rdw[c] = dw[c];
        rdb[c] = db[c];
        for (int i = 0; i < N; i++) {
            rdw[c] += (double)dy[i * C + c] * xhat[i * C + c];
            rdb[c] += dy[i * C + c];
        }
    }
    be->layernorm_backward_input(F(dx, N * C), F(dy, N * C), F(x, N * C), F(w, C), F(mean, N),
                                 F(rstd, N), N, C);
    sync_back();
    be->layernorm_backward_weight(F(dw, C), F(db, C), F(dy, N * C), F(x, N * C), F(mean, N),
                                  F(rstd, N), N, C);
    sync_back();
    CHECK_CLOSE(dx, rdx, (size_t)N * C);
    CHECK_CLOSE(dw, rdw, C);
    CHECK_CLOSE(db, rdb, C);
    free(x), free(w), free(b), free(dy), free(out), free(mean), free(rstd), free(rout);
    free(rmean), free(rrstd), free(xhat), free(dx), free(dw), free(db), free(rdx), free(rdw);
    free(rdb);
}

/* The residual add and the LayerNorm of its result in one call. */
static void test_residual_layernorm(int N, int C, int with_bias)
{
    const size_t n = (size_t)N * C;
    float *a = test_random(n, -2, 2), *b = test_random(n, -2, 2);
    float *bias = with_bias ? test_random(C, -1, 1) : NULL, *w = test_random(C, 0.5f, 1.5f);
    float *lb = test_random(C, -1, 1), *res = test_poisoned(n), *out = test_poisoned(n);
    float *mean = test_poisoned(N), *rstd = test_poisoned(N);
    double *rres = dalloc(n), *rout = dalloc(n), *rmean = dalloc(N), *rrstd = dalloc(N);
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) {
            rres[i * C + c] = (double)a[i * C + c] + b[i * C + c] + (bias ? bias[c] : 0.0);
            m += rres[i * C + c] / C;
        }
        for (int c = 0; c < C; c++)
            v += (rres[i * C + c] - m) * (rres[i * C + c] - m) / C;
        rmean[i] = m;
        rrstd[i] = 1.0 / sqrt(v + 1e-5);
        for (int c = 0; c < C; c++)
            rout[i * C + c] = (rres[i * C + c] - m) * rrstd[i] * w[c] + lb[c];
    }
    be->residual_layernorm_forward(F(res, n), F(out, n), F(mean, N), F(rstd, N), F(a, n), F(b, n),
                                   bias ? F(bias, C) : NULL, F(w, C), F(lb, C), N, C);
    sync_back();
    CHECK_CLOSE(res, rres, n);
    CHECK_CLOSE(out, rout, n);
    CHECK_CLOSE(mean, rmean, N);
    CHECK_CLOSE(rstd, rrstd, N);
    free(a), free(b), free(bias), free(w), free(lb), free(res), free(out), free(mean), free(rstd);
    free(rres), free(rout), free(rmean), free(rrstd);
}

static void test_linear(gpt_precision prec, int N, int I, int O, int with_bias)
{
    const double tol = prec == GPT_BF16 ? TOL_BF16 : TOL;
    float *x = test_random((size_t)N * I, -1, 1), *w = test_random((size_t)O * I, -1, 1);
    float *b = with_bias ? test_random(O, -1, 1) : NULL, *dy = test_random((size_t)N * O, -1, 1);
    float *out = test_poisoned((size_t)N * O), *dx = test_poisoned((size_t)N * I);
    float *dw = test_random((size_t)O * I, -1, 1), *db = test_random(O, -1, 1);
    double *rout = dalloc((size_t)N * O), *rdx = dalloc((size_t)N * I);
    double *rdw = dalloc((size_t)O * I), *rdb = dalloc(O);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < I; k++)
                s += (double)x[i * I + k] * w[o * I + k];
            rout[i * O + o] = s;
        }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < I; k++) {
            double s = 0;
            for (int o = 0; o < O; o++)
                s += (double)dy[i * O + o] * w[o * I + k];
            rdx[i * I + k] = s;
        }
    for (int o = 0; o < O; o++) {
        rdb[o] = db[o];
        for (int k = 0; k < I; k++) {
            double s = dw[o * I + k];
            for (int i = 0; i < N; i++)
                s += (double)dy[i * O + o] * x[i * I + k];
            rdw[o * I + k] = s;
        }
        for (int i = 0; i < N; i++)
            rdb[o] += dy[i * O + o];
    }
    be->linear_forward(prec, F(out, N * O), F(x, N * I), F(w, O * I), b ? F(b, O) : NULL, N, I, O);
    sync_back();
    be->linear_backward_input(prec, F(dx, N * I), F(dy, N * O), F(w, O * I), N, I, O);
    sync_back();
    be->linear_backward_weight(prec, F(dw, O * I), F(db, O), F(dy, N * O), F(x, N * I), N, I, O);
    sync_back();
    CHECK_CLOSE_TOL(out, rout, (size_t)N * O, tol);
    CHECK_CLOSE_TOL(dx, rdx, (size_t)N * I, tol);
    CHECK_CLOSE_TOL(dw, rdw, (size_t)O * I, tol);
    CHECK_CLOSE_TOL(db, rdb, O, tol);
    free(x), free(w), free(b), free(dy), free(out), free(dx), free(dw), free(db), free(rout);
    free(rdx), free(rdw), free(rdb);
}

static void test_attention(gpt_precision prec, int B, int T, int H, int hd)
{
    const double tol = prec == GPT_BF16 ? TOL_BF16 : TOL;
    const int C = H * hd, C3 = 3 * C;
    const size_t n_qkv = (size_t)B * T * C3, n_out = (size_t)B * T * C,
                 n_att = (size_t)B * H * T * T, n_state = be->attention_state_floats(B, T, H);
    float *qkv = test_random(n_qkv, -2, 2), *dy = test_random(n_out, -1, 1);
    float *out = test_poisoned(n_out), *att = test_poisoned(n_state), *dqkv = test_poisoned(n_qkv);
    float *scratch = test_poisoned((size_t)B * H * T);
    double *rout = dalloc(n_out), *ratt = dalloc(n_att), *rdqkv = dalloc(n_qkv);
    double *rlse = dalloc((size_t)B * H * T);
    double *datt = dalloc(T), *dpre = dalloc(T);
    const double scale = 1.0 / sqrt(hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * hd;
                double *a = ratt + (((size_t)b * H + h) * T + t) * T, max = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const float *k = qkv + ((size_t)b * T + u) * C3 + C + h * hd;
                    double d = 0;
                    for (int i = 0; i < hd; i++)
                        d += (double)q[i] * k[i];
                    a[u] = d * scale;
                    max = a[u] > max ? a[u] : max;
                }
                for (int u = 0; u <= t; u++)
                    sum += (a[u] = exp(a[u] - max));
                rlse[((size_t)b * H + h) * T + t] = max + log(sum);
                for (int u = 0; u <= t; u++)
                    a[u] /= sum;
                double *y = rout + ((size_t)b * T + t) * C + h * hd;
                for (int u = 0; u <= t; u++)
                    for (int i = 0; i < hd; i++)
                        y[i] += a[u] * qkv[((size_t)b * T + u) * C3 + 2 * C + h * hd + i];
                /* Backward of this row. */
                const float *g = dy + ((size_t)b * T + t) * C + h * hd;
                double dot = 0;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + ((size_t)b * T + u) * C3 + 2 * C + h * hd;
                    double *dv = rdqkv + ((size_t)b * T + u) * C3 + 2 * C + h * hd;
                    datt[u] = 0;
                    for (int i = 0; i < hd; i++) {
                        datt[u] += (double)g[i] * v[i];
                        dv[i] += a[u] * g[i];
                    }
                    dot += a[u] * datt[u];
                }
                for (int u = 0; u <= t; u++) {
                    dpre[u] = a[u] * (datt[u] - dot) * scale;
                    const float *k = qkv + ((size_t)b * T + u) * C3 + C + h * hd;
                    double *dq = rdqkv + ((size_t)b * T + t) * C3 + h * hd;
                    double *dk = rdqkv + ((size_t)b * T + u) * C3 + C + h * hd;
                    for (int i = 0; i < hd; i++) {
                        dq[i] += dpre[u] * k[i];
                        dk[i] += dpre[u] * q[i];
                    }
                }
            }
    be->attention_forward(prec, F(out, n_out), F(att, n_state), F(qkv, n_qkv), B, T, H, hd);
    sync_back();
    be->attention_backward(prec, F(dqkv, n_qkv), F(scratch, B * H * T), F(dy, n_out), F(out, n_out),
                           F(qkv, n_qkv), F(att, n_state), B, T, H, hd);
    sync_back();
    CHECK_CLOSE_TOL(out, rout, n_out, tol);
    /* The backend keeps either the softmax or its log-sum-exp per row. */
    CHECK(n_state == n_att || n_state == (size_t)B * H * T);
    if (n_state == n_att)
        CHECK_CLOSE_TOL(att, ratt, n_att, tol);
    else
        CHECK_CLOSE_TOL(att, rlse, n_state, tol);
    CHECK_CLOSE_TOL(dqkv, rdqkv, n_qkv, tol);
    free(qkv), free(dy), free(out), free(att), free(dqkv), free(scratch), free(rout), free(ratt);
    free(rdqkv), free(rlse), free(datt), free(dpre);
}

static void test_gelu_residual(size_t rows, int C)
{
    const size_t n = rows * C;
    float *x = test_random(n, -4, 4), *dy = test_random(n, -1, 1), *y = test_random(n, -1, 1);
    float *bias = test_random(C, -1, 1);
    float *out = test_poisoned(n), *dx = test_poisoned(n), *sum = test_poisoned(n);
    double *rout = dalloc(n), *rdx = dalloc(n), *rsum = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        gelu_reference(x[i], &rout[i], &rdx[i]);
        rdx[i] *= dy[i];
        rsum[i] = (double)x[i] + y[i] + bias[i % C];
    }
    be->gelu_forward(F(out, n), F(x, n), n);
    sync_back();
    be->gelu_backward(F(dx, n), F(x, n), F(dy, n), n);
    sync_back();
    be->residual_forward(F(sum, n), F(x, n), F(y, n), F(bias, C), rows, C);
    sync_back();
    CHECK_CLOSE(out, rout, n);
    CHECK_CLOSE(dx, rdx, n);
    CHECK_CLOSE(sum, rsum, n);
    free(x), free(dy), free(y), free(bias), free(out), free(dx), free(sum), free(rout), free(rdx);
    free(rsum);
}

/* Each element of GELU and its gradient within 1e-5 of its own size (below
 * 1e-30 the absolute error counts), over the edge inputs. */
static void test_gelu_edges(void)
{
    const size_t n = GELU_EDGE_INPUTS;
    float *x = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    float *out = test_poisoned(n), *dx = test_poisoned(n);
    double *rout = dalloc(n), *rdx = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        x[i] = gelu_edge_inputs[i];
        dy[i] = 1.0f;
        gelu_reference(x[i], &rout[i], &rdx[i]);
    }
    be->gelu_forward(F(out, n), F(x, n), n);
    be->gelu_backward(F(dx, n), F(x, n), F(dy, n), n);
    sync_back();
    double e_out = elementwise_err(out, rout, n, 1e-30), e_dx = elementwise_err(dx, rdx, n, 1e-30);
    CHECK_MSG(e_out < TOL, "gelu at the edge inputs: worst element's relative error %g", e_out);
    CHECK_MSG(e_dx < TOL, "gelu gradient at the edge inputs: worst element's relative error %g",
              e_dx);
    free(x), free(dy), free(out), free(dx), free(rout), free(rdx);
}

#ifndef KERNELS_TEST_CUDA
/* vec_expf against float64 exp on a fine grid of its range, and 0 and
 * infinity beyond it; NaN stays NaN. */
static void test_vec_expf(void)
{
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.00390625f * 1.37f) {
        double want = exp((double)x), err = fabs((double)vec_expf(x) - want) / want;
        worst = err > worst ? err : worst;
    }
    CHECK_MSG(worst < 2e-7, "vec_expf: worst relative error %g over [-87, 88]", worst);
    CHECK(vec_expf(0.0f) == 1.0f);
    CHECK(vec_expf(-87.5f) == 0.0f && vec_expf(-INFINITY) == 0.0f);
    CHECK(isinf(vec_expf(88.5f)) && isinf(vec_expf(INFINITY)));
    CHECK(isnan(vec_expf(NAN)));
}
#endif

static void test_embedding(int B, int T, int C, int V)
{
    const int N = B * T, v_begin = V / 3, v_count = V / 2;
    int32_t *tok = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++)
        tok[i] = (int32_t)(test_uniform() * V);
    tok[N - 1] = tok[0]; /* a repeated token accumulates twice */
    float *wte = test_random((size_t)v_count * C, -1, 1), *wpe = test_random((size_t)T * C, -1, 1);
    float *dy = test_random((size_t)N * C, -1, 1), *out = test_poisoned((size_t)N * C);
    float *dwte = test_random((size_t)v_count * C, -1, 1),
          *dwpe = test_random((size_t)T * C, -1, 1);
    double *rout = dalloc((size_t)N * C), *rdwte = dalloc((size_t)v_count * C);
    double *rdwpe = dalloc((size_t)T * C);
    for (size_t i = 0; i < (size_t)v_count * C; i++)
        rdwte[i] = dwte[i];
    for (size_t i = 0; i < (size_t)T * C; i++)
        rdwpe[i] = dwpe[i];
    for (int i = 0; i < N; i++) {
        int v = tok[i] - v_begin, t = i % T;
        for (int c = 0; c < C; c++) {
            int in = v >= 0 && v < v_count;
            rout[i * C + c] = (in ? wte[v * C + c] : 0.0) + wpe[t * C + c];
            if (in)
                rdwte[v * C + c] += dy[i * C + c];
            rdwpe[t * C + c] += dy[i * C + c];
        }
    }
    be->token_embedding_forward(F(out, N * C), I32(tok, N), F(wte, v_count * C), v_begin, v_count,
                                N, C);
    sync_back();
    be->position_embedding_forward(F(out, N * C), F(wpe, T * C), B, T, C);
    sync_back();
    be->token_embedding_backward_weight(F(dwte, v_count * C), F(dy, N * C), I32(tok, N), v_begin,
                                        v_count, N, C);
    sync_back();
    be->position_embedding_backward_weight(F(dwpe, T * C), F(dy, N * C), B, T, C);
    sync_back();
    CHECK_CLOSE(out, rout, (size_t)N * C);
    CHECK_CLOSE(dwte, rdwte, (size_t)v_count * C);
    CHECK_CLOSE(dwpe, rdwpe, (size_t)T * C);
    free(tok), free(wte), free(wpe), free(dy), free(out), free(dwte), free(dwpe), free(rout);
    free(rdwte), free(rdwpe);
}

/* The vocabulary split in two shards, reduced here as the stage's collectives
 * would, against the unsplit float64 softmax cross-entropy. */
static void test_crossentropy(int N, int V)
{
    const int V0 = V / 2, V1 = V - V0;
    float *logits = test_random((size_t)N * V, -5, 5);
    int32_t *tgt = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++)
        tgt[i] = (int32_t)(test_uniform() * V);
    double *rd = dalloc((size_t)N * V), rloss = 0;
    const double scale = 0.37;
    for (int i = 0; i < N; i++) {
        double max = -1e300, sum = 0;
        for (int v = 0; v < V; v++)
            max = logits[i * V + v] > max ? logits[i * V + v] : max;
        for (int v = 0; v < V; v++)
            sum += exp(logits[i * V + v] - max);
        rloss += log(sum) + max - logits[i * V + tgt[i]];
        for (int v = 0; v < V; v++)
            rd[i * V + v] = scale / N * (exp(logits[i * V + v] - max) / sum - (v == tgt[i]));
    }
    rloss /= N;
    /* Shard s holds columns [s*V0, ...) as a dense [N, Vs] block. */
    float *part[2], *max[2], *sums[2];
    int vb[2] = {0, V0}, vc[2] = {V0, V1};
    for (int s = 0; s < 2; s++) {
        part[s] = malloc((size_t)N * vc[s] * sizeof(float));
        for (int i = 0; i < N; i++)
            memcpy(part[s] + (size_t)i * vc[s], logits + (size_t)i * V + vb[s],
                   vc[s] * sizeof(float));
        max[s] = test_poisoned(N);
        sums[s] = test_poisoned(2 * (size_t)N);
        be->crossentropy_row_max(F(max[s], N), F(part[s], N * vc[s]), N, vc[s]);
        sync_back();
    }
    for (int i = 0; i < N; i++)
        max[0][i] = max[1][i] = fmaxf(max[0][i], max[1][i]);
    for (int s = 0; s < 2; s++) {
        be->crossentropy_row_sums(F(sums[s], 2 * N), F(part[s], N * vc[s]), F(max[s], N),
                                  I32(tgt, N), vb[s], N, vc[s]);
        sync_back();
    }
    for (int i = 0; i < 2 * N; i++)
        sums[0][i] = sums[1][i] = sums[0][i] + sums[1][i];
    float loss0 = be->crossentropy_loss(F(max[0], N), F(sums[0], 2 * N), N);
    sync_back();
    CHECK_MSG(fabs(loss0 - rloss) / rloss < TOL, "loss %g, reference %g", loss0, rloss);
    float *d = test_poisoned((size_t)N * V);
    for (int s = 0; s < 2; s++) {
        be->crossentropy_backward(F(part[s], N * vc[s]), F(max[s], N), F(sums[s], 2 * N),
                                  I32(tgt, N), vb[s], N, vc[s], (float)scale);
        sync_back();
        for (int i = 0; i < N; i++)
            memcpy(d + (size_t)i * V + vb[s], part[s] + (size_t)i * vc[s], vc[s] * sizeof(float));
    }
    CHECK_CLOSE(d, rd, (size_t)N * V);
    for (int s = 0; s < 2; s++)
        free(part[s]), free(max[s]), free(sums[s]);
    free(logits), free(tgt), free(rd), free(d);
}

static void test_adamw(size_t n)
{
    float *p = test_random(n, -1, 1), *g = test_random(n, -1, 1), *m = test_random(n, -0.1f, 0.1f);
    float *v = test_random(n, 0, 0.01f);
    double *rp = dalloc(n), *rm = dalloc(n), *rv = dalloc(n);
    const double lr = 3e-3, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    const int step = 7;
    const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
    for (size_t i = 0; i < n; i++) {
        rm[i] = b1 * m[i] + (1 - b1) * g[i];
        rv[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
        rp[i] = p[i] - lr * ((rm[i] / bc1) / (sqrt(rv[i] / bc2) + eps) + wd * p[i]);
    }
    be->adamw_update(F(p, n), F(g, n), F(m, n), F(v, n), n, (float)lr, (float)b1, (float)b2,
                     (float)eps, (float)wd, (float)bc1, (float)bc2);
    sync_back();
    CHECK_CLOSE(p, rp, n);
    CHECK_CLOSE(m, rm, n);
    CHECK_CLOSE(v, rv, n);
    free(p), free(g), free(m), free(v), free(rp), free(rm), free(rv);
}

int main(void)
{
#ifdef KERNELS_TEST_CUDA
    be = gpt_cuda_backend ? gpt_cuda_backend() : NULL;
    char err[256];
    if (!be || be->open(err, sizeof(err)) < 0) {
        printf("%s\n", be ? err : "the CUDA backend is not linked");
        return CHECK_SKIP;
    }
#else
    be = &gpt_cpu_backend;
    be->open(NULL, 0);
#endif
    test_seed();
    test_layernorm(7, 48);
    test_layernorm(70, 100); /* CUDA: more rows than the column sums' 32 lanes */
    test_residual_layernorm(7, 48, 1);
    test_residual_layernorm(13, 100, 0); /* CUDA: a ragged second block of rows */
    test_linear(GPT_FP32, 9, 24, 40, 1);
    test_linear(GPT_FP32, 5, 33, 17, 0);
    test_linear(GPT_FP32, 40, 16, 8, 1); /* more rows than outputs: the CPU splits the rows */
#ifdef KERNELS_TEST_CUDA
    test_linear(GPT_BF16, 9, 24, 40, 1);
    test_linear(GPT_BF16, 5, 33, 17, 0);
    test_linear(GPT_BF16, 64, 768, 2304, 1); /* GPT-2's qkv shape, a few rows */
#endif
    test_attention(GPT_FP32, 2, 9, 3, 8);
#ifdef KERNELS_TEST_CUDA
    /* Several query and key tiles, rows past the last full tile, GPT-2's head size. */
    test_attention(GPT_FP32, 1, 150, 2, 64);
    test_attention(GPT_FP32, 2, 70, 2, 4);
    /* Tensor cores: ragged tiles, one row, head dims 64, 32 and 16; GPT-2's
     * T = 1024 (16 key tiles); head dim 8 stays on the fp32 kernels. */
    test_attention(GPT_BF16, 1, 150, 2, 64);
    test_attention(GPT_BF16, 3, 1, 4, 64);
    test_attention(GPT_BF16, 2, 17, 3, 32);
    test_attention(GPT_BF16, 1, 100, 2, 16);
    test_attention(GPT_BF16, 1, 1024, 2, 64);
    test_attention(GPT_BF16, 2, 9, 3, 8);
#endif
    test_gelu_residual(11, 24);
    test_gelu_edges();
#ifndef KERNELS_TEST_CUDA
    test_vec_expf();
#endif
    test_embedding(2, 7, 16, 50);
    test_crossentropy(6, 41);
    test_adamw(1000);
    return check_status(be->name);
}
