/* The CUDA backend's kernels other than attention, their own source run on
 * the host (tests/kernels/emulate_cuda.h) with the grid and block
 * kernels/cuda/backend.cu launches them with, against float64 references on
 * fresh random inputs, outputs NaN-poisoned first: LayerNorm forward (alone
 * and after a residual add) and backward, the linear bias (row fill and
 * column sums), GELU, residual, token and position embeddings, cross-entropy
 * over two vocabulary shards, AdamW, the squared sum and scaling. Sizes include ragged blocks,
 * warps and column tiles. The token-embedding gradient gets the stable sort CUB would compute, done
 * here. Seed printed; replay with PLAIT_TEST_SEED. */
#include <algorithm>
#include <math.h>
#include <numeric>
#include <stdint.h>
#include <stdio.h>
#include <vector>

#include "tests/kernels/emulate_cuda.h"
#include "tests/kernels/testutil.h"

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/warp.cuh"

#include "kernels/cuda/crossentropy.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/layernorm.cuh"
#include "kernels/cuda/linear.cuh"
#include "kernels/cuda/optimizer.cuh"

constexpr double TOL = 1e-5;

#define CHECK_CLOSE(got, want, ...)                                                                \
    do {                                                                                           \
        char case_[96];                                                                            \
        snprintf(case_, sizeof(case_), __VA_ARGS__);                                               \
        double e_ = rel_err_d((got).data(), (want).data(), (want).size());                         \
        CHECK_MSG(e_ < TOL, "%s: %s relative error %g", case_, #got, e_);                          \
    } while (0)

static std::vector<float> random_vec(size_t n, float lo, float hi)
{
    std::vector<float> v(n);
    for (auto &x : v)
        x = (float)(lo + (hi - lo) * test_uniform());
    return v;
}

static std::vector<float> poisoned(size_t n)
{
    return std::vector<float>(n, NAN);
}

static std::vector<double> widened(const std::vector<float> &v)
{
    return std::vector<double>(v.begin(), v.end());
}

static void test_layernorm(int N, int C)
{
    const size_t n = (size_t)N * C;
    auto x = random_vec(n, -2, 2), w = random_vec(C, 0.5f, 1.5f), b = random_vec(C, -1, 1);
    auto dy = random_vec(n, -1, 1), dx = random_vec(n, -1, 1), dw = random_vec(C, -1, 1);
    auto db = random_vec(C, -1, 1), out = poisoned(n), mean = poisoned(N), rstd = poisoned(N);
    std::vector<double> rout(n), rmean(N), rrstd(N), xhat(n);
    auto rdx = widened(dx), rdw = widened(dw), rdb = widened(db);
    for (int i = 0; i < N; i++) {
        const float *xi = &x[(size_t)i * C];
        double m = 0, v = 0, g_mean = 0, g_xhat = 0;
        for (int c = 0; c < C; c++)
            m += xi[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (xi[c] - m) * (xi[c] - m);
        rmean[i] = m;
        rrstd[i] = 1 / sqrt(v / C + 1e-5);
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)i * C + c;
            const double g = (double)w[c] * dy[k];
            xhat[k] = (xi[c] - m) * rrstd[i];
            rout[k] = xhat[k] * w[c] + b[c];
            g_mean += g / C;
            g_xhat += g * xhat[k] / C;
            rdw[c] += dy[k] * xhat[k];
            rdb[c] += dy[k];
        }
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)i * C + c;
            rdx[k] += ((double)w[c] * dy[k] - g_mean - xhat[k] * g_xhat) * rrstd[i];
        }
    }
    CHECK_LAUNCH(row_blocks(N), THREADS,
                 layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                          b.data(), N, C));
    CHECK_LAUNCH(row_blocks(N), THREADS,
                 layernorm_backward_input_kernel(dx.data(), dy.data(), x.data(), w.data(),
                                                 mean.data(), rstd.data(), N, C));
    CHECK_LAUNCH(column_blocks(C), column_threads(),
                 layernorm_backward_weight_kernel(dw.data(), db.data(), dy.data(), x.data(),
                                                  mean.data(), rstd.data(), N, C));
    CHECK_CLOSE(out, rout, "layernorm N=%d C=%d", N, C);
    CHECK_CLOSE(mean, rmean, "layernorm N=%d C=%d", N, C);
    CHECK_CLOSE(rstd, rrstd, "layernorm N=%d C=%d", N, C);
    CHECK_CLOSE(dx, rdx, "layernorm N=%d C=%d", N, C);
    CHECK_CLOSE(dw, rdw, "layernorm N=%d C=%d", N, C);
    CHECK_CLOSE(db, rdb, "layernorm N=%d C=%d", N, C);
}

/* The residual add and the LayerNorm of its result in one kernel, with and
 * without the bias. */
static void test_residual_layernorm(int N, int C, bool with_bias)
{
    const size_t n = (size_t)N * C;
    auto a = random_vec(n, -2, 2), b = random_vec(n, -2, 2), bias = random_vec(C, -1, 1);
    auto w = random_vec(C, 0.5f, 1.5f), lb = random_vec(C, -1, 1), res = poisoned(n);
    auto out = poisoned(n), mean = poisoned(N), rstd = poisoned(N);
    std::vector<double> rres(n), rout(n), rmean(N), rrstd(N);
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)i * C + c;
            rres[k] = (double)a[k] + b[k] + (with_bias ? bias[c] : 0.0);
            m += rres[k] / C;
        }
        for (int c = 0; c < C; c++)
            v += (rres[(size_t)i * C + c] - m) * (rres[(size_t)i * C + c] - m) / C;
        rmean[i] = m;
        rrstd[i] = 1 / sqrt(v + 1e-5);
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)i * C + c;
            rout[k] = (rres[k] - m) * rrstd[i] * w[c] + lb[c];
        }
    }
    CHECK_LAUNCH(row_blocks(N), THREADS,
                 residual_layernorm_forward_kernel(
                     res.data(), out.data(), mean.data(), rstd.data(), a.data(), b.data(),
                     with_bias ? bias.data() : nullptr, w.data(), lb.data(), N, C));
    CHECK_CLOSE(res, rres, "residual layernorm N=%d C=%d bias %d", N, C, with_bias);
    CHECK_CLOSE(out, rout, "residual layernorm N=%d C=%d bias %d", N, C, with_bias);
    CHECK_CLOSE(mean, rmean, "residual layernorm N=%d C=%d bias %d", N, C, with_bias);
    CHECK_CLOSE(rstd, rrstd, "residual layernorm N=%d C=%d bias %d", N, C, with_bias);
}

static void test_bias(int N, int O)
{
    auto b = random_vec(O, -1, 1), dy = random_vec((size_t)N * O, -1, 1);
    auto db = random_vec(O, -1, 1), out = poisoned((size_t)N * O);
    std::vector<double> rout((size_t)N * O);
    auto rdb = widened(db);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < O; o++) {
            rout[(size_t)i * O + o] = b[o];
            rdb[o] += dy[(size_t)i * O + o];
        }
    CHECK_LAUNCH(blocks((size_t)N * O), THREADS, fill_rows_kernel(out.data(), b.data(), N, O));
    CHECK_LAUNCH(column_blocks(O), column_threads(), column_sum_kernel(db.data(), dy.data(), N, O));
    CHECK_CLOSE(out, rout, "bias N=%d O=%d", N, O);
    CHECK_CLOSE(db, rdb, "bias N=%d O=%d", N, O);
}

static void test_gelu_residual(size_t rows, int C)
{
    const size_t n = rows * C;
    auto x = random_vec(n, -4, 4), dy = random_vec(n, -1, 1), y = random_vec(n, -1, 1);
    auto bias = random_vec(C, -1, 1), out = poisoned(n), dx = poisoned(n), sum = poisoned(n);
    auto plain = poisoned(n);
    std::vector<double> rout(n), rdx(n), rsum(n), rplain(n);
    for (size_t i = 0; i < n; i++) {
        gelu_reference(x[i], &rout[i], &rdx[i]);
        rdx[i] *= dy[i];
        rplain[i] = (double)x[i] + y[i];
        rsum[i] = rplain[i] + bias[i % C];
    }
    CHECK_LAUNCH(blocks(n), THREADS, gelu_forward_kernel(out.data(), x.data(), n));
    CHECK_LAUNCH(blocks(n), THREADS, gelu_backward_kernel(dx.data(), x.data(), dy.data(), n));
    CHECK_LAUNCH(blocks(n), THREADS,
                 residual_kernel(sum.data(), x.data(), y.data(), bias.data(), rows, C));
    CHECK_LAUNCH(blocks(n), THREADS,
                 residual_kernel(plain.data(), x.data(), y.data(), nullptr, rows, C));
    CHECK_CLOSE(out, rout, "gelu n=%zu", n);
    CHECK_CLOSE(dx, rdx, "gelu n=%zu", n);
    CHECK_CLOSE(sum, rsum, "residual rows=%zu C=%d", rows, C);
    CHECK_CLOSE(plain, rplain, "residual rows=%zu C=%d without bias", rows, C);
}

/* Each element of GELU and its gradient within TOL of its own size (below
 * 1e-30 the absolute error counts), over the edge inputs. */
static void test_gelu_edges()
{
    const size_t n = GELU_EDGE_INPUTS;
    std::vector<float> x(gelu_edge_inputs, gelu_edge_inputs + n), dy(n, 1.0f);
    auto out = poisoned(n), dx = poisoned(n);
    std::vector<double> rout(n), rdx(n);
    for (size_t i = 0; i < n; i++)
        gelu_reference(x[i], &rout[i], &rdx[i]);
    CHECK_LAUNCH(blocks(n), THREADS, gelu_forward_kernel(out.data(), x.data(), n));
    CHECK_LAUNCH(blocks(n), THREADS, gelu_backward_kernel(dx.data(), x.data(), dy.data(), n));
    double e_out = elementwise_err(out.data(), rout.data(), n, 1e-30);
    double e_dx = elementwise_err(dx.data(), rdx.data(), n, 1e-30);
    CHECK_MSG(e_out < TOL, "gelu at the edge inputs: worst element's relative error %g", e_out);
    CHECK_MSG(e_dx < TOL, "gelu gradient at the edge inputs: worst element's relative error %g",
              e_dx);
}

/* The token table is the shard [V/3, V/3 + V/2) of V tokens. */
static void test_embedding(int B, int T, int C, int V)
{
    const int N = B * T, v_begin = V / 3, v_count = V / 2;
    std::vector<int32_t> tok(N), rows(N, -1);
    for (auto &t : tok)
        t = (int32_t)(test_uniform() * V);
    tok[N - 1] = tok[0]; /* a repeated token accumulates twice */
    auto wte = random_vec((size_t)v_count * C, -1, 1), wpe = random_vec((size_t)T * C, -1, 1);
    auto dy = random_vec((size_t)N * C, -1, 1), out = poisoned((size_t)N * C);
    auto dwte = random_vec((size_t)v_count * C, -1, 1), dwpe = random_vec((size_t)T * C, -1, 1);
    std::vector<double> rout((size_t)N * C);
    auto rdwte = widened(dwte), rdwpe = widened(dwpe);
    for (int i = 0; i < N; i++) {
        const int v = tok[i] - v_begin, t = i % T;
        const bool in = v >= 0 && v < v_count;
        for (int c = 0; c < C; c++) {
            rout[(size_t)i * C + c] = (in ? wte[(size_t)v * C + c] : 0.0) + wpe[(size_t)t * C + c];
            if (in)
                rdwte[(size_t)v * C + c] += dy[(size_t)i * C + c];
            rdwpe[(size_t)t * C + c] += dy[(size_t)i * C + c];
        }
    }
    CHECK_LAUNCH(
        blocks((size_t)N * C), THREADS,
        token_embedding_forward_kernel(out.data(), tok.data(), wte.data(), v_begin, v_count, N, C));
    CHECK_LAUNCH(blocks((size_t)N * C), THREADS,
                 position_embedding_forward_kernel(out.data(), wpe.data(), B, T, C));
    CHECK_LAUNCH(blocks(N), THREADS, iota_kernel(rows.data(), N));
    std::vector<int32_t> iota(N);
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(rows == iota);
    /* What CUB's stable radix sort of the (token, row) pairs gives. */
    std::vector<int32_t> sorted_rows = rows, sorted(N);
    std::stable_sort(sorted_rows.begin(), sorted_rows.end(),
                     [&](int32_t a, int32_t b) { return tok[a] < tok[b]; });
    for (int i = 0; i < N; i++)
        sorted[i] = tok[sorted_rows[i]];
    CHECK_LAUNCH(token_embedding_backward_grid(N, C), THREADS,
                 token_embedding_backward_kernel(dwte.data(), dy.data(), sorted.data(),
                                                 sorted_rows.data(), v_begin, v_count, N, C));
    CHECK_LAUNCH(blocks((size_t)T * C), THREADS,
                 position_embedding_backward_kernel(dwpe.data(), dy.data(), B, T, C));
    CHECK_CLOSE(out, rout, "embedding B=%d T=%d C=%d V=%d", B, T, C, V);
    CHECK_CLOSE(dwte, rdwte, "embedding B=%d T=%d C=%d V=%d", B, T, C, V);
    CHECK_CLOSE(dwpe, rdwpe, "embedding B=%d T=%d C=%d V=%d", B, T, C, V);
}

/* The vocabulary in two shards, their maxima and sums reduced here as the
 * stage's collectives would, against the unsplit softmax cross-entropy. */
static void test_crossentropy(int N, int V)
{
    const int vb[2] = {0, V / 2}, vc[2] = {V / 2, V - V / 2};
    const double scale = 0.37;
    auto logits = random_vec((size_t)N * V, -5, 5);
    std::vector<int32_t> tgt(N);
    for (auto &t : tgt)
        t = (int32_t)(test_uniform() * V);
    std::vector<double> rmax(N), rsum(N), rtarget(N), rd((size_t)N * V);
    double rloss = 0;
    for (int i = 0; i < N; i++) {
        const float *l = &logits[(size_t)i * V];
        rmax[i] = *std::max_element(l, l + V);
        for (int v = 0; v < V; v++)
            rsum[i] += exp(l[v] - rmax[i]);
        rtarget[i] = l[tgt[i]];
        rloss += (log(rsum[i]) + rmax[i] - rtarget[i]) / N;
        for (int v = 0; v < V; v++)
            rd[(size_t)i * V + v] = scale / N * (exp(l[v] - rmax[i]) / rsum[i] - (v == tgt[i]));
    }
    std::vector<float> part[2], maxima[2], sums[2];
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < N; i++)
            part[s].insert(part[s].end(), &logits[(size_t)i * V + vb[s]],
                           &logits[(size_t)i * V + vb[s] + vc[s]]);
        maxima[s] = poisoned(N);
        sums[s] = poisoned(2 * (size_t)N);
        CHECK_LAUNCH(row_blocks(N), THREADS,
                     row_max_kernel(maxima[s].data(), part[s].data(), N, vc[s]));
        /* Checked per shard: fmaxf below would hide a NaN. */
        std::vector<double> rpart_max(N);
        for (int i = 0; i < N; i++)
            rpart_max[i] =
                *std::max_element(&part[s][(size_t)i * vc[s]], &part[s][(size_t)(i + 1) * vc[s]]);
        CHECK_CLOSE(maxima[s], rpart_max, "crossentropy N=%d V=%d shard %d", N, V, s);
    }
    std::vector<float> all_max(N), all_sums(N), all_target(N), d((size_t)N * V, NAN);
    double loss = 0;
    for (int i = 0; i < N; i++)
        all_max[i] = maxima[0][i] = maxima[1][i] = fmaxf(maxima[0][i], maxima[1][i]);
    for (int s = 0; s < 2; s++)
        CHECK_LAUNCH(row_blocks(N), THREADS,
                     row_sums_kernel(sums[s].data(), part[s].data(), maxima[s].data(), tgt.data(),
                                     vb[s], N, vc[s]));
    for (int i = 0; i < 2 * N; i++)
        sums[0][i] = sums[1][i] = sums[0][i] + sums[1][i];
    for (int i = 0; i < N; i++) {
        all_sums[i] = sums[0][i];
        all_target[i] = sums[0][N + i];
        loss += (log((double)all_sums[i]) + all_max[i] - all_target[i]) / N;
    }
    for (int s = 0; s < 2; s++) {
        CHECK_LAUNCH(blocks((size_t)N * vc[s]), THREADS,
                     crossentropy_backward_kernel(part[s].data(), maxima[s].data(), sums[s].data(),
                                                  tgt.data(), vb[s], N, vc[s], (float)scale));
        for (int i = 0; i < N; i++)
            std::copy_n(&part[s][(size_t)i * vc[s]], vc[s], &d[(size_t)i * V + vb[s]]);
    }
    CHECK_CLOSE(all_max, rmax, "crossentropy N=%d V=%d", N, V);
    CHECK_CLOSE(all_sums, rsum, "crossentropy N=%d V=%d", N, V);
    CHECK_CLOSE(all_target, rtarget, "crossentropy N=%d V=%d", N, V);
    CHECK_MSG(fabs(loss - rloss) / rloss < TOL, "crossentropy N=%d V=%d: loss %g, reference %g", N,
              V, loss, rloss);
    CHECK_CLOSE(d, rd, "crossentropy N=%d V=%d", N, V);
}

static void test_adamw(size_t n)
{
    auto p = random_vec(n, -1, 1), g = random_vec(n, -1, 1), m = random_vec(n, -0.1f, 0.1f);
    auto v = random_vec(n, 0, 0.01f);
    std::vector<double> rp(n), rm(n), rv(n);
    const double lr = 3e-3, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    const double bc1 = 1 - pow(b1, 7), bc2 = 1 - pow(b2, 7);
    for (size_t i = 0; i < n; i++) {
        rm[i] = b1 * m[i] + (1 - b1) * g[i];
        rv[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        rp[i] = p[i] - lr * ((rm[i] / bc1) / (sqrt(rv[i] / bc2) + eps) + wd * p[i]);
    }
    CHECK_LAUNCH(blocks(n), THREADS,
                 adamw_kernel(p.data(), g.data(), m.data(), v.data(), n, (float)lr, (float)b1,
                              (float)b2, (float)eps, (float)wd, (float)bc1, (float)bc2));
    CHECK_CLOSE(p, rp, "adamw n=%zu", n);
    CHECK_CLOSE(m, rm, "adamw n=%zu", n);
    CHECK_CLOSE(v, rv, "adamw n=%zu", n);
}

/* The squared sum adds to what is there (the backend starts it at 0). */
static void test_sumsq_scale(size_t n)
{
    auto p = random_vec(n, -1, 1);
    const float factor = 0.3f;
    double start = 0.25 * test_uniform(), got = start, want = start;
    std::vector<double> rscaled(n);
    for (size_t i = 0; i < n; i++) {
        want += (double)p[i] * p[i];
        rscaled[i] = (double)p[i] * factor;
    }
    CHECK_LAUNCH(sumsq_blocks(n), THREADS, sumsq_kernel(&got, p.data(), n));
    CHECK_LAUNCH(blocks(n), THREADS, scale_kernel(p.data(), n, factor));
    CHECK_MSG(fabs(got - want) / want < TOL, "sumsq n=%zu: %.17g, reference %.17g", n, got, want);
    CHECK_CLOSE(p, rscaled, "scale n=%zu", n);
}

int main(void)
{
    test_seed();
    test_layernorm(7, 48);   /* fewer rows than a block's warps */
    test_layernorm(70, 100); /* more rows than the column lanes, a ragged column tile */
    test_layernorm(9, 20);   /* rows narrower than a warp */
    test_residual_layernorm(7, 48, true);
    test_residual_layernorm(13, 100, false); /* a ragged second block of rows */
    test_residual_layernorm(9, 20, true);
    test_bias(37, 45);
    test_bias(5, 300);
    test_gelu_residual(11, 24); /* 264: a ragged second block */
    test_gelu_residual(3, 7);
    test_gelu_edges();
    test_embedding(2, 7, 16, 50);
    test_embedding(3, 5, 300, 20); /* channels over two blocks */
    test_crossentropy(6, 41);      /* shards narrower than a warp */
    test_crossentropy(13, 150);
    test_adamw(1000);
    test_sumsq_scale(1000);
    test_sumsq_scale((size_t)1024 * THREADS + 777); /* more than the 1024 blocks: strided */
    return check_status("test_ops_emulated");
}
