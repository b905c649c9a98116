/* Host collectives over UCX. Each collective is compiled at its start into a
 * schedule: a list of sends, receives and local steps (reduce, copy, scale).
 * Sends and receives are posted as soon as the schedule reaches them; a local
 * step first waits for everything posted before it. One engine runs every
 * schedule, so the blocking calls are start + wait and plait_iallreduce is
 * start + test with no extra machinery.
 *
 * Algorithms: allreduce uses recursive doubling (log2 p steps of the whole
 * buffer, best for latency) below PLAIT_LARGE bytes; above, for a power-of-two
 * group, recursive halving then doubling (Rabenseifner: the ring's traffic in
 * 2 log2 p steps), else a ring (reduce-scatter then allgather, 2(p-1) steps
 * of 1/p). Every path handles any p (recursive doubling folds the ranks above
 * the largest power of two into the ones below). Reduce-scatter and allgather
 * are rings, broadcast a binomial tree (large: scatter from the root, then a
 * ring allgather), barrier the dissemination algorithm. */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#define PLAIT_LARGE (64u << 10)

/* Scratch buffers are kept for the next collective: a fresh large allocation
 * is a fresh mapping, and faulting in its pages cost as much as the copy. */
static void *plait_scratch_take(plait_context_t *ctx, size_t *bytes)
{
    if (ctx->scratch && ctx->scratch_bytes >= *bytes) {
        void *s = ctx->scratch;
        *bytes = ctx->scratch_bytes;
        ctx->scratch = NULL;
        return s;
    }
    return malloc(*bytes);
}

/* The cache keeps the larger of what it has and what comes back. */
static void plait_scratch_give(plait_context_t *ctx, void *s, size_t bytes)
{
    if (!s)
        return;
    if (ctx->scratch && ctx->scratch_bytes >= bytes) {
        free(s);
        return;
    }
    free(ctx->scratch);
    ctx->scratch = s;
    ctx->scratch_bytes = bytes;
}

/* OP_REDUCE_AFTER waits only for the receive it consumes; every other local
 * step waits for everything posted before it. */
typedef enum {
    OP_SEND,
    OP_RECV,
    OP_REDUCE,
    OP_REDUCE_AFTER,
    OP_COPY,
    OP_SCALE,
    OP_FENCE
} op_kind_t;

/* Large reduce steps move a block in segments of this many bytes, and every
 * segment lands in the same scratch slot: the next receive is posted only
 * after the previous segment is reduced (OP_REDUCE_AFTER holds the schedule),
 * so the slot is free again, and it stays in the L2 cache between the copy
 * that writes it and the reduction that reads it. Of 64 KiB to 1 MiB, 256 KiB
 * was fastest at 16 MiB: smaller segments pay more rendezvous handshakes,
 * larger ones spill the slot out of L2 (docs/performance.md). */
#define PLAIT_SEGMENT (256u << 10)

typedef struct {
    op_kind_t kind;
    int peer;       /* comm rank, for send and receive */
    unsigned phase; /* matches a send to its receive within one collective */
    void *dst;
    const void *src;
    size_t count; /* elements */
    size_t after; /* OP_REDUCE_AFTER: the receive's index among the pending */
} coll_op_t;

struct plait_collective {
    plait_comm_t *comm;
    plait_dtype_t dtype;
    size_t esize;
    uint32_t seq;
    coll_op_t *ops;
    size_t nops, cap, next;
    plait_request_t *pending; /* posted sends and receives since the last local step */
    size_t npending;
    void *scratch;
    size_t scratch_bytes;
    size_t posted; /* sends and receives added since the last waiting step */
    int divisor;   /* OP_SCALE's */
    bool oom;
};

static void add(struct plait_collective *c, coll_op_t op)
{
    if (c->nops == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        coll_op_t *ops = realloc(c->ops, cap * sizeof *ops);
        if (!ops) {
            c->oom = true;
            return;
        }
        c->ops = ops;
        c->cap = cap;
    }
    c->ops[c->nops++] = op;
    if (op.kind == OP_SEND || op.kind == OP_RECV)
        c->posted++;
    else if (op.kind != OP_REDUCE_AFTER)
        c->posted = 0;
}

static char *at(const struct plait_collective *c, const void *base, size_t elem)
{
    return (char *)base + elem * c->esize;
}

static void send_op(struct plait_collective *c, int peer, unsigned phase, const void *buf,
                    size_t count)
{
    add(c, (coll_op_t){.kind = OP_SEND, .peer = peer, .phase = phase, .src = buf, .count = count});
}

static void recv_op(struct plait_collective *c, int peer, unsigned phase, void *buf, size_t count)
{
    add(c, (coll_op_t){.kind = OP_RECV, .peer = peer, .phase = phase, .dst = buf, .count = count});
}

/* Reduce src into dst once the receive into src, the last one added, is done. */
static void reduce_after_recv(struct plait_collective *c, void *dst, const void *src, size_t count)
{
    add(c, (coll_op_t){.kind = OP_REDUCE_AFTER,
                       .dst = dst,
                       .src = src,
                       .count = count,
                       .after = c->posted - 1});
}

static void local_op(struct plait_collective *c, op_kind_t kind, void *dst, const void *src,
                     size_t count)
{
    add(c, (coll_op_t){.kind = kind, .dst = dst, .src = src, .count = count});
}

/* Block i of a buffer of count elements split over n ranks. */
static void block(size_t count, int n, int i, size_t *off, size_t *len)
{
    size_t base = count / (size_t)n, extra = count % (size_t)n, ui = (size_t)i;
    *off = ui * base + (ui < extra ? ui : extra);
    *len = base + (ui < extra ? 1 : 0);
}

/* Block i clipped to the part [lo, hi) of the buffer. */
static void block_in(size_t count, int n, int i, size_t lo, size_t hi, size_t *off, size_t *len)
{
    block(count, n, i, off, len);
    size_t end = *off + *len < hi ? *off + *len : hi;
    *off = *off > lo ? *off : lo;
    *len = end > *off ? end - *off : 0;
}

static int mod(int a, int n)
{
    return ((a % n) + n) % n;
}

static void build_allreduce_doubling(struct plait_collective *c, void *buf, size_t count)
{
    int n = c->comm->size, me = c->comm->rank, pof2 = 1;
    while (pof2 * 2 <= n)
        pof2 *= 2;
    void *tmp = c->scratch;
    if (me >= pof2) { /* folded: hand the data over, get the result back */
        send_op(c, me - pof2, 0, buf, count);
        recv_op(c, me - pof2, 0xfff, buf, count);
        return;
    }
    if (me + pof2 < n) {
        recv_op(c, me + pof2, 0, tmp, count);
        local_op(c, OP_REDUCE, buf, tmp, count);
    }
    unsigned phase = 1;
    for (int mask = 1; mask < pof2; mask <<= 1, phase++) {
        send_op(c, me ^ mask, phase, buf, count);
        recv_op(c, me ^ mask, phase, tmp, count);
        local_op(c, OP_REDUCE, buf, tmp, count);
    }
    if (me + pof2 < n)
        send_op(c, me + pof2, 0xfff, buf, count);
}

/* Send slen elements at src to `to` and reduce rlen elements from `from` into
 * dst, both in segments. Every send is posted at once, so the peer can pull
 * each segment as soon as it is ready for it; the receives go one segment at
 * a time through the scratch slot, each reduced as soon as it is in. */
static void exchange_reduce(struct plait_collective *c, int to, int from, unsigned phase,
                            const void *src, size_t slen, void *dst, size_t rlen)
{
    size_t seg = PLAIT_SEGMENT / c->esize;
    for (size_t o = 0; o < slen; o += seg)
        send_op(c, to, phase, at(c, src, o), slen - o < seg ? slen - o : seg);
    for (size_t o = 0; o < rlen; o += seg) {
        size_t len = rlen - o < seg ? rlen - o : seg;
        recv_op(c, from, phase, c->scratch, len);
        reduce_after_recv(c, at(c, dst, o), c->scratch, len);
    }
}

/* Rabenseifner's allreduce for a power-of-two group: reduce-scatter by
 * recursive halving, then allgather by recursive doubling. The same data as
 * the ring in 2 log2(p) steps instead of 2(p-1). A halving step reduces into
 * the half it keeps while the other half is still being sent: they are
 * disjoint, and a sent half is never touched again before the fence. */
static void build_allreduce_halving(struct plait_collective *c, void *buf, size_t count)
{
    int n = c->comm->size, me = c->comm->rank, levels = 0;
    size_t lo = 0, hi = count, plo[32], phi[32];
    unsigned phase = 0;
    for (int mask = n / 2; mask >= 1; mask >>= 1, levels++, phase++) {
        int partner = me ^ mask;
        size_t mid = lo + (hi - lo) / 2;
        plo[levels] = lo;
        phi[levels] = hi;
        if (me & mask) {
            exchange_reduce(c, partner, partner, phase, at(c, buf, lo), mid - lo, at(c, buf, mid),
                            hi - mid);
            lo = mid;
        } else {
            exchange_reduce(c, partner, partner, phase, at(c, buf, mid), hi - mid, at(c, buf, lo),
                            mid - lo);
            hi = mid;
        }
    }
    local_op(c, OP_FENCE, NULL, NULL, 0);
    for (int mask = 1; mask < n; mask <<= 1, phase++) {
        int partner = me ^ mask;
        size_t pl = plo[--levels], ph = phi[levels];
        /* The partner holds the other half of the parent range. */
        size_t olo = lo == pl ? hi : pl, ohi = lo == pl ? ph : lo;
        if (hi > lo)
            send_op(c, partner, phase, at(c, buf, lo), hi - lo);
        if (ohi > olo)
            recv_op(c, partner, phase, at(c, buf, olo), ohi - olo);
        local_op(c, OP_FENCE, NULL, NULL, 0);
        lo = pl;
        hi = ph;
    }
}

/* Ring reduce-scatter in place over buf's n blocks, of which only their
 * parts within [lo, hi) move: afterwards this rank's block me + 1 + shift
 * (the last one received) holds the full reduction.
 * Blocks travel in segments; each received segment is reduced as soon as it
 * is in, while the rest are still arriving, and no step waits for the sends
 * of the one before: step s reduces block me-s-1 while blocks me-s and
 * me-s+1 may still be read by the peer, and those differ for every n > 2
 * (n = 2 has a single step). The caller fences before reusing the blocks. */
static void build_ring_reduce_scatter(struct plait_collective *c, void *buf, size_t count,
                                      size_t lo, size_t hi, int shift)
{
    int n = c->comm->size, me = c->comm->rank;
    int right = mod(me + 1, n), left = mod(me - 1, n);
    for (int s = 0; s < n - 1; s++) {
        size_t soff, slen, roff, rlen;
        block_in(count, n, mod(me - s + shift, n), lo, hi, &soff, &slen);
        block_in(count, n, mod(me - s - 1 + shift, n), lo, hi, &roff, &rlen);
        exchange_reduce(c, right, left, (unsigned)s, at(c, buf, soff), slen, at(c, buf, roff),
                        rlen);
    }
}

/* Ring allgather in place of the blocks' parts within [lo, hi): block
 * (me + shift) is this rank's, afterwards all are. */
static void build_ring_allgather(struct plait_collective *c, void *buf, size_t count, size_t lo,
                                 size_t hi, int shift, unsigned phase0)
{
    int n = c->comm->size, me = c->comm->rank;
    int right = mod(me + 1, n), left = mod(me - 1, n);
    for (int s = 0; s < n - 1; s++) {
        size_t soff, slen, roff, rlen;
        block_in(count, n, mod(me - s + shift, n), lo, hi, &soff, &slen);
        block_in(count, n, mod(me - s - 1 + shift, n), lo, hi, &roff, &rlen);
        if (slen)
            send_op(c, right, phase0 + (unsigned)s, at(c, buf, soff), slen);
        if (rlen)
            recv_op(c, left, phase0 + (unsigned)s, at(c, buf, roff), rlen);
        local_op(c, OP_FENCE, NULL, NULL, 0);
    }
}

static plait_status_t check_start(plait_context_t *ctx, plait_dtype_t dtype)
{
    if (ctx->failed)
        return ctx->failed;
    if (dtype != PLAIT_FLOAT32 && dtype != PLAIT_BFLOAT16)
        return plait_fail(ctx, PLAIT_ERR_INVALID,
                          "dtype %d: expected PLAIT_FLOAT32 or PLAIT_BFLOAT16", (int)dtype);
    return PLAIT_OK;
}

static plait_status_t start(plait_comm_t *comm, plait_dtype_t dtype, size_t scratch_elems,
                            uint32_t seq, plait_request_t **out)
{
    plait_context_t *ctx = comm->ctx;
    plait_status_t st = check_start(ctx, dtype);
    if (st != PLAIT_OK)
        return st;
    plait_request_t *req = calloc(1, sizeof *req);
    struct plait_collective *c = calloc(1, sizeof *c);
    size_t esize = plait_dtype_size(dtype);
    size_t scratch_bytes = scratch_elems * esize + 1;
    void *scratch = plait_scratch_take(ctx, &scratch_bytes);
    if (!req || !c || !scratch) {
        free(req);
        free(c);
        plait_scratch_give(ctx, scratch, scratch_bytes);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "collective: out of memory for %zu elements",
                          scratch_elems);
    }
    *c = (struct plait_collective){.comm = comm,
                                   .dtype = dtype,
                                   .esize = esize,
                                   .seq = seq,
                                   .divisor = comm->size,
                                   .scratch = scratch,
                                   .scratch_bytes = scratch_bytes};
    *req = (plait_request_t){.ctx = ctx, .kind = REQ_COLL, .coll = c};
    *out = req;
    return PLAIT_OK;
}

/* Compiled: make room for the pending requests. Frees req on failure. */
static plait_status_t compiled(plait_request_t *req)
{
    struct plait_collective *c = req->coll;
    if ((c->pending = calloc(c->nops + 1, sizeof *c->pending)) == NULL)
        c->oom = true;
    if (c->oom) {
        plait_context_t *ctx = req->ctx;
        plait_coll_free(req);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "collective: out of memory for its schedule");
    }
    return PLAIT_OK;
}

/* Compiled (or set up on the node-local path): start running. */
static plait_status_t launch(plait_request_t *req, plait_request_t **out)
{
    plait_context_t *ctx = req->ctx;
    req->next_active = ctx->active;
    ctx->active = req;
    double unused;
    plait_status_t st = plait_coll_progress(req, &unused);
    if (st != PLAIT_OK && st != PLAIT_ERR_TIMEOUT) {
        plait_coll_free(req);
        return st;
    }
    *out = req;
    return PLAIT_OK;
}

/* A node-local collective (shm_allreduce.c) that set up req with status st:
 * started and, with wait, run to completion. Frees req on failure. */
static plait_status_t run_shm(plait_request_t *req, plait_status_t st, bool wait,
                              plait_request_t **out)
{
    if (st != PLAIT_OK) {
        plait_coll_free(req);
        return st;
    }
    st = launch(req, out);
    return st == PLAIT_OK && wait ? plait_wait(*out) : st;
}

/* Whether an allgather or broadcast takes the node-local path: its copies
 * go through the staging slots, two per element from plain memory where
 * UCX's single-copy exchange (CMA) moves it once, and between 2 ranks that
 * one exchange is the whole ring: there the path measured 0.77-0.88x the
 * UCX ring at 4-64 KiB and 4-16 MiB, with 4 ranks 1.1-1.8x
 * (docs/performance.md). */
static bool shm_copies(const plait_comm_t *comm, size_t count)
{
    return comm->shm && count && comm->size > 2;
}

/* Whether a reduce-scatter takes the node-local path: every group of 3 or
 * more, and groups of 2 from 64 KiB of a rank's output. Below that, UCX's
 * ring of 2 (one eager exchange) measured 1.01-1.12x the slots (a staging
 * copy and a wait on the peer); from 64 KiB the slots are 1.2-3.5x faster
 * (docs/performance.md). */
static bool shm_reduces(const plait_comm_t *comm, size_t count, plait_dtype_t dtype)
{
    return comm->shm && count && (comm->size > 2 || count * plait_dtype_size(dtype) >= PLAIT_LARGE);
}

/* An empty collective request, for the node-local path. */
static plait_status_t new_request(plait_comm_t *comm, plait_dtype_t dtype, plait_request_t **out)
{
    plait_status_t st = check_start(comm->ctx, dtype);
    if (st != PLAIT_OK)
        return st;
    if (!(*out = calloc(1, sizeof **out)))
        return plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a collective");
    **out = (plait_request_t){.ctx = comm->ctx, .kind = REQ_COLL};
    return PLAIT_OK;
}

/* Compile a blocking collective's schedule and run it to completion. */
static plait_status_t run(plait_request_t *req)
{
    plait_status_t st = compiled(req);
    if (st == PLAIT_OK)
        st = launch(req, &req);
    return st == PLAIT_OK ? plait_wait(req) : st;
}

/* An allreduce of the part [lo, hi) of a buffer of count elements, the
 * whole buffer's algorithm for every part, and for the ring the whole
 * buffer's blocks clipped to the part: every element is summed in the order
 * an allreduce of all count elements sums it, however the buffer is cut.
 * Recursive doubling and halving sum every element in an order that does not
 * depend on where it lies (ranks paired by distance, each sum commutative),
 * so they run on the part as if it were the buffer. */
static plait_status_t ucx_allreduce(plait_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, size_t lo, size_t hi, plait_dtype_t dtype,
                                    int divisor, uint32_t seq, plait_request_t **out)
{
    int n = comm->size;
    size_t esize = plait_dtype_size(dtype), len = hi - lo;
    bool large = count * esize >= PLAIT_LARGE && count >= (size_t)n;
    bool pof2 = (n & (n - 1)) == 0;
    /* Large: one segment at a time (exchange_reduce). */
    size_t scratch = !large ? len : PLAIT_SEGMENT / esize;
    plait_request_t *req;
    plait_status_t st = start(comm, dtype, n > 1 ? scratch : 0, seq, &req);
    if (st != PLAIT_OK)
        return st;
    struct plait_collective *c = req->coll;
    c->divisor = divisor;
    void *part = at(c, recvbuf, lo);
    if (sendbuf != recvbuf && len)
        local_op(c, OP_COPY, part, at(c, sendbuf, lo), len);
    if (n > 1 && len) {
        if (large && pof2) {
            build_allreduce_halving(c, part, len);
        } else if (large) {
            build_ring_reduce_scatter(c, recvbuf, count, lo, hi, 0);
            local_op(c, OP_FENCE, NULL, NULL, 0);
            build_ring_allgather(c, recvbuf, count, lo, hi, 1, (unsigned)n);
        } else {
            build_allreduce_doubling(c, part, len);
        }
    }
    if (divisor != 1 && len)
        local_op(c, OP_SCALE, part, NULL, len);
    st = compiled(req);
    if (st == PLAIT_OK)
        *out = req;
    return st;
}

void plait_net_pipe_init(plait_net_pipe_t *p, plait_comm_t *comm, void *buf, size_t count,
                         plait_dtype_t dtype, int divisor)
{
    size_t chunk = PLAIT_HIER_CHUNK / plait_dtype_size(dtype);
    *p = (plait_net_pipe_t){.comm = comm,
                            .buf = buf,
                            .count = count,
                            .chunk = chunk,
                            .dtype = dtype,
                            .divisor = divisor,
                            .seq = comm->coll_seq};
    comm->coll_seq += (uint32_t)((count + chunk - 1) / chunk);
}

/* Parts complete in any order; done counts them from the buffer's start. */
plait_status_t plait_net_pipe_progress(plait_net_pipe_t *p, size_t ready, double *last_progress)
{
    for (;;) {
        for (int i = 0; i < p->nparts; i++) {
            plait_status_t st = plait_coll_progress(p->parts[i], last_progress);
            if (st != PLAIT_OK)
                return st;
        }
        bool moved = false;
        while (p->nparts && p->parts[0]->done) {
            plait_coll_free(p->parts[0]);
            memmove(p->parts, p->parts + 1, (size_t)--p->nparts * sizeof *p->parts);
            p->done = p->done + p->chunk < p->count ? p->done + p->chunk : p->count;
            moved = true;
        }
        while (p->nparts < PLAIT_NET_DEPTH && p->started < p->count) {
            size_t hi = p->started + p->chunk < p->count ? p->started + p->chunk : p->count;
            if (ready < hi)
                break;
            uint32_t seq = p->seq + (uint32_t)(p->started / p->chunk);
            plait_status_t st = ucx_allreduce(p->comm, p->buf, p->buf, p->count, p->started, hi,
                                              p->dtype, p->divisor, seq, &p->parts[p->nparts]);
            if (st != PLAIT_OK)
                return st;
            p->nparts++;
            p->started = hi;
            moved = true;
        }
        if (!moved)
            return PLAIT_OK;
    }
}

int plait_net_pipe_waiting_for(const plait_net_pipe_t *p)
{
    for (int i = 0; i < p->nparts; i++)
        if (!p->parts[i]->done)
            return plait_coll_waiting_for(p->parts[i]);
    return -1;
}

void plait_net_pipe_free(plait_net_pipe_t *p)
{
    for (int i = 0; i < p->nparts; i++)
        plait_coll_free(p->parts[i]);
    p->nparts = 0;
}

/* Which path: a group within one node reduces through shared memory, one
 * across nodes with several ranks on a node hierarchically (a rank alone on
 * its node goes straight to the leaders' step, part by part as its node-leader
 * peers do), every other over UCX. */
plait_status_t plait_iallreduce(plait_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, plait_dtype_t dtype, plait_op_t op,
                                plait_request_t **out)
{
    if (op != PLAIT_SUM && op != PLAIT_AVG)
        return plait_fail(comm->ctx, PLAIT_ERR_INVALID, "op %d: expected PLAIT_SUM or PLAIT_AVG",
                          (int)op);
    int divisor = op == PLAIT_AVG ? comm->size : 1;
    plait_comm_t *local = comm->hier ? &comm->hier->node : comm;
    plait_request_t *req;
    plait_status_t st;
    if (count && (local->shm || comm->hier)) {
        if ((st = new_request(comm, dtype, &req)) != PLAIT_OK)
            return st;
        if (local->shm) {
            st = plait_shm_allreduce(req, local, sendbuf, recvbuf, count, dtype, divisor);
        } else if ((req->net = malloc(sizeof *req->net))) {
            if (sendbuf != recvbuf)
                memmove(recvbuf, sendbuf, count * plait_dtype_size(dtype));
            plait_net_pipe_init(req->net, &comm->hier->leaders, recvbuf, count, dtype, divisor);
        } else {
            st = plait_fail(comm->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for an allreduce");
        }
        return run_shm(req, st, false, out);
    }
    st = ucx_allreduce(comm, sendbuf, recvbuf, count, 0, count, dtype, divisor, comm->coll_seq++,
                       &req);
    return st == PLAIT_OK ? launch(req, out) : st;
}

plait_status_t plait_allreduce(plait_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                               plait_dtype_t dtype, plait_op_t op)
{
    plait_request_t *req = NULL;
    plait_status_t st = plait_iallreduce(comm, sendbuf, recvbuf, count, dtype, op, &req);
    return st == PLAIT_OK ? plait_wait(req) : st;
}

plait_status_t plait_reduce_scatter(plait_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, plait_dtype_t dtype, plait_op_t op)
{
    int n = comm->size, me = comm->rank;
    if (op != PLAIT_SUM && op != PLAIT_AVG)
        return plait_fail(comm->ctx, PLAIT_ERR_INVALID, "op %d: expected PLAIT_SUM or PLAIT_AVG",
                          (int)op);
    plait_request_t *req;
    plait_status_t st;
    if (shm_reduces(comm, count, dtype)) {
        if ((st = new_request(comm, dtype, &req)) != PLAIT_OK)
            return st;
        st = plait_shm_reduce_scatter(req, comm, sendbuf, recvbuf, count, dtype,
                                      op == PLAIT_AVG ? n : 1);
        return run_shm(req, st, true, &req);
    }
    st = start(comm, dtype, count, comm->coll_seq++, &req);
    if (st != PLAIT_OK)
        return st;
    struct plait_collective *c = req->coll;
    /* recvbuf accumulates: it holds the partial sum of the block travelling
     * through this rank, seeded from sendbuf. Block b_s = me - s - 1 is sent at
     * step s, so after n - 1 steps this rank holds block me. */
    if (count) {
        local_op(c, OP_COPY, recvbuf, at(c, sendbuf, (size_t)mod(me - 1, n) * count), count);
        for (int s = 0; s < n - 1; s++) {
            int left = mod(me - 1, n), right = mod(me + 1, n);
            send_op(c, right, (unsigned)s, recvbuf, count);
            recv_op(c, left, (unsigned)s, c->scratch, count);
            local_op(c, OP_COPY, recvbuf, at(c, sendbuf, (size_t)mod(me - s - 2, n) * count),
                     count);
            local_op(c, OP_REDUCE, recvbuf, c->scratch, count);
        }
        if (op == PLAIT_AVG)
            local_op(c, OP_SCALE, recvbuf, NULL, count);
    }
    return run(req);
}

plait_status_t plait_allgather(plait_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                               plait_dtype_t dtype)
{
    int n = comm->size, me = comm->rank;
    plait_request_t *req;
    plait_status_t st;
    if (shm_copies(comm, count)) {
        if ((st = new_request(comm, dtype, &req)) != PLAIT_OK)
            return st;
        st = plait_shm_allgather(req, comm, sendbuf, recvbuf, count, dtype);
        return run_shm(req, st, true, &req);
    }
    st = start(comm, dtype, 0, comm->coll_seq++, &req);
    if (st != PLAIT_OK)
        return st;
    struct plait_collective *c = req->coll;
    void *mine = at(c, recvbuf, (size_t)me * count);
    if (count && mine != sendbuf)
        local_op(c, OP_COPY, mine, sendbuf, count);
    /* Blocks of equal size count: ring allgather over n * count elements. */
    if (count && n > 1)
        build_ring_allgather(c, recvbuf, count * (size_t)n, 0, count * (size_t)n, 0, 0);
    return run(req);
}

plait_status_t plait_broadcast(plait_comm_t *comm, void *buf, size_t count, plait_dtype_t dtype,
                               int root)
{
    int n = comm->size;
    if (root < 0 || root >= n)
        return plait_fail(comm->ctx, PLAIT_ERR_INVALID, "broadcast root %d: expected 0 to %d", root,
                          n - 1);
    plait_request_t *req;
    plait_status_t st;
    if (shm_copies(comm, count)) {
        if ((st = new_request(comm, dtype, &req)) != PLAIT_OK)
            return st;
        st = plait_shm_broadcast(req, comm, buf, count, dtype, root);
        return run_shm(req, st, true, &req);
    }
    st = start(comm, dtype, 0, comm->coll_seq++, &req);
    if (st != PLAIT_OK)
        return st;
    struct plait_collective *c = req->coll;
    int me = comm->rank, vr = mod(me - root, n), mask = 1;
    if (count * plait_dtype_size(dtype) >= PLAIT_LARGE && count >= (size_t)n && n > 2) {
        /* Large: the root hands each rank its block, then a ring allgather
         * spreads them; the root sends the buffer once instead of log2 p
         * times. The fence keeps the allgather off blocks still being sent. */
        for (int r = 0; r < n; r++) {
            size_t off, len;
            block(count, n, r, &off, &len);
            if (me == root && r != root && len)
                send_op(c, r, 0, at(c, buf, off), len);
            else if (me == r && r != root && len)
                recv_op(c, root, 0, at(c, buf, off), len);
        }
        local_op(c, OP_FENCE, NULL, NULL, 0);
        build_ring_allgather(c, buf, count, 0, count, 0, 1);
    } else if (count) {
        for (; mask < n; mask <<= 1)
            if (vr & mask) {
                recv_op(c, mod(vr - mask + root, n), 0, buf, count);
                local_op(c, OP_FENCE, NULL, NULL, 0);
                break;
            }
        for (mask >>= 1; mask > 0; mask >>= 1)
            if (vr + mask < n)
                send_op(c, mod(vr + mask + root, n), 0, buf, count);
    }
    return run(req);
}

plait_status_t plait_barrier(plait_comm_t *comm)
{
    int n = comm->size, me = comm->rank;
    plait_request_t *req;
    plait_status_t st;
    if (comm->shm) {
        if ((st = new_request(comm, PLAIT_FLOAT32, &req)) != PLAIT_OK)
            return st;
        return run_shm(req, plait_shm_barrier(req, comm), true, &req);
    }
    st = start(comm, PLAIT_FLOAT32, 0, comm->coll_seq++, &req);
    if (st != PLAIT_OK)
        return st;
    struct plait_collective *c = req->coll;
    unsigned phase = 0;
    for (int k = 1; k < n; k <<= 1, phase++) {
        send_op(c, mod(me + k, n), phase, c->scratch, 0);
        recv_op(c, mod(me - k, n), phase, c->scratch, 0);
        local_op(c, OP_FENCE, NULL, NULL, 0);
    }
    return run(req);
}

static uint64_t coll_tag(const struct plait_collective *c, int src_world, unsigned phase)
{
    return plait_tag(c->comm->group, src_world,
                     PLAIT_TAG_COLL | ((uint64_t)(c->seq & 0xffffff) << 12) | (phase & 0xfff));
}

static plait_status_t post(struct plait_collective *c, const coll_op_t *op)
{
    plait_context_t *ctx = c->comm->ctx;
    plait_request_t *r = &c->pending[c->npending++];
    int peer = c->comm->world_ranks[op->peer];
    if (op->kind == OP_SEND)
        return plait_post_send(ctx, op->src, op->count * c->esize, peer,
                               coll_tag(c, c->comm->world_ranks[c->comm->rank], op->phase), r);
    return plait_post_recv(ctx, op->dst, op->count * c->esize, peer, coll_tag(c, peer, op->phase),
                           r);
}

static void run_local(struct plait_collective *c, const coll_op_t *op)
{
    switch (op->kind) {
    case OP_REDUCE:
        plait_reduce_sum(op->dst, op->src, op->count, c->dtype);
        break;
    case OP_COPY:
        memmove(op->dst, op->src, op->count * c->esize);
        break;
    case OP_SCALE:
        plait_scale(op->dst, op->count, c->dtype, c->divisor);
        break;
    default:
        break;
    }
}

plait_status_t plait_coll_progress(plait_request_t *req, double *last_progress)
{
    if (req->shm)
        return plait_shm_progress(req, last_progress);
    if (req->net) {
        plait_status_t st = plait_net_pipe_progress(req->net, req->net->count, last_progress);
        req->done = st == PLAIT_OK && req->net->done == req->net->count;
        return req->status = st;
    }
    struct plait_collective *c = req->coll;
    for (;;) {
        bool all_done = true;
        for (size_t i = 0; i < c->npending; i++) {
            plait_request_t *r = &c->pending[i];
            if (r->done)
                continue;
            plait_p2p_check(r);
            if (!r->done) {
                all_done = false;
                continue;
            }
            *last_progress = plait_now();
            if (r->status != PLAIT_OK)
                return req->status = r->status;
        }
        if (c->next == c->nops) {
            if (all_done) {
                req->done = true;
                req->status = PLAIT_OK;
            }
            return PLAIT_OK;
        }
        const coll_op_t *op = &c->ops[c->next];
        if (op->kind == OP_SEND || op->kind == OP_RECV) {
            c->next++;
            plait_status_t st = post(c, op);
            if (st != PLAIT_OK)
                return req->status = st;
            continue;
        }
        if (op->kind == OP_REDUCE_AFTER) {
            plait_request_t *r = &c->pending[op->after];
            plait_p2p_check(r);
            if (!r->done)
                return PLAIT_OK;
            if (r->status != PLAIT_OK)
                return req->status = r->status;
            plait_reduce_sum(op->dst, op->src, op->count, c->dtype);
            c->next++;
            continue;
        }
        if (!all_done)
            return PLAIT_OK;
        c->npending = 0;
        run_local(c, op);
        c->next++;
    }
}

/* The peer a stalled collective waits for: its first unfinished operation's. */
int plait_coll_waiting_for(const plait_request_t *req)
{
    if (req->shm)
        return plait_shm_waiting_for(req);
    if (req->net)
        return plait_net_pipe_waiting_for(req->net);
    const struct plait_collective *c = req->coll;
    for (size_t i = 0; i < c->npending; i++)
        if (!c->pending[i].done)
            return c->pending[i].peer;
    return -1;
}

void plait_coll_free(plait_request_t *req)
{
    struct plait_collective *c = req->coll;
    plait_context_t *ctx = req->ctx;
    for (plait_request_t **p = &ctx->active; *p; p = &(*p)->next_active)
        if (*p == req) {
            *p = req->next_active;
            break;
        }
    if (req->shm)
        plait_shm_free(req);
    if (req->net) {
        plait_net_pipe_free(req->net);
        free(req->net);
    }
    if (c) {
        for (size_t i = 0; i < c->npending; i++)
            plait_p2p_cancel(&c->pending[i]);
        free(c->pending);
        free(c->ops);
        plait_scratch_give(ctx, c->scratch, c->scratch_bytes);
        free(c);
    }
    free(req);
}
