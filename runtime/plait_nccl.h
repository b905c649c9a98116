/* libplait_nccl: collectives on device buffers through NCCL, one NCCL
 * communicator per group (world, DP, TP, PP), the groups split from the
 * world's. A separate library (build/lib/libplait_nccl.a), built only where
 * CUDA is present, so host-only programs never link CUDA.
 *
 * Streams are passed as void * (a cudaStream_t; NULL is the default stream)
 * so this header needs no CUDA headers. Calls enqueue work on the stream and
 * return; errors NCCL reports asynchronously come back from the next call or
 * from plait_nccl_check. */
#ifndef PLAIT_NCCL_H
#define PLAIT_NCCL_H

#include "runtime/plait.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plait_nccl plait_nccl_t;

/* Collective over ctx's world: selects this rank's GPU
 * (plait_cuda_select_device: programs link libplait_cuda.a too), creates the
 * world communicator from a unique id broadcast over the host world, and
 * splits it into the DP, TP and PP groups. NCCL takes one GPU per rank:
 * two ranks of a job on one device fail here ("Duplicate GPU detected"). */
plait_status_t plait_nccl_open(plait_context_t *ctx, plait_nccl_t **nccl);
/* Collective too: every rank closes. NULL is fine. */
void plait_nccl_close(plait_nccl_t *nccl);
/* Local: for a rank that stops on an error, whose peers may be gone or
 * stuck; frees the communicators without waiting for any peer
 * (ncclCommAbort, where ncclCommDestroy may wait). NULL is fine. */
void plait_nccl_abort(plait_nccl_t *nccl);
/* The CUDA device this rank uses. */
int plait_nccl_device(const plait_nccl_t *nccl);

plait_status_t plait_nccl_allreduce(plait_nccl_t *nccl, plait_group_t group, const void *sendbuf,
                                    void *recvbuf, size_t count, plait_dtype_t dtype, plait_op_t op,
                                    void *stream);
plait_status_t plait_nccl_allgather(plait_nccl_t *nccl, plait_group_t group, const void *sendbuf,
                                    void *recvbuf, size_t count, plait_dtype_t dtype, void *stream);
plait_status_t plait_nccl_reduce_scatter(plait_nccl_t *nccl, plait_group_t group,
                                         const void *sendbuf, void *recvbuf, size_t count,
                                         plait_dtype_t dtype, plait_op_t op, void *stream);
plait_status_t plait_nccl_broadcast(plait_nccl_t *nccl, plait_group_t group, void *buf,
                                    size_t count, plait_dtype_t dtype, int root, void *stream);
/* Point-to-point within a group (e.g. activations between pipeline stages);
 * peer is a rank of that group. Group several with plait_nccl_group_start/end. */
plait_status_t plait_nccl_send(plait_nccl_t *nccl, plait_group_t group, const void *buf,
                               size_t count, plait_dtype_t dtype, int peer, void *stream);
plait_status_t plait_nccl_recv(plait_nccl_t *nccl, plait_group_t group, void *buf, size_t count,
                               plait_dtype_t dtype, int peer, void *stream);
plait_status_t plait_nccl_group_start(plait_nccl_t *nccl);
plait_status_t plait_nccl_group_end(plait_nccl_t *nccl);
/* Ask NCCL for asynchronous errors (a peer lost, for instance). */
plait_status_t plait_nccl_check(plait_nccl_t *nccl);

#ifdef __cplusplus
}
#endif

#endif
