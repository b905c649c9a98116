/* libplait's entry points: joining and leaving the job, communicators,
 * point-to-point requests and the wait/test loop that drives everything. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/internal.h"

#define PLAIT_DEFAULT_TIMEOUT_S 60.0

double plait_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

plait_status_t plait_vfail(char *buf, size_t len, plait_status_t status, const char *fmt,
                           va_list ap)
{
    vsnprintf(buf, len, fmt, ap);
    return status;
}

plait_status_t plait_fail(plait_context_t *ctx, plait_status_t status, const char *fmt, ...)
{
    /* The first communication failure is the cause; what follows from it
     * (timeouts behind a dead peer) must not overwrite its message. */
    if (ctx->failed)
        return status;
    va_list ap;
    va_start(ap, fmt);
    plait_vfail(ctx->error, sizeof ctx->error, status, fmt, ap);
    va_end(ap);
    if (status != PLAIT_ERR_INVALID && status != PLAIT_ERR_NO_MEMORY &&
        status != PLAIT_ERR_UNSUPPORTED) {
        ctx->failed = status;
        plait_shm_publish_failure(ctx);
    }
    return status;
}

const char *plait_error(const plait_context_t *ctx)
{
    return ctx ? ctx->error : "no context";
}

const char *plait_status_string(plait_status_t status)
{
    switch (status) {
    case PLAIT_OK:
        return "ok";
    case PLAIT_ERR_INVALID:
        return "invalid argument";
    case PLAIT_ERR_BOOTSTRAP:
        return "bootstrap failed";
    case PLAIT_ERR_TIMEOUT:
        return "timed out";
    case PLAIT_ERR_PEER:
        return "peer failed";
    case PLAIT_ERR_TRANSPORT:
        return "transport error";
    case PLAIT_ERR_NO_MEMORY:
        return "out of memory";
    case PLAIT_ERR_UNSUPPORTED:
        return "unsupported";
    }
    return "unknown status";
}

const plait_placement_t *plait_placement(const plait_context_t *ctx)
{
    return &ctx->placement;
}

const char *plait_bootstrap_name(const plait_context_t *ctx)
{
    return ctx->bootstrap;
}

static plait_status_t read_timeout(const plait_config_t *config, double *out, char *err,
                                   size_t errlen)
{
    *out = PLAIT_DEFAULT_TIMEOUT_S;
    if (config && config->timeout_s > 0) {
        *out = config->timeout_s;
        return PLAIT_OK;
    }
    const char *s = getenv("PLAIT_TIMEOUT");
    if (!s)
        return PLAIT_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v < 1e6)) {
        snprintf(err, errlen, "PLAIT_TIMEOUT='%s': expected seconds, above 0 and below 1e6", s);
        return PLAIT_ERR_INVALID;
    }
    *out = v;
    return PLAIT_OK;
}

static plait_status_t make_comm(plait_context_t *ctx, plait_group_t group, int size, int rank,
                                int first, int stride)
{
    plait_comm_t *c = &ctx->comms[group];
    c->ctx = ctx;
    c->group = group;
    c->size = size;
    c->rank = rank;
    c->world_ranks = malloc((size_t)size * sizeof *c->world_ranks);
    if (!c->world_ranks)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a communicator");
    for (int i = 0; i < size; i++)
        c->world_ranks[i] = first + i * stride;
    return PLAIT_OK;
}

static plait_status_t make_comms(plait_context_t *ctx)
{
    const plait_placement_t *p = &ctx->placement;
    int tp = p->tp_size, pp = p->pp_size;
    plait_status_t st = make_comm(ctx, PLAIT_GROUP_WORLD, p->world_size, p->rank, 0, 1);
    if (st == PLAIT_OK)
        st = make_comm(ctx, PLAIT_GROUP_DP, p->dp_size, p->dp_rank, p->pp_rank * tp + p->tp_rank,
                       pp * tp);
    if (st == PLAIT_OK)
        st = make_comm(ctx, PLAIT_GROUP_TP, tp, p->tp_rank, (p->dp_rank * pp + p->pp_rank) * tp, 1);
    if (st == PLAIT_OK)
        st = make_comm(ctx, PLAIT_GROUP_PP, pp, p->pp_rank, p->dp_rank * pp * tp + p->tp_rank, tp);
    return st;
}

static plait_status_t connect_job(plait_context_t *ctx)
{
    plait_status_t st = plait_transport_open(ctx);
    if (st != PLAIT_OK)
        return st;
    ucp_address_t *addr;
    size_t len;
    ucs_status_t s = ucp_worker_get_address(ctx->worker, &addr, &len);
    if (s != UCS_OK)
        return plait_fail(ctx, PLAIT_ERR_TRANSPORT, "UCX ucp_worker_get_address failed: %s",
                          ucs_status_string(s));
    st = plait_bootstrap_exchange(ctx, addr, len);
    ucp_worker_release_address(ctx->worker, addr);
    if (st != PLAIT_OK)
        return st;
    /* Short waits are latency-bound exchanges: spin through them, unless
     * more ranks than it has CPUs may run on this rank's CPUs, where the peer
     * may need this very core (Open MPI's yield_when_idle, for the same
     * reason). Counting the ranks that share its CPUs rather than all the
     * ranks of the node keeps a rank bound to its own core spinning. */
    ctx->yield_after =
        plait_crowded(ctx->peers, ctx->placement.world_size, ctx->placement.rank) ? 0 : 50e-6;
    st = make_comms(ctx);
    return st == PLAIT_OK ? plait_shm_open(ctx) : st;
}

bool plait_crowded(const plait_peer_t *peers, int world, int me)
{
    int mine = CPU_COUNT(&peers[me].cpus), sharing = 0;
    for (int r = 0; r < world; r++) {
        cpu_set_t both;
        CPU_AND(&both, &peers[r].cpus, &peers[me].cpus);
        sharing += strcmp(peers[r].host, peers[me].host) == 0 && CPU_COUNT(&both) > 0;
    }
    return mine > 0 && sharing > mine;
}

plait_status_t plait_init(const plait_config_t *config, plait_context_t **out, char *errbuf,
                          size_t errlen)
{
    *out = NULL;
    plait_context_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (errbuf)
            snprintf(errbuf, errlen, "plait_init: out of memory");
        return PLAIT_ERR_NO_MEMORY;
    }
    ctx->launcher_fd = -1;
    plait_status_t st = plait_placement_from_env(&ctx->placement, config ? config->layout : NULL,
                                                 ctx->error, sizeof ctx->error);
    if (st == PLAIT_OK)
        st = read_timeout(config, &ctx->timeout_s, ctx->error, sizeof ctx->error);
    if (sched_getaffinity(0, sizeof ctx->cpus, &ctx->cpus) != 0)
        CPU_ZERO(&ctx->cpus);
    if (st == PLAIT_OK)
        st = connect_job(ctx);
    if (st != PLAIT_OK) {
        if (errbuf)
            snprintf(errbuf, errlen, "%s", ctx->error);
        plait_finalize(ctx);
        return st;
    }
    *out = ctx;
    return PLAIT_OK;
}

void plait_finalize(plait_context_t *ctx)
{
    if (!ctx)
        return;
    while (ctx->active)
        plait_coll_free(ctx->active);
    free(ctx->scratch);
    plait_shm_close(ctx);
    plait_transport_close(ctx);
    plait_bootstrap_close(ctx);
    for (int g = 0; g < 4; g++)
        free(ctx->comms[g].world_ranks);
    free(ctx);
}

plait_comm_t *plait_comm(plait_context_t *ctx, plait_group_t group)
{
    if ((int)group < 0 || group > PLAIT_GROUP_PP)
        return NULL;
    return &ctx->comms[group];
}

int plait_comm_rank(const plait_comm_t *comm)
{
    return comm->rank;
}

int plait_comm_size(const plait_comm_t *comm)
{
    return comm->size;
}

int plait_comm_world_rank(const plait_comm_t *comm, int rank)
{
    return rank >= 0 && rank < comm->size ? comm->world_ranks[rank] : -1;
}

static plait_status_t p2p_start(plait_comm_t *comm, bool send, void *buf, size_t bytes, int peer,
                                uint32_t tag, plait_request_t **out)
{
    plait_context_t *ctx = comm->ctx;
    *out = NULL;
    if (ctx->failed)
        return ctx->failed;
    if (peer < 0 || peer >= comm->size || tag > PLAIT_TAG_MAX || (!buf && bytes))
        return plait_fail(ctx, PLAIT_ERR_INVALID,
                          "%s to peer %d tag %u of %zu bytes: expected a peer from 0 to %d, a "
                          "tag up to %u and a buffer",
                          send ? "send" : "receive", peer, tag, bytes, comm->size - 1,
                          PLAIT_TAG_MAX);
    plait_request_t *req = calloc(1, sizeof *req);
    if (!req)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a request");
    int world_peer = comm->world_ranks[peer];
    plait_status_t st;
    if (send)
        st = plait_post_send(ctx, buf, bytes, world_peer,
                             plait_tag(comm->group, ctx->placement.rank, tag), req);
    else
        st = plait_post_recv(ctx, buf, bytes, world_peer, plait_tag(comm->group, world_peer, tag),
                             req);
    if (st != PLAIT_OK) {
        plait_p2p_cancel(req);
        free(req);
        return st;
    }
    *out = req;
    return PLAIT_OK;
}

plait_status_t plait_isend(plait_comm_t *comm, const void *buf, size_t bytes, int peer,
                           uint32_t tag, plait_request_t **req)
{
    return p2p_start(comm, true, (void *)buf, bytes, peer, tag, req);
}

plait_status_t plait_irecv(plait_comm_t *comm, void *buf, size_t bytes, int peer, uint32_t tag,
                           plait_request_t **req)
{
    return p2p_start(comm, false, buf, bytes, peer, tag, req);
}

plait_status_t plait_send(plait_comm_t *comm, const void *buf, size_t bytes, int peer, uint32_t tag)
{
    plait_request_t *req;
    plait_status_t st = plait_isend(comm, buf, bytes, peer, tag, &req);
    return st == PLAIT_OK ? plait_wait(req) : st;
}

plait_status_t plait_recv(plait_comm_t *comm, void *buf, size_t bytes, int peer, uint32_t tag)
{
    plait_request_t *req;
    plait_status_t st = plait_irecv(comm, buf, bytes, peer, tag, &req);
    return st == PLAIT_OK ? plait_wait(req) : st;
}

static void release(plait_request_t *req)
{
    if (req->kind == REQ_COLL) {
        plait_coll_free(req);
        return;
    }
    plait_p2p_cancel(req);
    free(req);
}

/* Advance req by itself: a p2p request is checked, a collective runs. */
static plait_status_t advance(plait_request_t *req, double *last_progress)
{
    if (req->kind == REQ_COLL)
        return req->done ? req->status : plait_coll_progress(req, last_progress);
    plait_p2p_check(req);
    return req->done ? req->status : PLAIT_OK;
}

plait_status_t plait_test(plait_request_t *req, int *done)
{
    plait_context_t *ctx = req->ctx;
    double unused;
    plait_status_t st = plait_progress_all(ctx, plait_now());
    if (st == PLAIT_OK)
        st = advance(req, &unused);
    *done = req->done || st != PLAIT_OK;
    if (*done) {
        if (st == PLAIT_OK)
            st = req->status;
        release(req);
    }
    return st;
}

plait_status_t plait_wait(plait_request_t *req)
{
    plait_context_t *ctx = req->ctx;
    double last = plait_now();
    plait_status_t st;
    /* Every 16 spins (every spin when crowded: the peer waited for may be
     * waiting for this very core): look at the clock, the launcher and the
     * timeout, and once the wait has lasted ctx->yield_after give the core
     * away: ranks often outnumber free cores (tests, busy nodes). */
    double start = last;
    for (unsigned spins = 1;; spins++) {
        st = advance(req, &last);
        if (st != PLAIT_OK || req->done)
            break;
        bool look = ctx->yield_after == 0 || spins % 16 == 0;
        double now = look ? plait_now() : -1;
        st = plait_progress_all(ctx, now);
        if (st != PLAIT_OK)
            break;
        if (!look)
            continue;
        if (now - start >= ctx->yield_after)
            sched_yield();
        if (now - last > ctx->timeout_s) {
            int peer = req->kind == REQ_COLL ? plait_coll_waiting_for(req) : req->peer;
            char what[128];
            snprintf(what, sizeof what, "no answer within %g s (PLAIT_TIMEOUT)", ctx->timeout_s);
            st = peer >= 0 ? plait_peer_error(ctx, peer, PLAIT_ERR_TIMEOUT, what)
                           : plait_fail(ctx, PLAIT_ERR_TIMEOUT, "%s", what);
            break;
        }
    }
    if (st == PLAIT_OK)
        st = req->status;
    release(req);
    return st;
}

plait_status_t plait_progress(plait_context_t *ctx)
{
    return plait_progress_all(ctx, plait_now());
}
