/* libplait: the communication layer every rank of a plait job links.
 *
 * A process calls plait_init() once. It learns its place in the job from the
 * placement contract (docs/contract.md: PLAIT_* variables, set by the plugin or
 * by plait-run), or from Slurm's own SLURM_* variables with block placement,
 * exchanges UCX worker addresses with every other rank (through PMI2 under
 * srun, through plait-run's rendezvous otherwise) and returns a context that
 * owns everything: no global state.
 *
 * Ranks are ordered rank = (dp * PP + pp) * TP + tp. The context holds four
 * communicators: the world and this rank's data-, tensor- and pipeline-parallel
 * groups. Point-to-point and collective calls take a communicator and ranks
 * within it.
 *
 * Progress model: nothing runs in the background. Every call that waits
 * (plait_wait, the blocking collectives) and every plait_test/plait_progress
 * drives the UCX worker and any started non-blocking collective. A program
 * that overlaps a plait_iallreduce with computation calls plait_test now and
 * then (e.g. once per layer) so the collective keeps moving.
 *
 * Errors: every call returns a plait_status_t; on failure plait_error(ctx)
 * holds one line naming what failed (for a dead or silent peer: its rank and
 * host). A peer that does not answer within the timeout (PLAIT_TIMEOUT seconds,
 * default 60) fails the waiting call with PLAIT_ERR_TIMEOUT; nothing waits
 * forever. After an error other than PLAIT_ERR_INVALID the context can only be
 * finalized.
 *
 * Buffers are host memory. Device buffers go through plait_nccl.h (a separate
 * library, built only where CUDA is present); plait_ucx_device_memory says
 * whether this UCX build also takes CUDA pointers in point-to-point. */
#ifndef PLAIT_H
#define PLAIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PLAIT_OK = 0,
    PLAIT_ERR_INVALID = -1,     /* bad argument, option or environment */
    PLAIT_ERR_BOOTSTRAP = -2,   /* could not find or reach the other ranks */
    PLAIT_ERR_TIMEOUT = -3,     /* a peer did not answer within the timeout */
    PLAIT_ERR_PEER = -4,        /* a peer died or its connection failed */
    PLAIT_ERR_TRANSPORT = -5,   /* UCX (or NCCL) reported an error */
    PLAIT_ERR_NO_MEMORY = -6,   /* an allocation failed */
    PLAIT_ERR_UNSUPPORTED = -7, /* not available in this build or on this machine */
} plait_status_t;

typedef enum {
    PLAIT_FLOAT32 = 0,
    PLAIT_BFLOAT16 = 1, /* stored as uint16_t, the upper half of an IEEE float32 */
} plait_dtype_t;

typedef enum {
    PLAIT_SUM = 0,
    PLAIT_AVG = 1, /* the sum divided by the communicator's size */
    PLAIT_MAX = 2, /* NCCL only (plait_nccl.h); host collectives refuse it */
} plait_op_t;

typedef enum {
    PLAIT_GROUP_WORLD = 0,
    PLAIT_GROUP_DP = 1, /* ranks with my tp and pp coordinates: DP of them */
    PLAIT_GROUP_TP = 2, /* ranks with my dp and pp coordinates: TP consecutive ranks */
    PLAIT_GROUP_PP = 3, /* ranks with my dp and tp coordinates: the stages of my pipeline */
} plait_group_t;

/* Where this process sits in the job. */
typedef struct {
    int rank, world_size;
    int local_rank, local_size; /* among the ranks on this node */
    int dp_rank, dp_size;
    int tp_rank, tp_size;
    int pp_rank, pp_size;
    char host[64]; /* this node's host name */
} plait_placement_t;

/* Options for plait_init; NULL or zeroed fields mean the default. */
typedef struct {
    /* "dp=2,tp=2,pp=1": the layout when the environment does not give one
     * (no PLAIT_* variables). Defaults to $PLAIT_LAYOUT, else dp = world size.
     * Unnamed sizes are derived so that dp * tp * pp = world size. */
    const char *layout;
    /* Seconds a call waits for a peer before PLAIT_ERR_TIMEOUT. Defaults to
     * $PLAIT_TIMEOUT, else 60. */
    double timeout_s;
} plait_config_t;

typedef struct plait_context plait_context_t;
typedef struct plait_comm plait_comm_t;
typedef struct plait_request plait_request_t;

/* Join the job. On success *ctx is set; on failure *ctx is NULL and, when
 * errbuf is not NULL, it receives the one-line reason (errlen bytes at most). */
plait_status_t plait_init(const plait_config_t *config, plait_context_t **ctx, char *errbuf,
                          size_t errlen);
/* Leave the job: waits for nothing, frees everything. NULL is fine. */
void plait_finalize(plait_context_t *ctx);

/* The one-line description of the last error on this context ("" if none). */
const char *plait_error(const plait_context_t *ctx);
const char *plait_status_string(plait_status_t status);
const plait_placement_t *plait_placement(const plait_context_t *ctx);
/* Which rendezvous plait_init used: "plait-run", "pmi2" or "single". */
const char *plait_bootstrap_name(const plait_context_t *ctx);

/* 1 when the UCX this process runs with handles CUDA device memory (asked at
 * run time: it depends on the UCX build and its modules), else 0. */
int plait_ucx_device_memory(const plait_context_t *ctx);

/* Communicators: owned by the context, valid until plait_finalize; NULL for
 * a group that is not a plait_group_t. */
plait_comm_t *plait_comm(plait_context_t *ctx, plait_group_t group);
int plait_comm_rank(const plait_comm_t *comm);
int plait_comm_size(const plait_comm_t *comm);
/* The world rank of rank `rank` of comm. */
int plait_comm_world_rank(const plait_comm_t *comm, int rank);

/* Point-to-point. Tags are 0 .. PLAIT_TAG_MAX; a receive matches a send from
 * `peer` on the same communicator with the same tag, in posting order. A
 * receive of fewer bytes than were sent is PLAIT_ERR_INVALID. The buffer must
 * stay valid and untouched until the request completes. */
#define PLAIT_TAG_MAX 0x7ffffff
plait_status_t plait_isend(plait_comm_t *comm, const void *buf, size_t bytes, int peer,
                           uint32_t tag, plait_request_t **req);
plait_status_t plait_irecv(plait_comm_t *comm, void *buf, size_t bytes, int peer, uint32_t tag,
                           plait_request_t **req);
plait_status_t plait_send(plait_comm_t *comm, const void *buf, size_t bytes, int peer,
                          uint32_t tag);
plait_status_t plait_recv(plait_comm_t *comm, void *buf, size_t bytes, int peer, uint32_t tag);

/* Requests (from plait_isend, plait_irecv, plait_iallreduce). plait_wait
 * blocks until completion (or the timeout) and frees the request, whatever it
 * returns. plait_test makes progress and sets *done; once *done is 1 the
 * request is freed and the return value is its outcome. */
plait_status_t plait_wait(plait_request_t *req);
plait_status_t plait_test(plait_request_t *req, int *done);
/* Drive communication without waiting for anything in particular. */
plait_status_t plait_progress(plait_context_t *ctx);

/* Collectives on host buffers. Every rank of comm calls them in the same
 * order with the same count, dtype, op and root. count is in elements (any
 * value, 0 included). For allreduce, sendbuf == recvbuf means in place. */
plait_status_t plait_allreduce(plait_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                               plait_dtype_t dtype, plait_op_t op);
/* Non-blocking allreduce: progressed by plait_test/plait_wait/plait_progress
 * (see the progress model above). Do not touch either buffer until done. */
plait_status_t plait_iallreduce(plait_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, plait_dtype_t dtype, plait_op_t op,
                                plait_request_t **req);
/* recvbuf gets size * count elements: rank i's sendbuf at i * count. sendbuf
 * may be recvbuf's own block (in place) or anywhere in recvbuf before it is
 * overwritten, e.g. its start. */
plait_status_t plait_allgather(plait_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                               plait_dtype_t dtype);
/* sendbuf holds size * count elements; rank i gets the reduction of block i
 * in recvbuf (count elements). The buffers must not overlap. */
plait_status_t plait_reduce_scatter(plait_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, plait_dtype_t dtype, plait_op_t op);
plait_status_t plait_broadcast(plait_comm_t *comm, void *buf, size_t count, plait_dtype_t dtype,
                               int root);
plait_status_t plait_barrier(plait_comm_t *comm);

size_t plait_dtype_size(plait_dtype_t dtype);

/* Registered memory, for the host collectives' buffers (like NCCL's
 * ncclMemAlloc or MPI_Alloc_mem): bytes (above 0) of zeroed, page-aligned
 * memory that the other ranks on this node can map. In an allreduce on a
 * communicator within one node, peers read a rank's buffers that lie in it
 * in place instead of through a staging copy (any mix of ranks may use it).
 * Ordinary memory otherwise; valid until plait_mem_free or plait_finalize.
 * plait_mem_free(NULL) does nothing. */
plait_status_t plait_mem_alloc(plait_context_t *ctx, size_t bytes, void **ptr);
plait_status_t plait_mem_free(plait_context_t *ctx, void *ptr);

#ifdef __cplusplus
}
#endif

#endif
