/* NCCL communicators for the world and the DP, TP and PP groups. The world
 * communicator is created from a unique id that rank 0 broadcasts over the
 * host world (UCX); the groups are split from it, so NCCL sets up each once
 * from what it already knows. */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>

#include "runtime/internal.h"
#include "runtime/plait_cuda.h"
#include "runtime/plait_nccl.h"

struct plait_nccl {
    plait_context_t *ctx;
    int device;
    ncclComm_t comms[4];
};

static plait_status_t nccl_fail(plait_nccl_t *n, const char *what, ncclResult_t r)
{
    return plait_fail(n->ctx, PLAIT_ERR_TRANSPORT, "NCCL %s failed: %s (%s)", what,
                      ncclGetErrorString(r), ncclGetLastError(n->comms[0]));
}

plait_status_t plait_nccl_open(plait_context_t *ctx, plait_nccl_t **out)
{
    *out = NULL;
    plait_nccl_t *n = calloc(1, sizeof *n);
    if (!n)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for NCCL");
    n->ctx = ctx;
    const plait_placement_t *p = plait_placement(ctx);
    /* Every rank takes the same path even when its device is missing, so
     * nobody waits in a collective for a rank that gave up. */
    plait_status_t st = plait_cuda_select_device(ctx, &n->device);
    ncclUniqueId id = {0};
    if (p->rank == 0 && st == PLAIT_OK) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess)
            st = nccl_fail(n, "ncclGetUniqueId", r);
    }
    /* The id is opaque bytes; broadcast moves them as floats untouched. */
    _Static_assert(sizeof id % 4 == 0, "ncclUniqueId is a whole number of floats");
    plait_comm_t *world = plait_comm(ctx, PLAIT_GROUP_WORLD);
    plait_status_t bst = plait_broadcast(world, &id, sizeof id / 4, PLAIT_FLOAT32, 0);
    /* ncclCommInitRank waits for every rank of the world: all go on, or none
     * (a rank whose device is missing fails without publishing it to its
     * peers, PLAIT_ERR_INVALID or _UNSUPPORTED). */
    float failed = st != PLAIT_OK || bst != PLAIT_OK;
    plait_status_t ast = plait_allreduce(world, &failed, &failed, 1, PLAIT_FLOAT32, PLAIT_SUM);
    if (st == PLAIT_OK)
        st = bst != PLAIT_OK ? bst : ast;
    if (st == PLAIT_OK && failed > 0)
        st = plait_fail(ctx, PLAIT_ERR_INVALID,
                        "NCCL not initialised: %.0f of %d ranks could not take part (no usable "
                        "GPU, or no NCCL unique id); see their errors",
                        failed, p->world_size);
    if (st == PLAIT_OK) {
        ncclResult_t r = ncclCommInitRank(&n->comms[PLAIT_GROUP_WORLD], p->world_size, id, p->rank);
        if (r != ncclSuccess)
            st = nccl_fail(n, "ncclCommInitRank", r);
    }
    /* Color: the coordinates the group's members share; key: the rank in it. */
    const int color[4] = {0, p->pp_rank * p->tp_size + p->tp_rank,
                          p->dp_rank * p->pp_size + p->pp_rank,
                          p->dp_rank * p->tp_size + p->tp_rank};
    const int key[4] = {0, p->dp_rank, p->tp_rank, p->pp_rank};
    for (int g = PLAIT_GROUP_DP; g <= PLAIT_GROUP_PP && st == PLAIT_OK; g++) {
        ncclResult_t r =
            ncclCommSplit(n->comms[PLAIT_GROUP_WORLD], color[g], key[g], &n->comms[g], NULL);
        if (r != ncclSuccess)
            st = nccl_fail(n, "ncclCommSplit", r);
    }
    if (st != PLAIT_OK) {
        plait_nccl_abort(n);
        return st;
    }
    *out = n;
    return PLAIT_OK;
}

static void release(plait_nccl_t *n, ncclResult_t (*free_comm)(ncclComm_t))
{
    if (!n)
        return;
    for (int g = 3; g >= 0; g--)
        if (n->comms[g])
            free_comm(n->comms[g]);
    free(n);
}

void plait_nccl_close(plait_nccl_t *n)
{
    release(n, ncclCommDestroy);
}

void plait_nccl_abort(plait_nccl_t *n)
{
    release(n, ncclCommAbort);
}

int plait_nccl_device(const plait_nccl_t *n)
{
    return n->device;
}

static ncclDataType_t nccl_type(plait_dtype_t dt)
{
    return dt == PLAIT_BFLOAT16 ? ncclBfloat16 : ncclFloat32;
}

static ncclRedOp_t nccl_op(plait_op_t op)
{
    return op == PLAIT_AVG ? ncclAvg : op == PLAIT_MAX ? ncclMax : ncclSum;
}

static plait_status_t checked(plait_nccl_t *n, const char *what, ncclResult_t r)
{
    return r == ncclSuccess ? PLAIT_OK : nccl_fail(n, what, r);
}

static plait_status_t valid(plait_nccl_t *n, plait_group_t g, plait_dtype_t dt)
{
    if ((int)g < 0 || g > PLAIT_GROUP_PP || (dt != PLAIT_FLOAT32 && dt != PLAIT_BFLOAT16))
        return plait_fail(n->ctx, PLAIT_ERR_INVALID,
                          "NCCL call on group %d with dtype %d: expected a plait_group_t and "
                          "PLAIT_FLOAT32 or PLAIT_BFLOAT16",
                          (int)g, (int)dt);
    return n->ctx->failed;
}

plait_status_t plait_nccl_allreduce(plait_nccl_t *n, plait_group_t g, const void *sendbuf,
                                    void *recvbuf, size_t count, plait_dtype_t dt, plait_op_t op,
                                    void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(n, "ncclAllReduce",
                        ncclAllReduce(sendbuf, recvbuf, count, nccl_type(dt), nccl_op(op),
                                      n->comms[g], (cudaStream_t)stream));
}

plait_status_t plait_nccl_allgather(plait_nccl_t *n, plait_group_t g, const void *sendbuf,
                                    void *recvbuf, size_t count, plait_dtype_t dt, void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(n, "ncclAllGather",
                        ncclAllGather(sendbuf, recvbuf, count, nccl_type(dt), n->comms[g],
                                      (cudaStream_t)stream));
}

plait_status_t plait_nccl_reduce_scatter(plait_nccl_t *n, plait_group_t g, const void *sendbuf,
                                         void *recvbuf, size_t count, plait_dtype_t dt,
                                         plait_op_t op, void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(n, "ncclReduceScatter",
                        ncclReduceScatter(sendbuf, recvbuf, count, nccl_type(dt), nccl_op(op),
                                          n->comms[g], (cudaStream_t)stream));
}

plait_status_t plait_nccl_broadcast(plait_nccl_t *n, plait_group_t g, void *buf, size_t count,
                                    plait_dtype_t dt, int root, void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(n, "ncclBroadcast",
                        ncclBroadcast(buf, buf, count, nccl_type(dt), root, n->comms[g],
                                      (cudaStream_t)stream));
}

plait_status_t plait_nccl_send(plait_nccl_t *n, plait_group_t g, const void *buf, size_t count,
                               plait_dtype_t dt, int peer, void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(
                    n, "ncclSend",
                    ncclSend(buf, count, nccl_type(dt), peer, n->comms[g], (cudaStream_t)stream));
}

plait_status_t plait_nccl_recv(plait_nccl_t *n, plait_group_t g, void *buf, size_t count,
                               plait_dtype_t dt, int peer, void *stream)
{
    plait_status_t st = valid(n, g, dt);
    return st ? st
              : checked(
                    n, "ncclRecv",
                    ncclRecv(buf, count, nccl_type(dt), peer, n->comms[g], (cudaStream_t)stream));
}

plait_status_t plait_nccl_group_start(plait_nccl_t *n)
{
    return checked(n, "ncclGroupStart", ncclGroupStart());
}

plait_status_t plait_nccl_group_end(plait_nccl_t *n)
{
    return checked(n, "ncclGroupEnd", ncclGroupEnd());
}

plait_status_t plait_nccl_check(plait_nccl_t *n)
{
    for (int g = 0; g < 4; g++) {
        ncclResult_t async = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(n->comms[g], &async);
        if (r != ncclSuccess)
            return nccl_fail(n, "ncclCommGetAsyncError", r);
        if (async != ncclSuccess && async != ncclInProgress)
            return nccl_fail(n, "an earlier operation", async);
    }
    return PLAIT_OK;
}
