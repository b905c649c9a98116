/* The CUDA attention kernels' own source run on the host
 * (tests/kernels/emulate_cuda.h) with the backend's launch shapes, against a
 * float64 reference: forward output and log-sum-exp, and dq, dk, dv from the
 * delta, query-side and key-side backward kernels, with outputs NaN-poisoned
 * first; the fp32 kernels (kernels/cuda/attention.cuh) to 1e-5, the bf16
 * tensor-core ones (kernels/cuda/attention_tc.cuh) to 1e-2. It checks the
 * kernels' indexing, tiling, masking and barriers, and their WMMA calls'
 * operands, without a GPU (threads meeting at different barriers, fragment
 * misuse are reported); it says nothing about the device's memory model or
 * speed. Seed printed; replay with PLAIT_TEST_SEED. */
#include <algorithm>
#include <math.h>
#include <stddef.h>
#include <vector>

#include "tests/kernels/emulate_cuda.h"
#include "tests/kernels/testutil.h"

#include "kernels/cuda/launch.cuh"

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_tc.cuh"

/* Random inputs of one attention call, NaN-poisoned outputs, and the float64
 * reference of out, the log-sum-exp and dqkv. */
struct attention_case {
    int B, T, H, HD;
    std::vector<float> qkv, dy, out, lse, delta, dqkv;
    std::vector<double> rout, rlse, rdqkv;

    attention_case(int b_, int t_, int h_, int hd_);

    /* The kernels' results against the reference, within tol. */
    void check(const char *what, double tol) const
    {
        double e_out = rel_err_d(out.data(), rout.data(), out.size()),
               e_lse = rel_err_d(lse.data(), rlse.data(), lse.size()),
               e_d = rel_err_d(dqkv.data(), rdqkv.data(), dqkv.size());
        CHECK_MSG(e_out < tol, "%s HD=%d B=%d T=%d H=%d: output relative error %g", what, HD, B, T,
                  H, e_out);
        CHECK_MSG(e_lse < tol, "%s HD=%d B=%d T=%d H=%d: log-sum-exp relative error %g", what, HD,
                  B, T, H, e_lse);
        CHECK_MSG(e_d < tol, "%s HD=%d B=%d T=%d H=%d: dqkv relative error %g", what, HD, B, T, H,
                  e_d);
    }
};

attention_case::attention_case(int b_, int t_, int h_, int hd_) : B(b_), T(t_), H(h_), HD(hd_)
{
    const int C = H * HD, C3 = 3 * C;
    const size_t rows = (size_t)B * H * T;
    qkv.resize((size_t)B * T * C3);
    dy.resize((size_t)B * T * C);
    for (auto &v : qkv)
        v = (float)(4 * test_uniform() - 2);
    for (auto &v : dy)
        v = (float)(2 * test_uniform() - 1);
    out.assign(dy.size(), NAN);
    lse.assign(rows, NAN);
    delta.assign(rows, NAN);
    dqkv.assign(qkv.size(), NAN);
    rout.assign(out.size(), 0.0);
    rlse.assign(rows, 0.0);
    rdqkv.assign(qkv.size(), 0.0);
    std::vector<double> a(T), dv_dot(T);
    const double scale = 1.0 / sqrt((double)HD);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                auto at = [&](int row, int part) {
                    return ((size_t)b * T + row) * C3 + part * C + h * HD;
                };
                double mx = -INFINITY, sum = 0, dot = 0;
                for (int u = 0; u <= t; u++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += (double)qkv[at(t, 0) + i] * qkv[at(u, 1) + i];
                    a[u] = d * scale;
                    mx = std::max(mx, a[u]);
                }
                for (int u = 0; u <= t; u++)
                    sum += (a[u] = exp(a[u] - mx));
                rlse[((size_t)b * H + h) * T + t] = mx + log(sum);
                const size_t y = ((size_t)b * T + t) * C + h * HD;
                for (int u = 0; u <= t; u++) {
                    a[u] /= sum;
                    dv_dot[u] = 0;
                    for (int i = 0; i < HD; i++) {
                        rout[y + i] += a[u] * qkv[at(u, 2) + i];
                        rdqkv[at(u, 2) + i] += a[u] * dy[y + i];
                        dv_dot[u] += (double)dy[y + i] * qkv[at(u, 2) + i];
                    }
                    dot += a[u] * dv_dot[u];
                }
                for (int u = 0; u <= t; u++) {
                    double ds = a[u] * (dv_dot[u] - dot) * scale;
                    for (int i = 0; i < HD; i++) {
                        rdqkv[at(t, 0) + i] += ds * qkv[at(u, 1) + i];
                        rdqkv[at(u, 1) + i] += ds * qkv[at(t, 0) + i];
                    }
                }
            }
}

/* The fp32 kernels (GPT_FP32), to 1e-5. */
template <int HD> static void test_attention(int B, int T, int H)
{
    attention_case c(B, T, H, HD);
    const dim3 grid = attention_grid(B, T, H);
    CHECK_LAUNCH(grid, FA_ROWS,
                 flash_forward_kernel<HD>(c.out.data(), c.lse.data(), c.qkv.data(), T, H));
    CHECK_LAUNCH(
        blocks(c.lse.size()), THREADS,
        attention_delta_kernel(c.delta.data(), c.dy.data(), c.out.data(), B, T, H, HD, false));
    CHECK_LAUNCH(grid, FA_ROWS,
                 flash_backward_query_kernel<HD>(c.dqkv.data(), c.dy.data(), c.qkv.data(),
                                                 c.lse.data(), c.delta.data(), T, H));
    CHECK_LAUNCH(grid, FA_ROWS,
                 flash_backward_key_kernel<HD>(c.dqkv.data(), c.dy.data(), c.qkv.data(),
                                               c.lse.data(), c.delta.data(), T, H));
    c.check("fp32", 1e-5);
}

/* The tensor-core kernels (GPT_BF16), to the 1e-2 for bf16. */
template <int HD> static void test_attention_tc(int B, int T, int H)
{
    attention_case c(B, T, H, HD);
    const dim3 grid = attention_tc_grid(B, T, H);
    CHECK_LAUNCH(grid, TC_THREADS,
                 flash_tc_forward_kernel<HD>(c.out.data(), c.lse.data(), c.qkv.data(), T, H));
    CHECK_LAUNCH(
        blocks(c.lse.size()), THREADS,
        attention_delta_kernel(c.delta.data(), c.dy.data(), c.out.data(), B, T, H, HD, true));
    CHECK_LAUNCH(grid, TC_THREADS,
                 flash_tc_backward_query_kernel<HD>(c.dqkv.data(), c.dy.data(), c.qkv.data(),
                                                    c.lse.data(), c.delta.data(), T, H));
    CHECK_LAUNCH(grid, TC_THREADS,
                 flash_tc_backward_key_kernel<HD>(c.dqkv.data(), c.dy.data(), c.qkv.data(),
                                                  c.lse.data(), c.delta.data(), T, H));
    c.check("tensor-core", 1e-2);
}

int main(void)
{
    test_seed();
    test_attention<8>(2, 9, 3);       /* one ragged tile */
    test_attention<64>(1, 150, 2);    /* GPT-2's head size, three query and key tiles */
    test_attention<4>(2, 70, 2);      /* a ragged second tile */
    test_attention<16>(1, 128, 1);    /* exactly two tiles */
    test_attention_tc<64>(1, 130, 2); /* GPT-2's head size, three tiles, the last of two rows */
    test_attention_tc<64>(3, 1, 4);   /* one row: a tile of padding (12 rows, so that the
                                       * largest reference is not one small dot product) */
    test_attention_tc<32>(2, 17, 3);  /* one ragged tile, several heads and batches */
    test_attention_tc<16>(1, 100, 2); /* a ragged second tile */
    return check_status("test_attention_emulated");
}
