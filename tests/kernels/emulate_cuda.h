/* Runs CUDA kernel source on the host, for tests that check the kernels
 * where there is no GPU (C++20). Include it before the kernel headers.
 *
 * One std::thread per CUDA thread; the blocks of a launch run one after
 * another on the same threads. __syncthreads is a barrier of the block;
 * __syncwarp one of the warp; __shfl_xor_sync writes the lane's value to a
 * slot of its warp, meets the warp at a barrier, reads the partner's slot and
 * meets it again. A thread that returns leaves its block's and its warp's
 * barriers for good, as an exited thread stops counting on the device, so
 * warps that return early hang nothing. atomicAdd is std::atomic_ref's
 * fetch_add. __nv_bfloat16 is the upper half of a float's bits, rounded to
 * nearest even as the device's __float2bfloat16 does.
 *
 * The WMMA subset of <mma.h> the tensor-core kernels use (16x16x16, bf16
 * operands, fp32 accumulators): a fragment is a warp-collective object, so
 * each lane holds the number of one matrix its warp keeps (the lanes'
 * fragments are numbered in the order each lane constructs them, which
 * agrees while the warp runs the same code). Every fragment operation meets
 * the warp, checks that all 32 lanes came with the same fragments, pointer,
 * ldm and layout, and has one lane do the work: loads and stores by
 * row_major or col_major with ldm, mma_sync as fp32 sums of exact products
 * of the bf16 operands. The element layout inside a fragment is unspecified
 * on the device, so there is no x[] to index here.
 *
 * What the device would refuse, hang on or leave undefined is reported
 * instead (emu_launch returns false): a launch shape CUDA rejects, threads of
 * one block meeting at __syncthreads on different lines, a shuffle naming a
 * lane that has returned or does not exist (a partial warp), a fragment
 * operation not made by the whole warp together (a lane gone, a partial
 * warp, lanes at different lines or with different arguments), a fragment
 * read before it was loaded or filled, a WMMA pointer not 256-bit aligned or
 * an ldm that is not a multiple of 16 bytes (8 bf16 or 4 floats). Threads
 * waiting at different kinds of barrier (a __syncthreads against a warp
 * collective) would deadlock: that is reported after a minute without
 * progress, and the test aborts. Not emulated: the memory model (blocks never
 * overlap here, and a race inside a block shows only if it changes a result;
 * each fragment operation is itself a barrier here, so a missing __syncwarp
 * next to one goes unseen), shared memory's garbage start (it starts as what
 * the last launch left), the tensor cores' own order of fp32 additions, bank
 * conflicts, speed. */
#ifndef PLAIT_TESTS_KERNELS_EMULATE_CUDA_H
#define PLAIT_TESTS_KERNELS_EMULATE_CUDA_H

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <map>
#include <math.h>
#include <memory>
#include <mutex>
#include <source_location>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <thread>
#include <type_traits>
#include <vector>

#include "tests/check.h"

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz)
    {
    }
};

static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n)                   __attribute__((aligned(n)))
#define __syncthreads()                emu_self.block->wait("__syncthreads", __FILE__, __LINE__)
#define __syncwarp()                   emu_self.warp->barrier.wait("__syncwarp", __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, lane) emu_shfl_xor((mask), (v), (lane), __FILE__, __LINE__)

using std::max;
using std::min;

static inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}

template <class T> static T atomicAdd(T *address, T v)
{
    return std::atomic_ref<T>(*address).fetch_add(v);
}

static std::atomic<int> emu_errors;

__attribute__((format(printf, 1, 2))) static void emu_fail(const char *fmt, ...)
{
    if (emu_errors++ >= 10) /* one fault usually repeats in every thread */
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("emulation: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A barrier that a member leaves for good when its thread returns from the
 * kernel. Every arrival of one phase must come from the same source line. */
class emu_barrier
{
  public:
    void reset(unsigned members)
    {
        n = members;
        arrived = 0;
    }

    void wait(const char *what, const char *file, int line)
    {
        std::unique_lock<std::mutex> g(mu);
        if (arrived == 0) {
            site_file = file;
            site_line = line;
        } else if (line != site_line || strcmp(file, site_file)) {
            emu_fail("%s: threads met at %s:%d and %s:%d", what, site_file, site_line, file, line);
        }
        if (++arrived == n) {
            release();
            return;
        }
        const unsigned long p = phase;
        if (!cv.wait_for(g, std::chrono::minutes(1), [&] { return phase != p; })) {
            emu_fail("%s at %s:%d: no progress for a minute (%u of %u threads arrived; the rest "
                     "wait elsewhere)",
                     what, file, line, arrived, n);
            abort();
        }
    }

    void leave()
    {
        std::lock_guard<std::mutex> g(mu);
        n--;
        if (arrived > 0 && arrived == n)
            release();
    }

  private:
    void release()
    {
        arrived = 0;
        phase++;
        cv.notify_all();
    }

    std::mutex mu;
    std::condition_variable cv;
    unsigned n = 0, arrived = 0;
    unsigned long phase = 0;
    const char *site_file = "";
    int site_line = 0;
};

constexpr unsigned EMU_WARP = 32;

/* What one lane passes to a fragment operation; the whole warp must agree. */
struct emu_wmma_call {
    unsigned frag[4];
    const void *ptr;
    unsigned ldm;
    int layout;
    bool operator==(const emu_wmma_call &) const = default;
};

struct emu_warp {
    emu_barrier barrier;
    std::atomic<uint32_t> live; /* lanes that exist and have not returned */
    uint64_t slot[EMU_WARP];
    emu_wmma_call call[EMU_WARP];
    std::map<unsigned, std::array<float, 256>> frag; /* by number; see nvcuda::wmma below */
};

static thread_local struct {
    emu_barrier *block;
    emu_warp *warp;
    unsigned lane;
    unsigned fragments; /* fragments this lane has constructed in this block */
} emu_self;

template <class T>
static T emu_shfl_xor(unsigned mask, T v, int lane_mask, const char *file, int line)
{
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
    emu_warp &w = *emu_self.warp;
    const unsigned src = (emu_self.lane ^ (unsigned)lane_mask) % EMU_WARP;
    memcpy(&w.slot[emu_self.lane], &v, sizeof(v));
    w.barrier.wait("__shfl_xor_sync", file, line);
    /* Between the two meetings every lane still live is in this shuffle. */
    const uint32_t live = w.live;
    if ((mask & ~live) || !(mask >> src & 1))
        emu_fail("__shfl_xor_sync at %s:%d: mask %#x, live lanes %#x, lane %u reads lane %u", file,
                 line, mask, live, emu_self.lane, src);
    T r;
    memcpy(&r, &w.slot[src], sizeof(r));
    w.barrier.wait("__shfl_xor_sync", file, line);
    return r;
}

struct __nv_bfloat16 {
    uint16_t bits;
};

static inline __nv_bfloat16 __float2bfloat16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return {0x7fc0}; /* a NaN stays a NaN (rounding could carry it into infinity) */
    u += 0x7fffu + (u >> 16 & 1);
    return {(uint16_t)(u >> 16)};
}

static inline float __bfloat162float(__nv_bfloat16 h)
{
    const uint32_t u = (uint32_t)h.bits << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline float emu_element(float v)
{
    return v;
}

static inline float emu_element(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}

/* One fragment operation of the whole warp: every lane records its
 * arguments and meets the others; the lowest live lane checks them and runs
 * body (the others wait), then all meet again. */
template <class Body>
static void emu_wmma(const char *what, const emu_wmma_call &call, std::source_location at,
                     Body body)
{
    emu_warp &w = *emu_self.warp;
    w.call[emu_self.lane] = call;
    w.barrier.wait(what, at.file_name(), (int)at.line());
    const uint32_t live = w.live;
    if (emu_self.lane == (unsigned)std::countr_zero(live)) {
        bool same = true;
        for (unsigned l = 0; l < EMU_WARP && same; l++)
            if (live >> l & 1 && !(w.call[l] == call)) {
                emu_fail("%s at %s:%u: lane %u passes other fragments, pointer, ldm or layout "
                         "than lane %u",
                         what, at.file_name(), at.line(), l, emu_self.lane);
                same = false;
            }
        if (live != ~0u)
            emu_fail("%s at %s:%u: live lanes %#x: the whole warp must make it", what,
                     at.file_name(), at.line(), live);
        else if (same)
            body(w);
    }
    w.barrier.wait(what, at.file_name(), (int)at.line());
}

/* The fragment's matrix, row-major 16x16 whatever its layout; a fault when
 * it was never loaded or filled. */
static std::array<float, 256> *emu_matrix(emu_warp &w, unsigned frag, const char *what,
                                          std::source_location at)
{
    auto it = w.frag.find(frag);
    if (it != w.frag.end())
        return &it->second;
    emu_fail("%s at %s:%u: a fragment read before it was loaded or filled", what, at.file_name(),
             at.line());
    return nullptr;
}

/* load_matrix_sync's and store_matrix_sync's documented requirements. */
static bool emu_wmma_operand_ok(const char *what, const void *p, unsigned ldm, size_t elem,
                                std::source_location at)
{
    if ((uintptr_t)p % 32 == 0 && ldm * elem % 16 == 0)
        return true;
    emu_fail("%s at %s:%u: pointer %p, ldm %u: expected a 256-bit aligned pointer and ldm a "
             "multiple of %zu elements",
             what, at.file_name(), at.line(), p, ldm, 16 / elem);
    return false;
}

namespace nvcuda::wmma
{
struct matrix_a {
};
struct matrix_b {
};
struct accumulator {
};
struct row_major {
};
struct col_major {
};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> class fragment
{
    static_assert(M == 16 && N == 16 && K == 16, "the emulation has the 16x16x16 shape only");
    static_assert(std::is_same_v<Use, accumulator> ? std::is_same_v<T, float>
                                                   : std::is_same_v<T, __nv_bfloat16>,
                  "the emulation has bf16 operands and fp32 accumulators only");

  public:
    fragment() : id(emu_self.fragments++)
    {
    }
    /* A copy would be a new matrix of the warp, made by each lane alone. */
    fragment(const fragment &) = delete;
    fragment &operator=(const fragment &) = delete;
    const unsigned id;
};

template <class Use, class T, class Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout> &f, const T &v,
                   std::source_location at = std::source_location::current())
{
    emu_wmma("fill_fragment", {{f.id}, nullptr, 0, 0}, at,
             [&](emu_warp &w) { w.frag[f.id].fill(emu_element(v)); });
}

/* Element (r, c) of a 16x16 matrix at p: row_major p[r * ldm + c],
 * col_major p[c * ldm + r]. */
template <class T> static T &emu_at(T *p, unsigned ldm, bool col, int r, int c)
{
    return col ? p[(size_t)c * ldm + r] : p[(size_t)r * ldm + c];
}

template <class Use, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout> &f, const __nv_bfloat16 *p,
                      unsigned ldm, std::source_location at = std::source_location::current())
{
    static_assert(std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>);
    constexpr bool col = std::is_same_v<Layout, col_major>;
    emu_wmma("load_matrix_sync", {{f.id}, p, ldm, col}, at, [&](emu_warp &w) {
        if (!emu_wmma_operand_ok("load_matrix_sync", p, ldm, sizeof(*p), at))
            return;
        auto &m = w.frag[f.id];
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++)
                m[r * 16 + c] = __bfloat162float(emu_at(p, ldm, col, r, c));
    });
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p,
                             unsigned ldm, layout_t layout,
                             std::source_location at = std::source_location::current())
{
    emu_wmma("load_matrix_sync", {{f.id}, p, ldm, layout}, at, [&](emu_warp &w) {
        if (!emu_wmma_operand_ok("load_matrix_sync", p, ldm, sizeof(*p), at))
            return;
        auto &m = w.frag[f.id];
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++)
                m[r * 16 + c] = emu_at(p, ldm, layout == mem_col_major, r, c);
    });
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f,
                              unsigned ldm, layout_t layout,
                              std::source_location at = std::source_location::current())
{
    emu_wmma("store_matrix_sync", {{f.id}, p, ldm, layout}, at, [&](emu_warp &w) {
        const auto *m = emu_matrix(w, f.id, "store_matrix_sync", at);
        if (!m || !emu_wmma_operand_ok("store_matrix_sync", p, ldm, sizeof(*p), at))
            return;
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++)
                emu_at(p, ldm, layout == mem_col_major, r, c) = (*m)[r * 16 + c];
    });
}

/* d = a b + c: each product of two bf16 values is exact in fp32; the sums
 * are fp32, in k order (the tensor cores' order is their own). */
template <class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
              const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
              const fragment<accumulator, 16, 16, 16, float> &c,
              std::source_location at = std::source_location::current())
{
    emu_wmma("mma_sync", {{d.id, a.id, b.id, c.id}, nullptr, 0, 0}, at, [&](emu_warp &w) {
        const auto *ma = emu_matrix(w, a.id, "mma_sync", at),
                   *mb = emu_matrix(w, b.id, "mma_sync", at),
                   *mc = emu_matrix(w, c.id, "mma_sync", at);
        if (!ma || !mb || !mc)
            return;
        std::array<float, 256> r;
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                float s = (*mc)[i * 16 + j];
                for (int k = 0; k < 16; k++)
                    s += (*ma)[i * 16 + k] * (*mb)[k * 16 + j];
                r[i * 16 + j] = s;
            }
        w.frag[d.id] = r;
    });
}
} // namespace nvcuda::wmma

/* Runs kernel() as every thread of a grid x block launch; false after
 * printing why when the launch or one of its threads did what the device
 * would not allow. */
template <class Kernel> static bool emu_launch(dim3 grid, dim3 block, Kernel kernel)
{
    const int errors = emu_errors;
    const unsigned n = block.x * block.y * block.z, warps = (n + EMU_WARP - 1) / EMU_WARP;
    if (!grid.x || !grid.y || !grid.z || grid.y > 65535 || grid.z > 65535 || !n || n > 1024 ||
        block.z > 64) {
        emu_fail("a grid of %ux%ux%u blocks of %ux%ux%u threads: CUDA refuses the launch", grid.x,
                 grid.y, grid.z, block.x, block.y, block.z);
        return false;
    }
    gridDim = grid;
    blockDim = block;
    emu_barrier block_barrier;
    std::unique_ptr<emu_warp[]> warp(new emu_warp[warps]);
    auto fresh_block = [&]() noexcept {
        block_barrier.reset(n);
        for (unsigned w = 0; w < warps; w++) {
            const unsigned lanes = std::min(EMU_WARP, n - w * EMU_WARP);
            warp[w].barrier.reset(lanes);
            warp[w].live = lanes == EMU_WARP ? ~0u : (1u << lanes) - 1;
            warp[w].frag.clear();
        }
    };
    fresh_block();
    std::barrier next_block((ptrdiff_t)n, fresh_block);
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (unsigned t = 0; t < n; t++)
        threads.emplace_back([&, t] {
            threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
            emu_self = {&block_barrier, &warp[t / EMU_WARP], t % EMU_WARP, 0};
            for (unsigned z = 0; z < grid.z; z++)
                for (unsigned y = 0; y < grid.y; y++)
                    for (unsigned x = 0; x < grid.x; x++) {
                        blockIdx = dim3(x, y, z);
                        emu_self.fragments = 0;
                        kernel();
                        emu_self.warp->live &= ~(1u << emu_self.lane);
                        emu_self.warp->barrier.leave();
                        block_barrier.leave();
                        next_block.arrive_and_wait();
                    }
        });
    for (auto &th : threads)
        th.join();
    return emu_errors == errors;
}

/* One launch of a kernel call, checked. */
#define CHECK_LAUNCH(grid, block, call) CHECK(emu_launch((grid), (block), [&] { call; }))

#endif
