/* The node-local shared-memory path (shm.c, shm_allreduce.c). Internal. */
#ifndef PLAIT_RUNTIME_SHM_H
#define PLAIT_RUNTIME_SHM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/internal.h"

/* An allreduce goes through the staging slots this many bytes of the buffer
 * at a time, in two slots per group that alternate. Every chunk costs two
 * waits for all peers: with 4 ranks on 2 cores 4 MiB chunks made 4 and 16 MiB
 * allreduces 1.3-4.6x faster than 1 MiB ones (docs/performance.md). */
#define PLAIT_SHM_CHUNK (4u << 20)
/* The hierarchical allreduce's chunks stage in a slot's lower half, and the
 * leader's result goes out through its upper half. */
_Static_assert(PLAIT_HIER_CHUNK <= PLAIT_SHM_CHUNK / 2, "hierarchical chunk above half a slot");

/* Where a rank's data or result for a chunk lies: in its own staging slot
 * (id 0), or at offset in its plait_mem_alloc region id, memfd fd. */
typedef struct {
    uint64_t id, offset;
    int64_t fd;
} plait_shm_ref_t;

/* One group's control words in a rank's segment. Each counter is the last
 * chunk sequence number (1, 2, ... over the life of the group) this rank
 * finished that step of, written only by the owner and read by its peers;
 * each sits on its own cache line. src and dst[s % 2] say where chunk s's
 * data and result are. In the hierarchical allreduce the leader's gathered
 * says that chunk s of the final result is readable, the others' that they
 * copied it, and the leader bumps beat while chunks are in flight to the
 * other nodes, so that its node's ranks know it is still at work. */
typedef struct {
    _Alignas(64) uint64_t arrived;  /* chunk staged (or its region published) */
    _Alignas(64) uint64_t reduced;  /* my slice of the chunk reduced */
    _Alignas(64) uint64_t gathered; /* every peer's slice copied out */
    _Alignas(64) uint64_t beat;
    _Alignas(64) plait_shm_ref_t src[2], dst[2];
} plait_shm_ctrl_t;

typedef struct {
    pid_t pid;
    plait_shm_ctrl_t ctrl[4]; /* per plait_group_t */
    uint32_t failed;          /* set once error holds why this rank failed */
    char error[512];
} plait_shm_head_t;

#define PLAIT_SHM_HEAD 4096u
_Static_assert(sizeof(plait_shm_head_t) <= PLAIT_SHM_HEAD, "shm head larger than its page");
#define PLAIT_SHM_BYTES (PLAIT_SHM_HEAD + 4u * 2u * PLAIT_SHM_CHUNK)

/* Group g's slot b in a segment. */
static inline char *plait_shm_slot(plait_shm_head_t *h, plait_group_t g, unsigned b)
{
    return (char *)h + PLAIT_SHM_HEAD + ((size_t)g * 2 + b) * PLAIT_SHM_CHUNK;
}

/* A plait_mem_alloc region holding [ptr, ptr + bytes): fills ref. */
bool plait_shm_find(const plait_context_t *ctx, const void *ptr, size_t bytes,
                    plait_shm_ref_t *ref);
/* Where ref of rank world_rank lies in this process (mapped on first use);
 * NULL, errno set, if it cannot be mapped or holds fewer than bytes past its
 * offset (ERANGE). */
char *plait_shm_peer_region(plait_context_t *ctx, int world_rank, const plait_shm_ref_t *ref,
                            size_t bytes);

/* shm_allreduce.c: a communicator's node-local state, from the segments of
 * its ranks (segs: per world rank); for a plait_hier's node, leaders is the
 * plait_hier's leaders, else NULL. */
plait_status_t plait_shm_comm_open(plait_comm_t *comm, plait_shm_head_t **segs,
                                   plait_comm_t *leaders);
void plait_shm_comm_close(plait_comm_t *comm);

#endif
