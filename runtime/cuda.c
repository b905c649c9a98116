/* A rank's GPU, and point-to-point on device buffers: directly over UCX when
 * it handles CUDA memory, else staged through pinned host chunks (see
 * plait_cuda.h). */
#include <cuda_runtime_api.h>
#include <stdlib.h>

#include "runtime/internal.h"
#include "runtime/plait_cuda.h"

static plait_status_t cuda_fail(plait_context_t *ctx, const char *what, cudaError_t e)
{
    return plait_fail(ctx, PLAIT_ERR_TRANSPORT, "%s failed: %s", what, cudaGetErrorString(e));
}

plait_status_t plait_cuda_select_device(plait_context_t *ctx, int *device)
{
    int count = 0;
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return plait_fail(
            ctx, PLAIT_ERR_UNSUPPORTED, "no CUDA device visible (CUDA_VISIBLE_DEVICES=%s): %s",
            visible ? visible : "unset", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    const char *busid = getenv("PLAIT_GPU_BUSID");
    if (busid && *busid) {
        e = cudaDeviceGetByPCIBusId(device, busid);
        if (e != cudaSuccess)
            return plait_fail(ctx, PLAIT_ERR_INVALID,
                              "PLAIT_GPU_BUSID=%s: no visible CUDA device has that PCI bus id "
                              "(CUDA_VISIBLE_DEVICES=%s): %s",
                              busid, visible ? visible : "unset", cudaGetErrorString(e));
    } else {
        *device = count == 1 ? 0 : ctx->placement.local_rank % count;
    }
    e = cudaSetDevice(*device);
    return e == cudaSuccess ? PLAIT_OK : cuda_fail(ctx, "cudaSetDevice", e);
}

/* A pinned host buffer, reused for later messages of up to its size. */
struct pinned {
    char *data;
    size_t cap;
    int busy;
};

struct plait_cuda_p2p {
    plait_context_t *ctx;
    int direct;
    size_t chunk;
    cudaStream_t stream; /* non-blocking: the copies wait for nothing else */
    cudaEvent_t *events; /* one per chunk of the message being sent */
    size_t nevents;
    struct pinned **pool; /* each entry stays put while a request holds it */
    size_t npool;
};

struct plait_cuda_request {
    struct pinned *buf; /* NULL when direct */
    plait_request_t **parts;
    size_t nparts;
};

plait_status_t plait_cuda_p2p_open(plait_context_t *ctx, size_t chunk, plait_cuda_p2p_t **out)
{
    *out = NULL;
    plait_cuda_p2p_t *p = calloc(1, sizeof *p);
    if (!p)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for CUDA point-to-point");
    p->ctx = ctx;
    p->direct = plait_ucx_device_memory(ctx);
    p->chunk = chunk ? chunk : PLAIT_CUDA_CHUNK;
    cudaError_t e = cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(p);
        return cuda_fail(ctx, "cudaStreamCreateWithFlags", e);
    }
    *out = p;
    return PLAIT_OK;
}

void plait_cuda_p2p_close(plait_cuda_p2p_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->npool; i++) {
        cudaFreeHost(p->pool[i]->data);
        free(p->pool[i]);
    }
    for (size_t i = 0; i < p->nevents; i++)
        cudaEventDestroy(p->events[i]);
    cudaStreamDestroy(p->stream);
    free(p->pool);
    free(p->events);
    free(p);
}

int plait_cuda_p2p_direct(const plait_cuda_p2p_t *p)
{
    return p->direct;
}

/* A free pinned buffer of at least `bytes` (one byte for an empty message). */
static plait_status_t pinned_get(plait_cuda_p2p_t *p, size_t bytes, struct pinned **out)
{
    if (bytes == 0)
        bytes = 1;
    struct pinned *spare = NULL;
    for (size_t i = 0; i < p->npool; i++) {
        if (p->pool[i]->busy)
            continue;
        if (p->pool[i]->cap >= bytes) {
            p->pool[i]->busy = 1;
            *out = p->pool[i];
            return PLAIT_OK;
        }
        spare = p->pool[i];
    }
    if (spare) {
        cudaFreeHost(spare->data);
        *spare = (struct pinned){0};
    } else {
        struct pinned **pool = realloc(p->pool, (p->npool + 1) * sizeof *pool);
        if (pool)
            p->pool = pool;
        spare = pool ? calloc(1, sizeof *spare) : NULL;
        if (!spare)
            return plait_fail(p->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for staging buffers");
        p->pool[p->npool++] = spare;
    }
    cudaError_t e = cudaMallocHost((void **)&spare->data, bytes);
    if (e != cudaSuccess) {
        spare->data = NULL;
        return plait_fail(p->ctx, PLAIT_ERR_NO_MEMORY, "cudaMallocHost of %zu bytes failed: %s",
                          bytes, cudaGetErrorString(e));
    }
    spare->cap = bytes;
    spare->busy = 1;
    *out = spare;
    return PLAIT_OK;
}

static size_t chunks(const plait_cuda_p2p_t *p, size_t bytes)
{
    return bytes ? (bytes + p->chunk - 1) / p->chunk : 1;
}

static size_t chunk_len(const plait_cuda_p2p_t *p, size_t bytes, size_t k)
{
    size_t off = k * p->chunk;
    return bytes - off < p->chunk ? bytes - off : p->chunk;
}

static plait_status_t ensure_events(plait_cuda_p2p_t *p, size_t n)
{
    if (p->nevents >= n)
        return PLAIT_OK;
    cudaEvent_t *ev = realloc(p->events, n * sizeof *ev);
    if (!ev)
        return plait_fail(p->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for CUDA events");
    p->events = ev;
    for (; p->nevents < n; p->nevents++) {
        cudaError_t e = cudaEventCreateWithFlags(&p->events[p->nevents], cudaEventDisableTiming);
        if (e != cudaSuccess)
            return cuda_fail(p->ctx, "cudaEventCreateWithFlags", e);
    }
    return PLAIT_OK;
}

/* Keeps the earlier chunks moving on the wire while a copy finishes. */
static plait_status_t await_event(plait_cuda_p2p_t *p, cudaEvent_t ev)
{
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaSuccess)
            return PLAIT_OK;
        if (e != cudaErrorNotReady)
            return cuda_fail(p->ctx, "a device-to-host staging copy", e);
        plait_status_t st = plait_progress(p->ctx);
        if (st != PLAIT_OK)
            return st;
    }
}

/* A request for a message of n parts (chunks), none posted yet. */
static plait_cuda_request_t *request_new(size_t n)
{
    plait_cuda_request_t *r = calloc(1, sizeof *r);
    if (r && !(r->parts = calloc(n, sizeof *r->parts))) {
        free(r);
        return NULL;
    }
    if (r)
        r->nparts = n;
    return r;
}

/* Waits for every posted part; the first failure wins. */
static plait_status_t finish(plait_cuda_request_t *r, plait_status_t st)
{
    for (size_t k = 0; k < r->nparts; k++) {
        if (!r->parts[k])
            continue;
        plait_status_t s = plait_wait(r->parts[k]);
        if (st == PLAIT_OK)
            st = s;
    }
    if (r->buf)
        r->buf->busy = 0;
    free(r->parts);
    free(r);
    return st;
}

plait_status_t plait_cuda_isend(plait_cuda_p2p_t *p, plait_comm_t *comm, const void *buf,
                                size_t bytes, int peer, uint32_t tag, plait_cuda_request_t **out)
{
    *out = NULL;
    size_t n = p->direct ? 1 : chunks(p, bytes);
    plait_cuda_request_t *r = request_new(n);
    if (!r)
        return plait_fail(p->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a CUDA send");
    if (p->direct) {
        plait_status_t st = plait_isend(comm, buf, bytes, peer, tag, &r->parts[0]);
        if (st != PLAIT_OK)
            return finish(r, st);
        *out = r;
        return PLAIT_OK;
    }
    plait_status_t st = ensure_events(p, n);
    if (st == PLAIT_OK)
        st = pinned_get(p, bytes, &r->buf);
    for (size_t k = 0; k < n && st == PLAIT_OK && bytes; k++) {
        size_t off = k * p->chunk;
        cudaError_t e = cudaMemcpyAsync(r->buf->data + off, (const char *)buf + off,
                                        chunk_len(p, bytes, k), cudaMemcpyDeviceToHost, p->stream);
        if (e == cudaSuccess)
            e = cudaEventRecord(p->events[k], p->stream);
        if (e != cudaSuccess)
            st = cuda_fail(p->ctx, "cudaMemcpyAsync (device to host)", e);
    }
    for (size_t k = 0; k < n && st == PLAIT_OK; k++) {
        if (bytes)
            st = await_event(p, p->events[k]);
        if (st == PLAIT_OK)
            st = plait_isend(comm, r->buf->data + k * p->chunk, bytes ? chunk_len(p, bytes, k) : 0,
                             peer, tag, &r->parts[k]);
    }
    if (st != PLAIT_OK) {
        /* A copy may still be writing the staging buffer. */
        cudaStreamSynchronize(p->stream);
        return finish(r, st);
    }
    *out = r;
    return PLAIT_OK;
}

plait_status_t plait_cuda_wait(plait_cuda_request_t *r)
{
    return finish(r, PLAIT_OK);
}

plait_status_t plait_cuda_recv(plait_cuda_p2p_t *p, plait_comm_t *comm, void *buf, size_t bytes,
                               int peer, uint32_t tag)
{
    if (p->direct)
        return plait_recv(comm, buf, bytes, peer, tag);
    size_t n = chunks(p, bytes);
    plait_cuda_request_t *r = request_new(n);
    if (!r)
        return plait_fail(p->ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a CUDA receive");
    plait_status_t st = pinned_get(p, bytes, &r->buf);
    for (size_t k = 0; k < n && st == PLAIT_OK; k++)
        st = plait_irecv(comm, r->buf->data + k * p->chunk, bytes ? chunk_len(p, bytes, k) : 0,
                         peer, tag, &r->parts[k]);
    /* Chunk k goes to the device while chunk k+1 is still arriving. */
    for (size_t k = 0; k < n && st == PLAIT_OK; k++) {
        st = plait_wait(r->parts[k]);
        r->parts[k] = NULL;
        if (st != PLAIT_OK || !bytes)
            break;
        size_t off = k * p->chunk;
        cudaError_t e = cudaMemcpyAsync((char *)buf + off, r->buf->data + off,
                                        chunk_len(p, bytes, k), cudaMemcpyHostToDevice, p->stream);
        if (e != cudaSuccess)
            st = cuda_fail(p->ctx, "cudaMemcpyAsync (host to device)", e);
    }
    cudaError_t e = cudaStreamSynchronize(p->stream);
    if (st == PLAIT_OK && e != cudaSuccess)
        st = cuda_fail(p->ctx, "a host-to-device staging copy", e);
    return finish(r, st);
}
