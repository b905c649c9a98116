/* What the runtime's files share. Not installed: programs use plait.h. */
#ifndef PLAIT_RUNTIME_INTERNAL_H
#define PLAIT_RUNTIME_INTERNAL_H

#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <ucp/api/ucp.h>

#include "plugin/layout.h"
#include "runtime/plait.h"

#define PLAIT_HOST_MAX 64

/* One rank's entry in the bootstrap exchange: where it runs and how to reach
 * its UCX worker. */
typedef struct {
    char host[PLAIT_HOST_MAX];
    cpu_set_t cpus; /* the CPUs it may run on */
    size_t address_len;
    void *address;
} plait_peer_t;

struct plait_comm {
    plait_context_t *ctx;
    plait_group_t group; /* for the leaders of a plait_hier: its tag space, 4 + the group */
    int rank, size;
    int *world_ranks;           /* comm rank -> world rank */
    uint32_t coll_seq;          /* collectives started on this comm, for their tags */
    struct plait_shm_comm *shm; /* node-local path, NULL when its ranks span nodes */
    struct plait_hier *hier;    /* hierarchical path, when its ranks span nodes (shm.c) */
};

/* A communicator whose ranks span nodes allreduces in three steps
 * (shm_allreduce.c): through shared memory to the first of its ranks on each
 * node, over UCX among those leaders, and back through shared memory. */
struct plait_hier {
    plait_comm_t node;    /* its ranks on this node, in its order; rank 0 leads */
    plait_comm_t leaders; /* every node's leader, in its order; size 0 off the leader */
};

typedef enum { REQ_SEND, REQ_RECV, REQ_COLL } plait_request_kind_t;

/* The hierarchical allreduce pipelines its three steps in chunks of this
 * many bytes of the buffer (shm_allreduce.c); the leaders' step runs up to
 * PLAIT_NET_DEPTH chunks at once, each its own UCX allreduce. Of 256 KiB to
 * 2 MiB (half a staging slot, the most that fits), 2 MiB was fastest on 2
 * fake nodes of 2 ranks sharing 2 cores: every chunk costs its own
 * synchronisations, and there the leaders' UCX traffic is memory copies on
 * the same cores, so it has little to overlap with (docs/performance.md).
 * Depth 4 was no faster than 2. */
#define PLAIT_HIER_CHUNK (2u << 20)
#define PLAIT_NET_DEPTH  2

/* The leaders' step of a hierarchical allreduce: count elements of buf
 * all-reduced over UCX on comm, a chunk at a time as they become ready. The
 * chunks' tags are reserved when it is set up, so that allreduces started
 * one after the other on one leader match their peers' whatever order their
 * chunks start in. */
typedef struct plait_net_pipe {
    plait_comm_t *comm;
    char *buf;
    size_t count, chunk;
    size_t started, done; /* elements from the start: chunks started, chunks complete */
    plait_dtype_t dtype;
    int divisor;
    uint32_t seq; /* the first chunk's collective sequence number */
    plait_request_t *parts[PLAIT_NET_DEPTH];
    int nparts;
} plait_net_pipe_t;

struct plait_collective;

struct plait_request {
    plait_context_t *ctx;
    plait_request_kind_t kind;
    int peer;     /* world rank, for p2p */
    void *ucx;    /* UCX request, NULL once complete */
    size_t bytes; /* expected receive size */
    plait_status_t status;
    bool done;
    struct plait_collective *coll;
    struct plait_shm_coll *shm;   /* instead of coll: a node-local collective */
    plait_net_pipe_t *net;        /* instead of coll: a lone rank's hierarchical allreduce */
    plait_request_t *next_active; /* list of started collectives */
};

struct plait_context {
    plait_placement_t placement;
    double timeout_s;
    double yield_after; /* seconds a wait spins before it starts yielding */
    const char *bootstrap;
    plait_comm_t comms[4];
    plait_peer_t *peers;
    cpu_set_t cpus; /* this process's, for the bootstrap exchange */
    ucp_context_h ucp;
    ucp_worker_h worker;
    ucp_ep_h *eps;
    int launcher_fd; /* plait-run's rendezvous socket, -1 elsewhere: it reports dead ranks */
    double next_launcher_check;
    plait_request_t *active; /* collectives started and not yet complete */
    void *scratch;           /* a collective's scratch buffer, kept for the next */
    size_t scratch_bytes;
    struct plait_shm *shm; /* node-local segments and plait_mem_alloc regions */
    plait_status_t failed; /* sticky: after a peer or transport error */
    char error[512];
};

/* Record a one-line error on ctx and return status. */
plait_status_t plait_fail(plait_context_t *ctx, plait_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
plait_status_t plait_vfail(char *buf, size_t len, plait_status_t status, const char *fmt,
                           va_list ap);
double plait_now(void);

/* placement.c: fill p from PLAIT_*, else SLURM_*, else a single process. */
plait_status_t plait_placement_from_env(plait_placement_t *p, const char *layout, char *err,
                                        size_t errlen);
/* "dp=2,tp=2,pp=1" (plugin/layout.h's rules; NULL or "": data parallel)
 * for world ranks, into dp, tp, pp. */
plait_status_t plait_layout_for_world(const char *layout, int world, int *dp, int *tp, int *pp,
                                      char *err, size_t errlen);

/* Whether the ranks on rank me's host that may run on any of its CPUs, me
 * included, outnumber those CPUs. */
bool plait_crowded(const plait_peer_t *peers, int world, int me);

/* bootstrap.c: every rank contributes blob; peers[r] gets rank r's host, CPUs
 * and blob. Sets ctx->bootstrap and, under plait-run, ctx->launcher_fd. */
plait_status_t plait_bootstrap_exchange(plait_context_t *ctx, const void *blob, size_t len);
void plait_bootstrap_close(plait_context_t *ctx);
/* Non-blocking check for a death notice from plait-run. */
plait_status_t plait_launcher_check(plait_context_t *ctx);
/* Wait up to timeout_s for a death notice; PLAIT_OK if none came. */
plait_status_t plait_launcher_await(plait_context_t *ctx, double timeout_s);

/* transport.c */
plait_status_t plait_transport_open(plait_context_t *ctx);
void plait_transport_close(plait_context_t *ctx);
plait_status_t plait_post_send(plait_context_t *ctx, const void *buf, size_t bytes, int world_peer,
                               uint64_t tag, plait_request_t *req);
plait_status_t plait_post_recv(plait_context_t *ctx, void *buf, size_t bytes, int world_peer,
                               uint64_t tag, plait_request_t *req);
/* Check a p2p request without progressing the worker; sets req->done. */
void plait_p2p_check(plait_request_t *req);
void plait_p2p_cancel(plait_request_t *req);
/* Progress the worker once and every active collective; with the time now
 * (>= 0), also look for news from plait-run every 10 ms. */
plait_status_t plait_progress_all(plait_context_t *ctx, double now);
plait_status_t plait_peer_error(plait_context_t *ctx, int world_peer, plait_status_t status,
                                const char *what);

/* Tags: [63:60] group (4 + group: its hierarchical leaders), [59:40] source
 * world rank, [39] collective, [35:0] payload. */
#define PLAIT_GROUP_LEADERS(g) ((plait_group_t)(4 + (g)))
#define PLAIT_TAG_COLL         (1ull << 39)
static inline uint64_t plait_tag(plait_group_t group, int src_world, uint64_t payload)
{
    return ((uint64_t)group << 60) | ((uint64_t)(src_world & 0xfffff) << 40) | payload;
}

/* collectives.c */
/* The leaders' step, chunk k an allreduce of [k chunk, (k + 1) chunk) with
 * the algorithm (and ring blocks) of the whole buffer, so that every element
 * sums in the order of one allreduce of the whole: set up (its tags reserved,
 * nothing started); progressed, starting the chunks that lie below ready
 * elements; done once p->done == p->count; freed. */
void plait_net_pipe_init(plait_net_pipe_t *p, plait_comm_t *comm, void *buf, size_t count,
                         plait_dtype_t dtype, int divisor);
plait_status_t plait_net_pipe_progress(plait_net_pipe_t *p, size_t ready, double *last_progress);
int plait_net_pipe_waiting_for(const plait_net_pipe_t *p);
void plait_net_pipe_free(plait_net_pipe_t *p);
plait_status_t plait_coll_progress(plait_request_t *req, double *last_progress);
void plait_coll_free(plait_request_t *req);
/* The world rank a stalled collective waits for, -1 if none. */
int plait_coll_waiting_for(const plait_request_t *req);

/* shm.c: the node-local path (runtime/shm.h) for every communicator whose
 * ranks share this node, and the hierarchical one for those that span nodes,
 * unless $PLAIT_SHM=0; plait_shm_close frees it all. */
plait_status_t plait_shm_open(plait_context_t *ctx);
void plait_shm_close(plait_context_t *ctx);
/* Tell this node's peers waiting for this rank why it failed (ctx->error). */
void plait_shm_publish_failure(plait_context_t *ctx);
/* shm_allreduce.c: make req an allreduce of count > 0 elements on comm->shm
 * (a plait_hier's node: across nodes too), the sum divided by divisor, an
 * allgather of count > 0 elements from each rank, or a broadcast of count >
 * 0 elements from root, queued behind the ones started before it. */
plait_status_t plait_shm_allreduce(plait_request_t *req, plait_comm_t *comm, const void *sendbuf,
                                   void *recvbuf, size_t count, plait_dtype_t dtype, int divisor);
plait_status_t plait_shm_allgather(plait_request_t *req, plait_comm_t *comm, const void *sendbuf,
                                   void *recvbuf, size_t count, plait_dtype_t dtype);
plait_status_t plait_shm_broadcast(plait_request_t *req, plait_comm_t *comm, void *buf,
                                   size_t count, plait_dtype_t dtype, int root);
/* A reduce-scatter of count > 0 elements a block, the sum divided by
 * divisor, and a barrier, on comm->shm, queued likewise. */
plait_status_t plait_shm_reduce_scatter(plait_request_t *req, plait_comm_t *comm,
                                        const void *sendbuf, void *recvbuf, size_t count,
                                        plait_dtype_t dtype, int divisor);
plait_status_t plait_shm_barrier(plait_request_t *req, plait_comm_t *comm);
plait_status_t plait_shm_progress(plait_request_t *req, double *last_progress);
int plait_shm_waiting_for(const plait_request_t *req);
void plait_shm_free(plait_request_t *req);

/* reduce.c */
/* dst and src must not overlap. */
void plait_reduce_sum(void *restrict dst, const void *restrict src, size_t count,
                      plait_dtype_t dtype);
void plait_scale(void *buf, size_t count, plait_dtype_t dtype, int divisor);
/* dst = the sum of srcs[0..nsrc), left to right, divided by divisor, also
 * written to dst2 unless it is NULL; dst may be one of the srcs, no other
 * overlaps. */
void plait_reduce_many(void *dst, void *dst2, const void *const *srcs, int nsrc, size_t count,
                       plait_dtype_t dtype, int divisor);
float plait_bf16_to_float(uint16_t v);
uint16_t plait_float_to_bf16(float f);

#endif
