/* NCCL collectives on device buffers for every group, against a serial
 * reference: as many ranks as GPUs (at most 4) under plait-run, one GPU
 * each. Then 2 ranks of which the second names a GPU that is not there: both
 * must fail plait_nccl_open with their reasons, the first without waiting in
 * NCCL's init for a rank that will never come. Skips where no GPU is
 * visible. */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/plait_nccl.h"
#include "tests/check.h"
#include "tests/runtime/launch.h"

static const size_t lengths[] = {0, 1, 1000, 1 << 20};

static float input(int r, size_t i)
{
    return (float)((int)(((size_t)r * 5 + i) % 9) - 4);
}

static void test_group(plait_nccl_t *nccl, plait_comm_t *comm, plait_group_t g, size_t len)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    float *host = malloc((len * (size_t)n + 1) * sizeof *host);
    float *dev_in, *dev_out;
    CHECK(cudaMalloc((void **)&dev_in, len * sizeof(float) + 4) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dev_out, len * (size_t)n * sizeof(float) + 4) == cudaSuccess);
    for (size_t i = 0; i < len; i++)
        host[i] = input(me, i);
    cudaMemcpy(dev_in, host, len * sizeof(float), cudaMemcpyHostToDevice);

    CHECK_INT_EQ(
        plait_nccl_allreduce(nccl, g, dev_in, dev_out, len, PLAIT_FLOAT32, PLAIT_SUM, NULL),
        PLAIT_OK);
    cudaMemcpy(host, dev_out, len * sizeof(float), cudaMemcpyDeviceToHost);
    size_t bad = len;
    for (size_t i = 0; i < len && bad == len; i++) {
        float want = 0;
        for (int r = 0; r < n; r++)
            want += input(r, i);
        if (host[i] != want)
            bad = i;
    }
    CHECK_MSG(bad == len, "allreduce group %d len %zu: element %zu", (int)g, len, bad);

    CHECK_INT_EQ(plait_nccl_allgather(nccl, g, dev_in, dev_out, len, PLAIT_FLOAT32, NULL),
                 PLAIT_OK);
    cudaMemcpy(host, dev_out, len * (size_t)n * sizeof(float), cudaMemcpyDeviceToHost);
    bad = len * (size_t)n;
    for (size_t i = 0; i < len * (size_t)n && bad == len * (size_t)n; i++)
        if (host[i] != input((int)(i / len), i % len))
            bad = i;
    CHECK_MSG(bad == len * (size_t)n, "allgather group %d len %zu: element %zu", (int)g, len, bad);
    CHECK_INT_EQ(plait_nccl_check(nccl), PLAIT_OK);
    cudaFree(dev_in);
    cudaFree(dev_out);
    free(host);
}

#define MISSING_BUSID "0000:ff:1f.7"

static int run_rank(int missing_gpu)
{
    plait_context_t *ctx;
    char err[512];
    if (plait_init(NULL, &ctx, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "plait_init: %s\n", err);
        return 1;
    }
    if (missing_gpu && plait_placement(ctx)->rank == 1)
        setenv("PLAIT_GPU_BUSID", MISSING_BUSID, 1);
    plait_nccl_t *nccl;
    if (plait_nccl_open(ctx, &nccl) != PLAIT_OK) {
        fprintf(stderr, "plait_nccl_open: %s\n", plait_error(ctx));
        plait_finalize(ctx);
        return 1;
    }
    for (plait_group_t g = PLAIT_GROUP_WORLD; g <= PLAIT_GROUP_PP; g++)
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
            test_group(nccl, plait_comm(ctx, g), g, lengths[l]);
    char name[64];
    snprintf(name, sizeof name, "nccl rank %d", plait_placement(ctx)->rank);
    plait_nccl_close(nccl);
    plait_finalize(ctx);
    return check_status(name);
}

int main(int argc, char **argv)
{
    const int missing_gpu = argc > 1 && strcmp(argv[1], "missing-gpu") == 0;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("no GPU: %s\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return CHECK_SKIP;
    }
    if (launch_is_rank())
        return run_rank(missing_gpu);
    int n = count >= 4 ? 4 : count >= 2 ? 2 : 1;
    static char out[1 << 16];
    int status = launch_ranks(n, n == 4 ? "dp=2,tp=2" : "tp=1", NULL, NULL, out, sizeof out);
    CHECK_MSG(status == 0, "plait-run -n %d: wait status %d", n, status);

    status = launch_ranks(2, "tp=1", "missing-gpu", NULL, out, sizeof out);
    CHECK_MSG(status != 0, "plait_nccl_open with rank 1's GPU missing succeeded");
    CHECK_MSG(strstr(out, "PLAIT_GPU_BUSID=" MISSING_BUSID), "rank 1 does not name its GPU:\n%s",
              out);
    CHECK_MSG(strstr(out, "NCCL not initialised: 1 of 2 ranks"),
              "rank 0 does not report rank 1's failure (waited in NCCL's init?):\n%s", out);
    return check_status("runtime_nccl_test");
}
