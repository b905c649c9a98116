/* plait-train's GPU side (see cuda.h): the rank's device, NCCL for the TP and
 * DP groups, libplait_cuda's point-to-point between stages, cuBLAS for the
 * one sum the trainer itself does on the device (the tied embedding's). */
#include "runtime/train/cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <limits.h>
#include <stdlib.h>

#include "runtime/plait_nccl.h"
#include "runtime/train/trainer.h"

struct train_cuda {
    int device;
    plait_nccl_t *nccl;    /* tp or dp > 1 */
    plait_cuda_p2p_t *p2p; /* pp > 1 */
    /* Non-blocking: the stage's calls return with their device work done, so
     * nothing needs ordering against the kernels' stream. */
    cudaStream_t tp_stream, dp_stream;
    int *dp_started; /* per chunk, this step */
    cublasHandle_t blas;
    float *tie_other; /* the other stage's copy of the tied embedding's gradient */
};

static int cuda_fail(struct trainer *t, const char *what, cudaError_t e)
{
    return trainer_fail(t, "%s failed: %s", what, cudaGetErrorString(e));
}

static int runtime_fail(struct trainer *t, const char *what)
{
    return trainer_fail(t, "%s: %s", what, plait_error(t->ctx));
}

int train_cuda_open(struct trainer *t)
{
    struct train_cuda *c = calloc(1, sizeof *c);
    t->cuda = c;
    if (!c)
        return trainer_fail(t, "out of memory for the GPU state");
    const plait_placement_t *p = t->place;
    /* plait_nccl_open selects the device the same way, and is collective:
     * every rank calls it even when its own device is missing. */
    if (p->tp_size > 1 || p->dp_size > 1) {
        if (plait_nccl_open(t->ctx, &c->nccl) != PLAIT_OK)
            return runtime_fail(t, "opening NCCL");
        c->device = plait_nccl_device(c->nccl);
    } else if (plait_cuda_select_device(t->ctx, &c->device) != PLAIT_OK) {
        return runtime_fail(t, "selecting the GPU");
    }
    if (p->pp_size > 1 && plait_cuda_p2p_open(t->ctx, 0, &c->p2p) != PLAIT_OK)
        return runtime_fail(t, "opening device point-to-point");
    cudaError_t e = cudaStreamCreateWithFlags(&c->tp_stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&c->dp_stream, cudaStreamNonBlocking);
    if (e != cudaSuccess)
        return cuda_fail(t, "cudaStreamCreateWithFlags", e);
    cublasStatus_t b = cublasCreate(&c->blas);
    if (b != CUBLAS_STATUS_SUCCESS)
        return trainer_fail(t, "cublasCreate failed: %s", cublasGetStatusString(b));
    return 0;
}

void train_cuda_close(struct trainer *t, int failed)
{
    struct train_cuda *c = t->cuda;
    if (!c)
        return;
    if (c->blas)
        cublasDestroy(c->blas);
    if (c->tp_stream)
        cudaStreamDestroy(c->tp_stream);
    if (c->dp_stream)
        cudaStreamDestroy(c->dp_stream);
    cudaFree(c->tie_other);
    plait_cuda_p2p_close(c->p2p);
    if (failed)
        plait_nccl_abort(c->nccl);
    else
        plait_nccl_close(c->nccl);
    free(c->dp_started);
    free(c);
    t->cuda = NULL;
}

/* NCCL on the TP group, finished before returning as the stage expects. */
static int tp_allreduce(struct trainer *t, float *buf, size_t count, plait_op_t op)
{
    struct train_cuda *c = t->cuda;
    if (plait_nccl_allreduce(c->nccl, PLAIT_GROUP_TP, buf, buf, count, PLAIT_FLOAT32, op,
                             c->tp_stream) != PLAIT_OK)
        return -1;
    cudaError_t e = cudaStreamSynchronize(c->tp_stream);
    return e == cudaSuccess ? 0 : cuda_fail(t, "the TP all-reduce", e);
}

static int tp_sum(void *ctx, float *buf, size_t count)
{
    return tp_allreduce(ctx, buf, count, PLAIT_SUM);
}

static int tp_max(void *ctx, float *buf, size_t count)
{
    return tp_allreduce(ctx, buf, count, PLAIT_MAX);
}

gpt_comm train_cuda_tp_comm(struct trainer *t)
{
    return (gpt_comm){t, tp_sum, tp_max, NULL};
}

float *train_cuda_alloc(struct trainer *t, size_t count)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, count * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMemset(p, 0, count * sizeof(float));
    if (e != cudaSuccess) {
        cudaFree(p);
        trainer_fail(t, "cudaMalloc of %zu floats failed: %s", count, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

void train_cuda_free(float *p)
{
    cudaFree(p);
}

int train_cuda_isend(struct trainer *t, const float *buf, size_t bytes, int peer, uint32_t tag,
                     plait_cuda_request_t **req)
{
    return plait_cuda_isend(t->cuda->p2p, t->pp, buf, bytes, peer, tag, req) == PLAIT_OK ? 0 : -1;
}

int train_cuda_recv(struct trainer *t, float *buf, size_t bytes, int peer, uint32_t tag)
{
    return plait_cuda_recv(t->cuda->p2p, t->pp, buf, bytes, peer, tag) == PLAIT_OK ? 0 : -1;
}

int train_cuda_wait(struct trainer *t, plait_cuda_request_t *req)
{
    (void)t;
    return plait_cuda_wait(req) == PLAIT_OK ? 0 : -1;
}

int train_cuda_dp_start(struct trainer *t, int k)
{
    struct train_cuda *c = t->cuda;
    if (!c->dp_started && !(c->dp_started = calloc((size_t)t->nchunks, sizeof(int))))
        return trainer_fail(t, "out of memory");
    if (c->dp_started[k])
        return 0;
    c->dp_started[k] = 1;
    float *g = gpt_stage_grads(t->chunk[k]);
    size_t n = gpt_stage_param_count(t->chunk[k]);
    if (plait_nccl_allreduce(c->nccl, PLAIT_GROUP_DP, g, g, n, PLAIT_FLOAT32, PLAIT_SUM,
                             c->dp_stream) != PLAIT_OK)
        return trainer_fail(t, "starting the gradient all-reduce of layer chunk %d: %s", k,
                            plait_error(t->ctx));
    return 0;
}

int train_cuda_dp_finish(struct trainer *t)
{
    struct train_cuda *c = t->cuda;
    for (int k = 0; c->dp_started && k < t->nchunks; k++)
        c->dp_started[k] = 0;
    cudaError_t e = cudaStreamSynchronize(c->dp_stream);
    if (e != cudaSuccess)
        return cuda_fail(t, "the data-parallel gradient all-reduce", e);
    if (plait_nccl_check(c->nccl) != PLAIT_OK)
        return runtime_fail(t, "data-parallel gradient all-reduce");
    return 0;
}

/* mine += other on the device: cuBLAS's saxpy with alpha 1 rounds each sum
 * once, the float sum the CPU path computes. */
static int add_into(struct trainer *t, float *mine, const float *other, size_t n)
{
    if (n > INT_MAX)
        return trainer_fail(t, "tied embedding of %zu elements: expected at most %d", n, INT_MAX);
    const float one = 1.0f;
    cublasStatus_t b = cublasSaxpy(t->cuda->blas, (int)n, &one, other, 1, mine, 1);
    if (b != CUBLAS_STATUS_SUCCESS)
        return trainer_fail(t, "cublasSaxpy failed: %s", cublasGetStatusString(b));
    return 0;
}

int train_cuda_tie_embeddings(struct trainer *t, const gpt_tensor *emb, const gpt_tensor *head)
{
    struct train_cuda *c = t->cuda;
    size_t bytes = (emb ? emb->count : head->count) * sizeof(float);
    cudaError_t e = cudaSuccess;
    if (emb && head) { /* one stage, two chunks */
        if (add_into(t, emb->grad, head->grad, emb->count))
            return -1;
        e = cudaMemcpyAsync(head->grad, emb->grad, bytes, cudaMemcpyDeviceToDevice, NULL);
    } else {
        const gpt_tensor *mine = emb ? emb : head;
        int peer = emb ? t->place->pp_size - 1 : 0;
        if (!c->tie_other && !(c->tie_other = train_cuda_alloc(t, mine->count)))
            return -1;
        plait_cuda_request_t *rq = NULL;
        if (train_cuda_isend(t, mine->grad, bytes, peer, PLAIT_TAG_MAX, &rq) ||
            train_cuda_recv(t, c->tie_other, bytes, peer, PLAIT_TAG_MAX) || train_cuda_wait(t, rq))
            return runtime_fail(t, "exchanging the tied embedding's gradient");
        if (add_into(t, mine->grad, c->tie_other, mine->count))
            return -1;
    }
    /* The stage's next call reads the sums from its own stream. */
    if (e == cudaSuccess)
        e = cudaDeviceSynchronize();
    return e == cudaSuccess ? 0 : cuda_fail(t, "summing the tied embedding's gradient", e);
}

int train_cuda_copy_to_host(void *dst, const void *src, size_t bytes, void *ctx)
{
    struct trainer *t = ctx;
    /* io may call from its own thread, whose current device is 0. */
    cudaError_t e = cudaSetDevice(t->cuda->device);
    if (e == cudaSuccess)
        e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : -1;
}

int train_cuda_upload(struct trainer *t, void *dst, const void *src, size_t bytes)
{
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? 0 : cuda_fail(t, "copying a checkpoint tensor to the GPU", e);
}
