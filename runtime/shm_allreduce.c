/* The node-local collectives, for a communicator whose ranks all share this
 * node. The allreduce is a reduce-scatter in which each rank reads its slice
 * straight out of every peer's data, then an all-gather in which each copies
 * the others' reduced slices, with no messages and three synchronisation
 * points per chunk (data in, slices reduced, slices read), each a counter
 * every peer polls. Fewer sync points than a ring's 2(p-1) steps matters most when ranks
 * outnumber cores: every wait for a peer that is not running costs a
 * scheduler round.
 *
 * A rank's data and result live either in its plait_mem_alloc memory, which
 * peers map and read in place (zero copies), or in its staging slot: the
 * rank copies the slices the others reduce into the slot, and writes its own
 * reduced slice there for them. Plain buffers go through the slots a chunk
 * (PLAIT_SHM_CHUNK bytes) at a time, alternating between two slots so that
 * the reduced-slices wait of chunk s also frees the slot chunk s + 1 reuses;
 * when every rank's buffers are registered the whole buffer is one chunk.
 *
 * A rank whose own memory peers read (registered) waits until all have read
 * it before returning. Every wait is bounded like any other: plait_wait's
 * timeout, plait-run's death notices, and a check that the process waited
 * for still exists (and has not failed: then its error is taken over).
 *
 * Hierarchical (a communicator across nodes; this one is its ranks on this
 * node): the same reduce-scatter, in chunks of PLAIT_HIER_CHUNK bytes
 * (registered or not), after which only the node's leader (rank 0) gathers
 * each chunk's node sum; the leader all-reduces each gathered chunk with the
 * other nodes' leaders over UCX (plait_net_pipe_t: every chunk with the
 * algorithm of the whole buffer, so the bits do not depend on the chunks;
 * a rank alone on its node runs the same chunks on its own data), and the
 * node's ranks copy each finished chunk of the result out of the leader's
 * memory. The three run at once on different chunks: there is no progress
 * thread, so every call that progresses the allreduce takes each stream as
 * far as it can go without waiting (a chunk's local step at a time, the
 * leader then progressing its UCX requests), and a rank waits only when none
 * can move. Every rank ends with the leader's bits.
 *
 * The leader publishes a chunk of the result in its gathered counter (from
 * its registered memory in place, else through the upper half of its
 * staging slot, the lower half holding the reduce-scatter's chunk), and the
 * others say in theirs that they copied it; the leader reuses a result slot
 * two chunks on, once all have copied out of it.
 *
 * The allgather and the broadcast move data without reducing it, a chunk at
 * a time through the same slots (or from registered memory in place): each
 * rank that gives (every rank, or the root) makes its chunk readable and
 * bumps arrived, the others copy it and bump gathered. Every rank bumps
 * gathered for every chunk, and no rank refills a slot before every peer has
 * gathered the chunk two before (slot_free), whichever collective that was;
 * a giver whose registered memory the others read waits for them at the end.
 *
 * The reduce-scatter is the allreduce's first half: a slot holds a chunk of
 * every block (each rank stages all but its own), each rank reduces its own
 * block's chunk from every rank's data straight into recvbuf and bumps
 * gathered, and the next chunk's slot_free is the only other wait. The
 * barrier takes a sequence number with no data: arrived and gathered, then
 * a wait for every peer's arrival. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/shm.h"

struct plait_shm_comm {
    int size, me;
    plait_group_t group;
    plait_comm_t *leaders;   /* hierarchical: the node leaders' communicator, else NULL */
    plait_shm_head_t **segs; /* per comm rank */
    uint64_t seq;            /* chunks started on this communicator */
    plait_request_t *queue;  /* allreduces started and not done, oldest first */
};

/* The hierarchical allreduce runs STAGE, ARRIVED (and on the leader GATHER)
 * per chunk, then RESULT until the last chunk of the result is out. */
typedef enum { ST_STAGE, ST_ARRIVED, ST_GATHER, ST_RELEASE, ST_RESULT, ST_DONE } shm_state_t;

typedef enum {
    SHM_ALLREDUCE,
    SHM_ALLGATHER,
    SHM_BROADCAST,
    SHM_REDUCE_SCATTER,
    SHM_BARRIER
} shm_kind_t;

struct plait_shm_coll {
    plait_comm_t *comm;
    shm_kind_t kind;
    int root; /* a broadcast's */
    plait_dtype_t dtype;
    const char *src;
    char *dst;
    size_t count, esize;
    size_t src_count;       /* elements in a rank's sendbuf: a reduce-scatter's, size x count */
    size_t chunk, off, len; /* elements: chunk size, this chunk's start and length */
    uint64_t s;             /* this chunk's sequence number */
    uint64_t base;          /* the sequence number before the first chunk's */
    int divisor;
    plait_shm_ref_t src_ref, dst_ref; /* id 0: not registered, through the slot */
    shm_state_t state;
    int lagging; /* the comm rank waited for, -1 if none */
    double next_liveness;
    size_t out;            /* hierarchical: elements of the result published (leader) or copied */
    plait_net_pipe_t net;  /* the hierarchical leader's step across nodes */
    uint64_t beat;         /* the leader's beat last seen */
    plait_request_t *next; /* in the communicator's queue */
};

plait_status_t plait_shm_comm_open(plait_comm_t *comm, plait_shm_head_t **segs,
                                   plait_comm_t *leaders)
{
    struct plait_shm_comm *sc = calloc(1, sizeof *sc);
    if (sc)
        sc->segs = calloc((size_t)comm->size, sizeof *sc->segs);
    if (!sc || !sc->segs) {
        free(sc);
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for shared-memory state");
    }
    sc->size = comm->size;
    sc->me = comm->rank;
    sc->group = comm->group;
    sc->leaders = leaders;
    for (int i = 0; i < comm->size; i++)
        sc->segs[i] = segs[comm->world_ranks[i]];
    comm->shm = sc;
    return PLAIT_OK;
}

void plait_shm_comm_close(plait_comm_t *comm)
{
    if (comm->shm)
        free(comm->shm->segs);
    free(comm->shm);
    comm->shm = NULL;
}

static plait_shm_ctrl_t *ctrl(const struct plait_shm_comm *sc, int rank)
{
    return &sc->segs[rank]->ctrl[sc->group];
}

static void block(size_t count, int n, int i, size_t *off, size_t *len)
{
    size_t base = count / (size_t)n, extra = count % (size_t)n, ui = (size_t)i;
    *off = ui * base + (ui < extra ? ui : extra);
    *len = base + (ui < extra ? 1 : 0);
}

/* req's node-local collective of count elements a rank, queued behind the
 * ones started before it; NULL when out of memory. */
static struct plait_shm_coll *enqueue(plait_request_t *req, plait_comm_t *comm, shm_kind_t kind,
                                      const void *sendbuf, void *recvbuf, size_t count,
                                      plait_dtype_t dtype)
{
    struct plait_shm_comm *sc = comm->shm;
    struct plait_shm_coll *a = req->shm = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->comm = comm;
    a->kind = kind;
    a->dtype = dtype;
    a->src = sendbuf;
    a->dst = recvbuf;
    a->count = count;
    a->esize = plait_dtype_size(dtype);
    a->chunk = (sc->leaders ? PLAIT_HIER_CHUNK : PLAIT_SHM_CHUNK) / a->esize;
    a->src_count = count;
    if (kind == SHM_REDUCE_SCATTER) {
        /* A chunk of every block in one slot. */
        a->src_count = count * (size_t)sc->size;
        a->chunk /= (size_t)sc->size;
    }
    a->lagging = -1;
    if (!count || !plait_shm_find(req->ctx, sendbuf, a->src_count * a->esize, &a->src_ref))
        a->src_ref.id = 0;
    if (!count || !plait_shm_find(req->ctx, recvbuf, count * a->esize, &a->dst_ref))
        a->dst_ref.id = 0;
    plait_request_t **tail = &sc->queue;
    while (*tail)
        tail = &(*tail)->shm->next;
    *tail = req;
    return a;
}

plait_status_t plait_shm_allreduce(plait_request_t *req, plait_comm_t *comm, const void *sendbuf,
                                   void *recvbuf, size_t count, plait_dtype_t dtype, int divisor)
{
    struct plait_shm_comm *sc = comm->shm;
    struct plait_shm_coll *a = enqueue(req, comm, SHM_ALLREDUCE, sendbuf, recvbuf, count, dtype);
    if (!a)
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for an allreduce");
    a->divisor = divisor;
    if (sc->leaders && sc->me == 0)
        plait_net_pipe_init(&a->net, sc->leaders, recvbuf, count, dtype, divisor);
    return PLAIT_OK;
}

plait_status_t plait_shm_allgather(plait_request_t *req, plait_comm_t *comm, const void *sendbuf,
                                   void *recvbuf, size_t count, plait_dtype_t dtype)
{
    if (!enqueue(req, comm, SHM_ALLGATHER, sendbuf, recvbuf, count, dtype))
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for an allgather");
    return PLAIT_OK;
}

plait_status_t plait_shm_broadcast(plait_request_t *req, plait_comm_t *comm, void *buf,
                                   size_t count, plait_dtype_t dtype, int root)
{
    struct plait_shm_coll *a = enqueue(req, comm, SHM_BROADCAST, buf, buf, count, dtype);
    if (!a)
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a broadcast");
    a->root = root;
    return PLAIT_OK;
}

plait_status_t plait_shm_reduce_scatter(plait_request_t *req, plait_comm_t *comm,
                                        const void *sendbuf, void *recvbuf, size_t count,
                                        plait_dtype_t dtype, int divisor)
{
    struct plait_shm_coll *a =
        enqueue(req, comm, SHM_REDUCE_SCATTER, sendbuf, recvbuf, count, dtype);
    if (!a)
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a reduce-scatter");
    a->divisor = divisor;
    return PLAIT_OK;
}

plait_status_t plait_shm_barrier(plait_request_t *req, plait_comm_t *comm)
{
    if (!enqueue(req, comm, SHM_BARRIER, NULL, NULL, 0, PLAIT_FLOAT32))
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a barrier");
    return PLAIT_OK;
}

/* Copy this rank's chunk, but for its own slice, into its slot. */
static void stage(struct plait_shm_coll *a, char *slot)
{
    struct plait_shm_comm *sc = a->comm->shm;
    size_t mo, ml, es = a->esize;
    block(a->len, sc->size, sc->me, &mo, &ml);
    memcpy(slot, a->src + a->off * es, mo * es);
    memcpy(slot + (mo + ml) * es, a->src + (a->off + mo + ml) * es, (a->len - mo - ml) * es);
}

/* Where rank j's data (or result) for this chunk is, at element offset
 * `at` of the chunk; NULL if its memory cannot be mapped. */
static const char *peer_part(plait_context_t *ctx, struct plait_shm_coll *a, int j,
                             const plait_shm_ref_t *ref, size_t at)
{
    struct plait_shm_comm *sc = a->comm->shm;
    if (!ref->id)
        return plait_shm_slot(sc->segs[j], sc->group, (unsigned)(a->s % 2)) + at * a->esize;
    char *base = plait_shm_peer_region(ctx, a->comm->world_ranks[j], ref, a->src_count * a->esize);
    return base ? base + (a->off + at) * a->esize : NULL;
}

/* Mapping fails here, not at the peer: this process's memory or descriptor
 * limit (errno) is the cause to name. */
static plait_status_t unmappable(plait_context_t *ctx, struct plait_shm_coll *a, int j)
{
    char what[160];
    snprintf(what, sizeof what, "cannot map its plait_mem_alloc memory here: %s", strerror(errno));
    return plait_peer_error(ctx, a->comm->world_ranks[j], PLAIT_ERR_PEER, what);
}

/* Reduce this rank's slice of the chunk from every rank's data, in comm rank
 * order: each element has one reducer, so every rank ends with the same bits,
 * and the order does not depend on who reduces it, so neither do the bits on
 * how the buffer was cut into chunks (registered or not). */
static plait_status_t reduce(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    unsigned b = (unsigned)(a->s % 2);
    size_t mo, ml, es = a->esize;
    block(a->len, sc->size, sc->me, &mo, &ml);
    if (!ml)
        return PLAIT_OK;
    const void *srcs[sc->size];
    for (int j = 0; j < sc->size; j++) {
        srcs[j] = j == sc->me ? a->src + (a->off + mo) * es
                              : peer_part(ctx, a, j, &ctrl(sc, j)->src[b], mo);
        if (!srcs[j])
            return unmappable(ctx, a, j);
    }
    /* Hierarchical: the leader gathers the slices and divides at the end;
     * its own slice is read by no one. */
    bool hier = sc->leaders != NULL;
    char *slot = a->dst_ref.id || (hier && sc->me == 0)
                     ? NULL
                     : plait_shm_slot(sc->segs[sc->me], sc->group, b) + mo * es;
    plait_reduce_many(a->dst + (a->off + mo) * es, slot, srcs, sc->size, ml, a->dtype,
                      hier ? 1 : a->divisor);
    return PLAIT_OK;
}

static plait_status_t gather(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    unsigned b = (unsigned)(a->s % 2);
    for (int j = 0; j < sc->size; j++) {
        size_t jo, jl;
        block(a->len, sc->size, j, &jo, &jl);
        if (j == sc->me || !jl)
            continue;
        const char *from = peer_part(ctx, a, j, &ctrl(sc, j)->dst[b], jo);
        if (!from)
            return unmappable(ctx, a, j);
        memcpy(a->dst + (a->off + jo) * a->esize, from, jl * a->esize);
    }
    return PLAIT_OK;
}

/* Whether rank j's counter (at byte offset `which` of its control words)
 * has reached s; if not, a->lagging is j. */
static bool reached(struct plait_shm_coll *a, int j, size_t which, uint64_t s)
{
    struct plait_shm_comm *sc = a->comm->shm;
    const uint64_t *c = (const uint64_t *)((const char *)ctrl(sc, j) + which);
    if (__atomic_load_n(c, __ATOMIC_ACQUIRE) < s) {
        a->lagging = j;
        return false;
    }
    return true;
}

/* Whether every peer's counter has reached s; if not, a->lagging is the
 * first that has not. */
static bool all_reached(struct plait_shm_coll *a, size_t which, uint64_t s)
{
    struct plait_shm_comm *sc = a->comm->shm;
    for (int j = 0; j < sc->size; j++)
        if (j != sc->me && !reached(a, j, which, s))
            return false;
    return true;
}

static void publish(struct plait_shm_coll *a, size_t which, uint64_t s)
{
    struct plait_shm_comm *sc = a->comm->shm;
    __atomic_store_n((uint64_t *)((char *)ctrl(sc, sc->me) + which), s, __ATOMIC_RELEASE);
}

/* Is comm rank j's process still there, and has it not failed? A rank that
 * failed says why in its segment, and that (say, the rank on another node
 * its leader waited for) is the cause. */
static plait_status_t check_peer(plait_context_t *ctx, struct plait_shm_coll *a, int j)
{
    plait_shm_head_t *peer = a->comm->shm->segs[j];
    if (__atomic_load_n(&peer->failed, __ATOMIC_ACQUIRE))
        return plait_fail(ctx, PLAIT_ERR_PEER, "%.*s", (int)sizeof peer->error - 1, peer->error);
    pid_t pid = peer->pid;
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        char what[64];
        snprintf(what, sizeof what, "its process %d is gone", (int)pid);
        return plait_peer_error(ctx, a->comm->world_ranks[j], PLAIT_ERR_PEER, what);
    }
    return PLAIT_OK;
}

/* Ten times a second while waiting: check the rank waited for, and other
 * (unless -1), which another stream of the hierarchical allreduce waits for. */
static plait_status_t check_alive(plait_context_t *ctx, struct plait_shm_coll *a, int other)
{
    double now = plait_now();
    if (now < a->next_liveness)
        return PLAIT_OK;
    a->next_liveness = now + 0.1;
    plait_status_t st = a->lagging >= 0 ? check_peer(ctx, a, a->lagging) : PLAIT_OK;
    return st == PLAIT_OK && other >= 0 && other != a->lagging ? check_peer(ctx, a, other) : st;
}

/* Whether every rank's data for this chunk (and, with results, its result)
 * lies in registered memory. */
static bool all_registered(struct plait_shm_coll *a, bool results)
{
    struct plait_shm_comm *sc = a->comm->shm;
    unsigned b = (unsigned)(a->s % 2);
    for (int j = 0; j < sc->size; j++)
        if (!ctrl(sc, j)->src[b].id || (results && !ctrl(sc, j)->dst[b].id))
            return false;
    return true;
}

/* Where chunk s of the leader's result lies: its registered memory, else the
 * upper half of its slot; NULL if its memory cannot be mapped. */
static const char *leader_result(plait_context_t *ctx, struct plait_shm_coll *a, uint64_t s)
{
    struct plait_shm_comm *sc = a->comm->shm;
    const plait_shm_ref_t *ref = &ctrl(sc, 0)->dst[s % 2];
    if (!ref->id)
        return plait_shm_slot(sc->segs[0], sc->group, (unsigned)(s % 2)) + PLAIT_SHM_CHUNK / 2;
    char *base = plait_shm_peer_region(ctx, a->comm->world_ranks[0], ref, a->count * a->esize);
    return base ? base + a->out * a->esize : NULL;
}

/* The next chunk of the result: the leader publishes it once the leaders
 * are done with it and, through its slot, once the others have copied the
 * chunk before it out of the same slot; the others copy it. */
static plait_status_t result_chunk(plait_context_t *ctx, struct plait_shm_coll *a, bool *moved)
{
    struct plait_shm_comm *sc = a->comm->shm;
    size_t len = a->count - a->out < a->chunk ? a->count - a->out : a->chunk, es = a->esize;
    uint64_t s = a->base + 1 + a->out / a->chunk;
    size_t gathered = offsetof(plait_shm_ctrl_t, gathered);
    *moved = false;
    if (sc->me == 0) {
        if (a->net.done < a->out + len)
            return PLAIT_OK;
        if (!a->dst_ref.id) {
            if (s - a->base > 2 && !all_reached(a, gathered, s - 2))
                return PLAIT_OK;
            memcpy(plait_shm_slot(sc->segs[0], sc->group, (unsigned)(s % 2)) + PLAIT_SHM_CHUNK / 2,
                   a->dst + a->out * es, len * es);
        }
    } else {
        if (!reached(a, 0, gathered, s))
            return PLAIT_OK;
        const char *from = leader_result(ctx, a, s);
        if (!from)
            return unmappable(ctx, a, 0);
        memcpy(a->dst + a->out * es, from, len * es);
    }
    publish(a, gathered, s);
    a->out += len;
    *moved = true;
    return PLAIT_OK;
}

/* Waiting for the leader while it waits for the other nodes: its beat says it
 * is at work, which counts as progress here (its own timeout governs). */
static void leader_beat(struct plait_shm_coll *a, double *last_progress)
{
    uint64_t beat = __atomic_load_n(&ctrl(a->comm->shm, 0)->beat, __ATOMIC_RELAXED);
    if (beat != a->beat) {
        a->beat = beat;
        *last_progress = plait_now();
    }
}

/* Whether this rank may fill its slot (and its control words' refs) for
 * chunk s: every peer has copied out of chunk s - 2, the slot's last use,
 * which may have been another collective's that did not wait for its
 * readers. Within one allreduce the wait for the previous chunk's reduced
 * slices has already seen to it. */
static bool slot_free(struct plait_shm_coll *a, uint64_t s)
{
    return s <= 2 || all_reached(a, offsetof(plait_shm_ctrl_t, gathered), s - 2);
}

/* A wait in step(): the hierarchical round checks once for all its streams. */
static plait_status_t waiting(plait_context_t *ctx, struct plait_shm_coll *a)
{
    return a->comm->shm->leaders ? PLAIT_OK : check_alive(ctx, a, -1);
}

/* The last step of a rank whose registered memory the others read: done
 * once every peer says it has read the last chunk. */
static plait_status_t release(plait_context_t *ctx, struct plait_shm_coll *a)
{
    if (!all_reached(a, offsetof(plait_shm_ctrl_t, gathered), a->s))
        return waiting(ctx, a);
    a->state = ST_DONE;
    return PLAIT_OK;
}

static plait_status_t step(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    plait_shm_ctrl_t *mine = ctrl(sc, sc->me);
    bool hier = sc->leaders != NULL, leader = sc->me == 0;
    switch (a->state) {
    case ST_STAGE: {
        if (!hier && !slot_free(a, sc->seq + 1))
            return waiting(ctx, a);
        if (a->off == 0)
            a->base = sc->seq;
        a->s = ++sc->seq;
        unsigned b = (unsigned)(a->s % 2);
        a->len = a->count - a->off < a->chunk ? a->count - a->off : a->chunk;
        if (!a->src_ref.id)
            stage(a, plait_shm_slot(sc->segs[sc->me], sc->group, b));
        mine->src[b] = a->src_ref;
        mine->dst[b] = a->dst_ref;
        publish(a, offsetof(plait_shm_ctrl_t, arrived), a->s);
        a->state = ST_ARRIVED;
        return PLAIT_OK;
    }
    case ST_ARRIVED: {
        if (!all_reached(a, offsetof(plait_shm_ctrl_t, arrived), a->s))
            return waiting(ctx, a);
        if (a->off == 0 && !hier && all_registered(a, true))
            a->len = a->chunk = a->count;
        plait_status_t st = reduce(ctx, a);
        if (st != PLAIT_OK)
            return st;
        publish(a, offsetof(plait_shm_ctrl_t, reduced), a->s);
        if (hier && !leader) {
            /* Only the leader gathers. This rank stages into the slot again
             * two chunks on, after the leader's arrival for the next chunk,
             * which the leader publishes only once it has gathered this one. */
            a->off += a->len;
            a->state = a->off < a->count ? ST_STAGE : ST_RESULT;
            return PLAIT_OK;
        }
        a->state = ST_GATHER;
        return PLAIT_OK;
    }
    case ST_GATHER: {
        if (!all_reached(a, offsetof(plait_shm_ctrl_t, reduced), a->s))
            return waiting(ctx, a);
        plait_status_t st = gather(ctx, a);
        if (st != PLAIT_OK)
            return st;
        a->off += a->len;
        if (hier) {
            a->state = a->off < a->count ? ST_STAGE : ST_RESULT;
            return PLAIT_OK;
        }
        publish(a, offsetof(plait_shm_ctrl_t, gathered), a->s);
        a->state = a->off < a->count                ? ST_STAGE
                   : a->src_ref.id || a->dst_ref.id ? ST_RELEASE
                                                    : ST_DONE;
        return PLAIT_OK;
    }
    case ST_RELEASE:
        return release(ctx, a);
    case ST_RESULT:
    case ST_DONE:
        break;
    }
    return PLAIT_OK;
}

/* One step of an allgather or a broadcast: STAGE, ARRIVED per chunk, then
 * RELEASE on a rank whose registered memory the others read. */
static plait_status_t copy_step(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    size_t es = a->esize, gathered = offsetof(plait_shm_ctrl_t, gathered);
    bool gives = a->kind == SHM_ALLGATHER || sc->me == a->root;
    switch (a->state) {
    case ST_STAGE: {
        uint64_t s = sc->seq + 1;
        unsigned b = (unsigned)(s % 2);
        if (gives && !slot_free(a, s))
            return waiting(ctx, a);
        a->s = ++sc->seq;
        a->len = a->count - a->off < a->chunk ? a->count - a->off : a->chunk;
        if (gives) {
            if (!a->src_ref.id)
                memcpy(plait_shm_slot(sc->segs[sc->me], sc->group, b), a->src + a->off * es,
                       a->len * es);
            ctrl(sc, sc->me)->src[b] = a->src_ref;
            publish(a, offsetof(plait_shm_ctrl_t, arrived), a->s);
        }
        a->state = ST_ARRIVED;
        return PLAIT_OK;
    }
    case ST_ARRIVED: {
        bool all = a->kind == SHM_ALLGATHER;
        if (all ? !all_reached(a, offsetof(plait_shm_ctrl_t, arrived), a->s)
                : !reached(a, a->root, offsetof(plait_shm_ctrl_t, arrived), a->s))
            return waiting(ctx, a);
        for (int j = 0; j < sc->size; j++) {
            if ((!all && j != a->root) || (j == sc->me && a->kind == SHM_BROADCAST))
                continue;
            char *to = a->dst + ((all ? (size_t)j * a->count : 0) + a->off) * es;
            const char *from = j == sc->me ? a->src + a->off * es
                                           : peer_part(ctx, a, j, &ctrl(sc, j)->src[a->s % 2], 0);
            if (!from)
                return unmappable(ctx, a, j);
            if (to != from)
                memcpy(to, from, a->len * es);
        }
        publish(a, gathered, a->s);
        a->off += a->len;
        a->state = a->off < a->count ? ST_STAGE : gives && a->src_ref.id ? ST_RELEASE : ST_DONE;
        return PLAIT_OK;
    }
    case ST_RELEASE:
        return release(ctx, a);
    default:
        return PLAIT_OK;
    }
}

/* Where rank j's part of block `me` for this reduce-scatter chunk lies: in
 * its slot, where it staged each block's part of the chunk one after the
 * other (its own left out), or in place in its registered sendbuf; NULL if
 * that cannot be mapped. */
static const char *rs_part(plait_context_t *ctx, struct plait_shm_coll *a, int j)
{
    struct plait_shm_comm *sc = a->comm->shm;
    size_t es = a->esize, me = (size_t)sc->me;
    if (j == sc->me)
        return a->src + (me * a->count + a->off) * es;
    const plait_shm_ref_t *ref = &ctrl(sc, j)->src[a->s % 2];
    if (!ref->id)
        return plait_shm_slot(sc->segs[j], sc->group, (unsigned)(a->s % 2)) + me * a->len * es;
    char *base = plait_shm_peer_region(ctx, a->comm->world_ranks[j], ref, a->src_count * es);
    return base ? base + (me * a->count + a->off) * es : NULL;
}

/* One step of a reduce-scatter: per chunk, STAGE (every rank makes its part
 * of each block readable and bumps arrived) and ARRIVED (each reduces its
 * own block's part from every rank's data in comm rank order, straight into
 * recvbuf, and bumps gathered: it has read the chunk); then RELEASE on a rank
 * whose registered sendbuf the others read. The next chunk goes to the other
 * slot, which slot_free hands back once every peer has read the chunk
 * before: no second wait per chunk, as the allreduce's gather has. */
static plait_status_t rs_step(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    size_t es = a->esize, gathered = offsetof(plait_shm_ctrl_t, gathered);
    switch (a->state) {
    case ST_STAGE: {
        if (!slot_free(a, sc->seq + 1))
            return waiting(ctx, a);
        a->s = ++sc->seq;
        unsigned b = (unsigned)(a->s % 2);
        a->len = a->count - a->off < a->chunk ? a->count - a->off : a->chunk;
        char *slot = plait_shm_slot(sc->segs[sc->me], sc->group, b);
        for (int k = 0; !a->src_ref.id && k < sc->size; k++)
            if (k != sc->me)
                memcpy(slot + (size_t)k * a->len * es,
                       a->src + ((size_t)k * a->count + a->off) * es, a->len * es);
        ctrl(sc, sc->me)->src[b] = a->src_ref;
        publish(a, offsetof(plait_shm_ctrl_t, arrived), a->s);
        a->state = ST_ARRIVED;
        return PLAIT_OK;
    }
    case ST_ARRIVED: {
        if (!all_reached(a, offsetof(plait_shm_ctrl_t, arrived), a->s))
            return waiting(ctx, a);
        if (a->off == 0 && all_registered(a, false))
            a->len = a->chunk = a->count;
        const void *srcs[sc->size];
        for (int j = 0; j < sc->size; j++)
            if (!(srcs[j] = rs_part(ctx, a, j)))
                return unmappable(ctx, a, j);
        plait_reduce_many(a->dst + a->off * es, NULL, srcs, sc->size, a->len, a->dtype, a->divisor);
        publish(a, gathered, a->s);
        a->off += a->len;
        a->state = a->off < a->count ? ST_STAGE : a->src_ref.id ? ST_RELEASE : ST_DONE;
        return PLAIT_OK;
    }
    case ST_RELEASE:
        return release(ctx, a);
    default:
        return PLAIT_OK;
    }
}

/* A barrier takes a sequence number of its own, with no data: every rank
 * bumps arrived and, since it reads nothing, gathered (slot_free counts on
 * every rank bumping it for every number), and waits until all have
 * arrived. Being queued like the others, a rank arrives only once it is done
 * with every collective started before on the communicator. */
static plait_status_t barrier_step(plait_context_t *ctx, struct plait_shm_coll *a)
{
    struct plait_shm_comm *sc = a->comm->shm;
    if (a->state == ST_STAGE) {
        a->s = ++sc->seq;
        publish(a, offsetof(plait_shm_ctrl_t, gathered), a->s);
        publish(a, offsetof(plait_shm_ctrl_t, arrived), a->s);
        a->state = ST_ARRIVED;
        return PLAIT_OK;
    }
    if (a->state == ST_ARRIVED) {
        if (!all_reached(a, offsetof(plait_shm_ctrl_t, arrived), a->s))
            return waiting(ctx, a);
        a->state = ST_DONE;
    }
    return PLAIT_OK;
}

/* Hierarchical: take each stream as far as it goes without waiting, the
 * node's reduce-scatter first (the leaders' step feeds on it), then the
 * leaders' step, then the result; *moved says whether any advanced. While
 * the leader has chunks in flight across nodes it beats, which its node's
 * ranks waiting for the result count as progress. */
static plait_status_t hier_round(plait_context_t *ctx, struct plait_shm_coll *a,
                                 double *last_progress, bool *moved)
{
    struct plait_shm_comm *sc = a->comm->shm;
    bool leader = sc->me == 0;
    *moved = false;
    /* A chunk at a time, so that the leaders start on it at once. */
    for (size_t off = a->off; a->state < ST_RESULT && a->off == off;) {
        shm_state_t before = a->state;
        plait_status_t st = step(ctx, a);
        if (st != PLAIT_OK)
            return st;
        if (a->state == before)
            break;
        *moved = true;
    }
    int reduce_waits_for = a->lagging;
    if (leader) {
        size_t started = a->net.started, done = a->net.done;
        plait_status_t st = plait_net_pipe_progress(&a->net, a->off, last_progress);
        if (st != PLAIT_OK)
            return st;
        *moved |= a->net.started != started || a->net.done != done;
        plait_shm_ctrl_t *mine = ctrl(sc, 0);
        if (a->net.nparts)
            __atomic_store_n(&mine->beat, mine->beat + 1, __ATOMIC_RELAXED);
    }
    for (bool more = true; more && a->out < a->count;) {
        plait_status_t st = result_chunk(ctx, a, &more);
        if (st != PLAIT_OK)
            return st;
        *moved |= more;
    }
    if (!leader && a->out < a->count && a->lagging == 0)
        leader_beat(a, last_progress);
    /* The leader's memory is the others' to read until they have copied
     * the last chunk. */
    uint64_t last = a->base + (a->count + a->chunk - 1) / a->chunk;
    if (a->state == ST_RESULT && a->out == a->count &&
        (!leader || all_reached(a, offsetof(plait_shm_ctrl_t, gathered), last))) {
        a->state = ST_DONE;
        *moved = true;
    }
    return *moved ? PLAIT_OK : check_alive(ctx, a, reduce_waits_for);
}

plait_status_t plait_shm_progress(plait_request_t *req, double *last_progress)
{
    struct plait_shm_coll *a = req->shm;
    struct plait_shm_comm *sc = a->comm->shm;
    /* One collective at a time per communicator, in the order they started
     * (the same on every rank): the slots and counters are the group's. */
    if (sc->queue != req) {
        plait_status_t st = plait_coll_progress(sc->queue, last_progress);
        if (st != PLAIT_OK || sc->queue != req)
            return st;
    }
    a->lagging = -1;
    while (a->state != ST_DONE) {
        shm_state_t before = a->state;
        bool moved = false;
        plait_status_t st;
        if (sc->leaders)
            st = hier_round(req->ctx, a, last_progress, &moved);
        else if (a->kind == SHM_ALLREDUCE)
            st = step(req->ctx, a);
        else if (a->kind == SHM_REDUCE_SCATTER)
            st = rs_step(req->ctx, a);
        else if (a->kind == SHM_BARRIER)
            st = barrier_step(req->ctx, a);
        else
            st = copy_step(req->ctx, a);
        if (st != PLAIT_OK)
            return req->status = st;
        if (sc->leaders ? !moved : a->state == before)
            return PLAIT_OK;
        *last_progress = plait_now();
        a->lagging = -1;
    }
    sc->queue = a->next;
    req->done = true;
    req->status = PLAIT_OK;
    return PLAIT_OK;
}

int plait_shm_waiting_for(const plait_request_t *req)
{
    const struct plait_shm_coll *a = req->shm;
    const struct plait_shm_comm *sc = a->comm->shm;
    if (sc->queue && sc->queue != req)
        return plait_coll_waiting_for(sc->queue);
    return a->lagging >= 0 ? a->comm->world_ranks[a->lagging] : plait_net_pipe_waiting_for(&a->net);
}

void plait_shm_free(plait_request_t *req)
{
    struct plait_shm_coll *a = req->shm;
    struct plait_shm_comm *sc = a->comm->shm;
    for (plait_request_t **p = sc ? &sc->queue : NULL; p && *p; p = &(*p)->shm->next)
        if (*p == req) {
            *p = a->next;
            break;
        }
    plait_net_pipe_free(&a->net);
    free(a);
}
