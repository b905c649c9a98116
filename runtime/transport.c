/* UCX point-to-point: one context and worker per process, an endpoint per
 * peer created on first send, tagged non-blocking operations (nbx API).
 * Requests carry no completion callback: completion is read with
 * ucp_request_check_status, so a request abandoned after an error can be
 * cancelled and released without leaving UCX a pointer into freed memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucs/config/global_opts.h>

#include "runtime/internal.h"

static plait_status_t ucx_fail(plait_context_t *ctx, const char *what, ucs_status_t s)
{
    return plait_fail(ctx, PLAIT_ERR_TRANSPORT, "UCX %s failed: %s", what, ucs_status_string(s));
}

plait_status_t plait_transport_open(plait_context_t *ctx)
{
    ucp_config_t *config;
    ucs_status_t s = ucp_config_read("PLAIT", NULL, &config);
    if (s != UCS_OK)
        return ucx_fail(ctx, "ucp_config_read", s);
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED,
        .features = UCP_FEATURE_TAG,
        .mt_workers_shared = 0,
    };
    s = ucp_init(&params, config, &ctx->ucp);
    ucp_config_release(config);
    if (s != UCS_OK)
        return ucx_fail(ctx, "ucp_init", s);
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE,
    };
    s = ucp_worker_create(ctx->ucp, &wp, &ctx->worker);
    if (s != UCS_OK)
        return ucx_fail(ctx, "ucp_worker_create", s);
    int world = ctx->placement.world_size;
    ctx->eps = calloc((size_t)world, sizeof *ctx->eps);
    if (!ctx->eps)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for %d endpoints", world);
    return PLAIT_OK;
}

/* Close all endpoints at once, gracefully (their last messages delivered)
 * for at most two seconds in all: peers that already left must not keep this
 * one from leaving. */
void plait_transport_close(plait_context_t *ctx)
{
    int world = ctx->placement.world_size;
    void **closing = ctx->eps ? calloc((size_t)world, sizeof *closing) : NULL;
    if (ctx->eps) {
        ucp_request_param_t p = {
            .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
            .flags = ctx->failed || !closing ? UCP_EP_CLOSE_FLAG_FORCE : 0,
        };
        for (int r = 0; r < world; r++) {
            if (!ctx->eps[r])
                continue;
            void *req = ucp_ep_close_nbx(ctx->eps[r], &p);
            if (!UCS_PTR_IS_PTR(req))
                continue;
            if (closing)
                closing[r] = req;
            else
                ucp_request_free(req);
        }
    }
    /* After a failure, UCX warns about every request the dead peer left
     * unfinished; the failure itself was already reported in one line. */
    if (ctx->failed && !getenv("UCX_LOG_LEVEL"))
        ucs_global_opts_set_value("LOG_LEVEL", "error");
    double deadline = plait_now() + 2.0;
    for (bool busy = closing != NULL; busy && plait_now() < deadline;) {
        ucp_worker_progress(ctx->worker);
        busy = false;
        for (int r = 0; r < world; r++)
            busy |= closing[r] && ucp_request_check_status(closing[r]) == UCS_INPROGRESS;
    }
    for (int r = 0; closing && r < world; r++)
        if (closing[r])
            ucp_request_free(closing[r]);
    free(closing);
    free(ctx->eps);
    ctx->eps = NULL;
    if (ctx->worker)
        ucp_worker_destroy(ctx->worker);
    if (ctx->ucp)
        ucp_cleanup(ctx->ucp);
    ctx->worker = NULL;
    ctx->ucp = NULL;
}

plait_status_t plait_peer_error(plait_context_t *ctx, int world_peer, plait_status_t status,
                                const char *what)
{
    /* A broken connection is usually the echo of a rank dying: give plait-run
     * a moment to say which one, and report that cause instead. */
    if (status != PLAIT_ERR_INVALID && plait_launcher_await(ctx, 1.0) != PLAIT_OK)
        return ctx->failed;
    return plait_fail(ctx, status, "peer rank %d (host %s): %s", world_peer,
                      ctx->peers[world_peer].host, what);
}

static plait_status_t endpoint(plait_context_t *ctx, int peer, ucp_ep_h *ep)
{
    if (!ctx->eps[peer]) {
        /* No peer error handling mode: in UCX 1.13 it rules out the shared
         * memory transports (only TCP and IB can detect a dead peer), which
         * would cost most of the on-node bandwidth. Dead peers are found by
         * plait-run's notices and by the wait timeout instead. */
        ucp_ep_params_t p = {
            .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE,
            .address = ctx->peers[peer].address,
            .err_mode = UCP_ERR_HANDLING_MODE_NONE,
        };
        ucs_status_t s = ucp_ep_create(ctx->worker, &p, &ctx->eps[peer]);
        if (s != UCS_OK)
            return plait_peer_error(ctx, peer, PLAIT_ERR_TRANSPORT, ucs_status_string(s));
    }
    *ep = ctx->eps[peer];
    return PLAIT_OK;
}

/* Record a finished UCX operation's outcome on req. */
static void complete(plait_request_t *req, ucs_status_t s)
{
    req->done = true;
    req->status = PLAIT_OK;
    if (s == UCS_OK)
        return;
    char what[160];
    if (s == UCS_ERR_MESSAGE_TRUNCATED)
        snprintf(what, sizeof what, "message larger than the %zu-byte receive buffer", req->bytes);
    else
        snprintf(what, sizeof what, "%s failed: %s", req->kind == REQ_SEND ? "send" : "receive",
                 ucs_status_string(s));
    req->status = s == UCS_ERR_MESSAGE_TRUNCATED ? PLAIT_ERR_INVALID : PLAIT_ERR_PEER;
    plait_peer_error(req->ctx, req->peer, req->status, what);
}

static void take_result(plait_request_t *req, void *ucx)
{
    if (UCS_PTR_IS_PTR(ucx)) {
        req->ucx = ucx;
        req->done = false;
    } else {
        complete(req, UCS_PTR_STATUS(ucx));
    }
}

plait_status_t plait_post_send(plait_context_t *ctx, const void *buf, size_t bytes, int world_peer,
                               uint64_t tag, plait_request_t *req)
{
    req->ctx = ctx;
    req->kind = REQ_SEND;
    req->peer = world_peer;
    req->bytes = bytes;
    req->ucx = NULL;
    ucp_ep_h ep = NULL;
    plait_status_t st = endpoint(ctx, world_peer, &ep);
    if (st != PLAIT_OK)
        return st;
    ucp_request_param_t p = {.op_attr_mask = 0};
    take_result(req, ucp_tag_send_nbx(ep, buf, bytes, tag, &p));
    return req->done ? req->status : PLAIT_OK;
}

plait_status_t plait_post_recv(plait_context_t *ctx, void *buf, size_t bytes, int world_peer,
                               uint64_t tag, plait_request_t *req)
{
    req->ctx = ctx;
    req->kind = REQ_RECV;
    req->peer = world_peer;
    req->bytes = bytes;
    req->ucx = NULL;
    ucp_request_param_t p = {.op_attr_mask = 0};
    take_result(req, ucp_tag_recv_nbx(ctx->worker, buf, bytes, tag, UINT64_MAX, &p));
    return req->done ? req->status : PLAIT_OK;
}

void plait_p2p_check(plait_request_t *req)
{
    if (req->done)
        return;
    ucs_status_t s = ucp_request_check_status(req->ucx);
    if (s == UCS_INPROGRESS) {
        return;
    }
    ucp_request_free(req->ucx);
    req->ucx = NULL;
    complete(req, s);
}

void plait_p2p_cancel(plait_request_t *req)
{
    if (req->ucx) {
        ucp_request_cancel(req->ctx->worker, req->ucx);
        ucp_request_free(req->ucx);
        req->ucx = NULL;
    }
    req->done = true;
}

plait_status_t plait_progress_all(plait_context_t *ctx, double now)
{
    if (ctx->failed)
        return ctx->failed;
    ucp_worker_progress(ctx->worker);
    if (now >= 0 && now >= ctx->next_launcher_check) {
        ctx->next_launcher_check = now + 0.01;
        plait_status_t st = plait_launcher_check(ctx);
        if (st != PLAIT_OK)
            return st;
    }
    for (plait_request_t *r = ctx->active; r; r = r->next_active)
        if (!r->done) {
            double unused;
            plait_status_t st = plait_coll_progress(r, &unused);
            if (st != PLAIT_OK && st != PLAIT_ERR_TIMEOUT)
                return st;
        }
    return ctx->failed;
}

int plait_ucx_device_memory(const plait_context_t *ctx)
{
    ucp_context_attr_t attr = {.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES};
    if (ucp_context_query(ctx->ucp, &attr) != UCS_OK)
        return 0;
    return (attr.memory_types & UCS_BIT(UCS_MEMORY_TYPE_CUDA)) != 0;
}
