/* The CUDA attention kernels' own source (kernels/cuda/attention.cuh) run on
 * the host (tests/kernels/emulate_cuda.h) with the backend's launch shapes,
 * against a float64 reference: forward output and log-sum-exp, and dq, dk, dv
 * from the delta, query-side and key-side backward kernels, with outputs
 * NaN-poisoned first. It checks the kernels' indexing, tiling and barriers
 * without a GPU (threads meeting at different barriers are reported); it
 * says nothing about the device's memory model or speed. Seed printed;
 * replay with PLAIT_TEST_SEED. */
#include <algorithm>
#include <math.h>
#include <stddef.h>
#include <vector>

#include "tests/kernels/emulate_cuda.h"
#include "tests/kernels/testutil.h"

#include "kernels/cuda/launch.cuh"

#include "kernels/cuda/attention.cuh"

template <int HD> static void test_attention(int B, int T, int H)
{
    const int C = H * HD, C3 = 3 * C;
    const size_t rows = (size_t)B * H * T;
    std::vector<float> qkv((size_t)B * T * C3), dy((size_t)B * T * C);
    for (auto &v : qkv)
        v = (float)(4 * test_uniform() - 2);
    for (auto &v : dy)
        v = (float)(2 * test_uniform() - 1);
    std::vector<float> out(dy.size(), NAN), lse(rows, NAN), delta(rows, NAN), dqkv(qkv.size(), NAN);
    std::vector<double> rout(out.size()), rlse(rows), rdqkv(qkv.size()), a(T), dv_dot(T);
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
    const dim3 grid = attention_grid(B, T, H);
    CHECK_LAUNCH(grid, FA_ROWS, flash_forward_kernel<HD>(out.data(), lse.data(), qkv.data(), T, H));
    CHECK_LAUNCH(blocks(rows), THREADS,
                 attention_delta_kernel(delta.data(), dy.data(), out.data(), B, T, H, HD));
    CHECK_LAUNCH(grid, FA_ROWS,
                 flash_backward_query_kernel<HD>(dqkv.data(), dy.data(), qkv.data(), lse.data(),
                                                 delta.data(), T, H));
    CHECK_LAUNCH(grid, FA_ROWS,
                 flash_backward_key_kernel<HD>(dqkv.data(), dy.data(), qkv.data(), lse.data(),
                                               delta.data(), T, H));
    double e_out = rel_err_d(out.data(), rout.data(), out.size()),
           e_lse = rel_err_d(lse.data(), rlse.data(), lse.size()),
           e_d = rel_err_d(dqkv.data(), rdqkv.data(), dqkv.size());
    CHECK_MSG(e_out < 1e-5, "HD=%d B=%d T=%d H=%d: output relative error %g", HD, B, T, H, e_out);
    CHECK_MSG(e_lse < 1e-5, "HD=%d B=%d T=%d H=%d: log-sum-exp relative error %g", HD, B, T, H,
              e_lse);
    CHECK_MSG(e_d < 1e-5, "HD=%d B=%d T=%d H=%d: dqkv relative error %g", HD, B, T, H, e_d);
}

int main(void)
{
    test_seed();
    test_attention<8>(2, 9, 3);    /* one ragged tile */
    test_attention<64>(1, 150, 2); /* GPT-2's head size, three query and key tiles */
    test_attention<4>(2, 70, 2);   /* a ragged second tile */
    test_attention<16>(1, 128, 1); /* exactly two tiles */
    return check_status("test_attention_emulated");
}
