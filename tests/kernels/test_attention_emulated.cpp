/* The CUDA attention kernels' own source (kernels/cuda/attention.cuh) run on
 * the host, one std::thread per CUDA thread and a barrier per __syncthreads,
 * against a float64 reference: forward output and log-sum-exp, and dq, dk, dv
 * from the delta, query-side and key-side backward kernels, with outputs
 * NaN-poisoned first. It checks the kernels' indexing, tiling and barriers
 * without a GPU (a thread that skipped a barrier would hang the block); it
 * says nothing about the device's memory model or speed. Seed printed;
 * replay with PLAIT_TEST_SEED. */
#include <algorithm>
#include <barrier>
#include <math.h>
#include <random>
#include <stddef.h>
#include <stdlib.h>
#include <thread>
#include <time.h>
#include <vector>

#include "tests/check.h"

struct emu_dim3 {
    unsigned x, y, z;
};
static thread_local emu_dim3 threadIdx, blockIdx;
static emu_dim3 blockDim;
static std::barrier<> *block_barrier;
#define __global__
#define __device__
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n)    __attribute__((aligned(n)))
#define __syncthreads() block_barrier->arrive_and_wait()
using std::max;
using std::min;
static inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}
#include "kernels/cuda/attention.cuh"

/* Runs the blocks one after another, each block's threads together. */
template <class Kernel> static void launch(emu_dim3 grid, unsigned threads, Kernel kernel)
{
    blockDim = {threads, 1, 1};
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                std::barrier<> barrier((ptrdiff_t)threads);
                block_barrier = &barrier;
                std::vector<std::thread> block;
                for (unsigned t = 0; t < threads; t++)
                    block.emplace_back([&, t] {
                        threadIdx = {t, 0, 0};
                        blockIdx = {x, y, z};
                        kernel();
                    });
                for (auto &th : block)
                    th.join();
            }
}

static double rel_err(const std::vector<float> &got, const std::vector<double> &want)
{
    double err = 0, scale = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (isnan(got[i]))
            return INFINITY;
        err = std::max(err, fabs(got[i] - want[i]));
        scale = std::max(scale, fabs(want[i]));
    }
    return err / scale;
}

template <int HD> static void test_attention(std::mt19937_64 &rng, int B, int T, int H)
{
    const int C = H * HD, C3 = 3 * C;
    const size_t rows = (size_t)B * H * T;
    std::uniform_real_distribution<float> u2(-2, 2), u1(-1, 1);
    std::vector<float> qkv((size_t)B * T * C3), dy((size_t)B * T * C);
    for (auto &v : qkv)
        v = u2(rng);
    for (auto &v : dy)
        v = u1(rng);
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
    const emu_dim3 grid = {(unsigned)((T + FA_ROWS - 1) / FA_ROWS), (unsigned)H, (unsigned)B};
    launch(grid, FA_ROWS,
           [&] { flash_forward_kernel<HD>(out.data(), lse.data(), qkv.data(), T, H); });
    launch({(unsigned)((rows + 255) / 256), 1, 1}, 256,
           [&] { attention_delta_kernel(delta.data(), dy.data(), out.data(), B, T, H, HD); });
    launch(grid, FA_ROWS, [&] {
        flash_backward_query_kernel<HD>(dqkv.data(), dy.data(), qkv.data(), lse.data(),
                                        delta.data(), T, H);
    });
    launch(grid, FA_ROWS, [&] {
        flash_backward_key_kernel<HD>(dqkv.data(), dy.data(), qkv.data(), lse.data(), delta.data(),
                                      T, H);
    });
    double e_out = rel_err(out, rout), e_lse = rel_err(lse, rlse), e_d = rel_err(dqkv, rdqkv);
    CHECK_MSG(e_out < 1e-5, "HD=%d B=%d T=%d H=%d: output relative error %g", HD, B, T, H, e_out);
    CHECK_MSG(e_lse < 1e-5, "HD=%d B=%d T=%d H=%d: log-sum-exp relative error %g", HD, B, T, H,
              e_lse);
    CHECK_MSG(e_d < 1e-5, "HD=%d B=%d T=%d H=%d: dqkv relative error %g", HD, B, T, H, e_d);
}

int main(void)
{
    const char *env = getenv("PLAIT_TEST_SEED");
    unsigned long long seed = env ? strtoull(env, NULL, 0) : (unsigned long long)time(NULL);
    printf("seed %llu\n", seed);
    std::mt19937_64 rng(seed);
    test_attention<8>(rng, 2, 9, 3);    /* one ragged tile */
    test_attention<64>(rng, 1, 150, 2); /* GPT-2's head size, three query and key tiles */
    test_attention<4>(rng, 2, 70, 2);   /* a ragged second tile */
    test_attention<16>(rng, 1, 128, 1); /* exactly two tiles */
    return check_status("test_attention_emulated");
}
