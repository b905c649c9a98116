/* Point-to-point on device buffers (libplait_cuda): two ranks under plait-run
 * (on one GPU when the machine has one) exchange device buffers of many sizes,
 * 0 and sizes that are not multiples of the staging chunk included, both
 * ways at once (a send returns without waiting for the receiver, so this
 * cannot deadlock), with a 4 KiB chunk and with the default one. The bytes
 * received on the device must be the bytes sent. Skips where no GPU is
 * visible. */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/plait_cuda.h"
#include "tests/check.h"
#include "tests/runtime/launch.h"

static const size_t sizes[] = {0,     1,         3,          4095,           4096,    4097,
                               12291, 65536 + 7, (1u << 20), (1u << 20) + 5, 3u << 20};

static unsigned char pattern(int sender, size_t size, size_t i)
{
    return (unsigned char)(sender * 131 + size * 7 + i * 13 + (i >> 12));
}

static void exchange(plait_cuda_p2p_t *p2p, plait_comm_t *comm, size_t size, uint32_t tag)
{
    int me = plait_comm_rank(comm), peer = 1 - me;
    unsigned char *host = malloc(size + 1);
    void *out, *in;
    CHECK(cudaMalloc(&out, size + 1) == cudaSuccess);
    CHECK(cudaMalloc(&in, size + 1) == cudaSuccess);
    for (size_t i = 0; i < size; i++)
        host[i] = pattern(me, size, i);
    CHECK(cudaMemcpy(out, host, size, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemset(in, 0xee, size + 1) == cudaSuccess);

    plait_cuda_request_t *req = NULL;
    CHECK_INT_EQ(plait_cuda_isend(p2p, comm, out, size, peer, tag, &req), PLAIT_OK);
    CHECK_INT_EQ(plait_cuda_recv(p2p, comm, in, size, peer, tag), PLAIT_OK);
    if (req)
        CHECK_INT_EQ(plait_cuda_wait(req), PLAIT_OK);

    CHECK(cudaMemcpy(host, in, size + 1, cudaMemcpyDeviceToHost) == cudaSuccess);
    size_t bad = size;
    for (size_t i = 0; i < size && bad == size; i++)
        if (host[i] != pattern(peer, size, i))
            bad = i;
    CHECK_MSG(bad == size, "%zu bytes: byte %zu differs", size, bad);
    CHECK_MSG(host[size] == 0xee, "%zu bytes: the byte after the message was written", size);
    cudaFree(out);
    cudaFree(in);
    free(host);
}

static int run_rank(void)
{
    plait_context_t *ctx;
    char err[512];
    if (plait_init(NULL, &ctx, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "plait_init: %s\n", err);
        return 1;
    }
    int device = -1;
    if (plait_cuda_select_device(ctx, &device) != PLAIT_OK) {
        fprintf(stderr, "%s\n", plait_error(ctx));
        plait_finalize(ctx);
        return 1;
    }
    plait_comm_t *world = plait_comm(ctx, PLAIT_GROUP_WORLD);
    const size_t chunk[2] = {4096, 0};
    for (int c = 0; c < 2; c++) {
        plait_cuda_p2p_t *p2p;
        if (plait_cuda_p2p_open(ctx, chunk[c], &p2p) != PLAIT_OK) {
            fprintf(stderr, "plait_cuda_p2p_open: %s\n", plait_error(ctx));
            plait_finalize(ctx);
            return 1;
        }
        if (plait_placement(ctx)->rank == 0 && c == 0)
            printf("device %d, %s\n", device,
                   plait_cuda_p2p_direct(p2p) ? "UCX takes CUDA memory: direct"
                                              : "staged through pinned host memory");
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            exchange(p2p, world, sizes[s], (uint32_t)s);
        plait_cuda_p2p_close(p2p);
    }
    char name[64];
    snprintf(name, sizeof name, "cuda p2p rank %d", plait_placement(ctx)->rank);
    plait_finalize(ctx);
    return check_status(name);
}

int main(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("no GPU: %s\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return CHECK_SKIP;
    }
    if (launch_is_rank())
        return run_rank();
    static char out[1 << 16];
    int status = launch_ranks(2, "pp=2", NULL, NULL, out, sizeof out);
    CHECK_MSG(status == 0, "plait-run -n 2: wait status %d", status);
    return check_status("runtime_cuda_p2p_test");
}
