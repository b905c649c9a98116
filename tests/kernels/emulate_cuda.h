/* Runs CUDA kernel source on the host, for tests that check the kernels
 * where there is no GPU (C++20). Include it before the kernel headers.
 *
 * One std::thread per CUDA thread; the blocks of a launch run one after
 * another on the same threads. __syncthreads is a barrier of the block;
 * __shfl_xor_sync writes the lane's value to a slot of its warp, meets the
 * warp at a barrier, reads the partner's slot and meets it again. A thread
 * that returns leaves its block's and its warp's barriers for good, as an
 * exited thread stops counting on the device, so warps that return early
 * hang nothing. atomicAdd is std::atomic_ref's fetch_add.
 *
 * What the device would refuse, hang on or leave undefined is reported
 * instead (emu_launch returns false): a launch shape CUDA rejects, threads of
 * one block meeting at __syncthreads on different lines, a shuffle naming a
 * lane that has returned or does not exist (a partial warp). Not emulated:
 * the memory model (blocks never overlap here, and a race inside a block
 * shows only if it changes a result), shared memory's garbage start (it
 * starts as what the last launch left), bank conflicts, speed. */
#ifndef PLAIT_TESTS_KERNELS_EMULATE_CUDA_H
#define PLAIT_TESTS_KERNELS_EMULATE_CUDA_H

#include <algorithm>
#include <atomic>
#include <barrier>
#include <condition_variable>
#include <math.h>
#include <memory>
#include <mutex>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
        cv.wait(g, [&] { return phase != p; });
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

struct emu_warp {
    emu_barrier barrier;
    std::atomic<uint32_t> live; /* lanes that exist and have not returned */
    uint64_t slot[EMU_WARP];
};

static thread_local struct {
    emu_barrier *block;
    emu_warp *warp;
    unsigned lane;
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
        }
    };
    fresh_block();
    std::barrier next_block((ptrdiff_t)n, fresh_block);
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (unsigned t = 0; t < n; t++)
        threads.emplace_back([&, t] {
            threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
            emu_self = {&block_barrier, &warp[t / EMU_WARP], t % EMU_WARP};
            for (unsigned z = 0; z < grid.z; z++)
                for (unsigned y = 0; y < grid.y; y++)
                    for (unsigned x = 0; x < grid.x; x++) {
                        blockIdx = dim3(x, y, z);
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
