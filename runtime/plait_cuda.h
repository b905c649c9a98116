/* libplait_cuda: a rank's GPU and point-to-point on device buffers.
 *
 * Built only where CUDA is present (build/lib/libplait_cuda.a, next to
 * libplait_nccl.a), so libplait itself stays free of CUDA.
 *
 * Device buffers go over UCX directly when this UCX build handles CUDA
 * memory (plait_ucx_device_memory); otherwise they are staged through pinned
 * host buffers in chunks, pipelined: a send posts chunk k on the wire as soon
 * as its device-to-host copy is done while the copy of chunk k+1 runs, and a
 * receive copies chunk k to the device while chunk k+1 is still arriving.
 * Matching is plait_isend's: same communicator, peer and tag, in posting
 * order; the chunking is invisible to the caller, but both sides of a
 * message must use this library with the same chunk size.
 *
 * Errors: plait statuses, with one line in plait_error(ctx) naming the CUDA
 * call and its error. */
#ifndef PLAIT_CUDA_H
#define PLAIT_CUDA_H

#include "runtime/plait.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Selects this rank's CUDA device (cudaSetDevice): the one whose PCI bus id
 * the plugin exported in PLAIT_GPU_BUSID (PLAIT_ERR_INVALID when no visible
 * device has it), else the only visible one (under Slurm CUDA_VISIBLE_DEVICES
 * gives each task its GPU), else local_rank modulo the number visible
 * (plait-run on a multi-GPU machine). PLAIT_ERR_UNSUPPORTED when no device is
 * visible. Call it before any other CUDA work of the process. */
plait_status_t plait_cuda_select_device(plait_context_t *ctx, int *device);

typedef struct plait_cuda_p2p plait_cuda_p2p_t;
typedef struct plait_cuda_request plait_cuda_request_t;

/* chunk_bytes: the staging chunk; 0 takes PLAIT_CUDA_CHUNK. Uses the
 * current device. */
#define PLAIT_CUDA_CHUNK (1u << 20)
plait_status_t plait_cuda_p2p_open(plait_context_t *ctx, size_t chunk_bytes,
                                   plait_cuda_p2p_t **p2p);
/* Every request must be waited for first. NULL is fine. */
void plait_cuda_p2p_close(plait_cuda_p2p_t *p2p);
/* 1: device pointers go to UCX as they are; 0: staged through pinned host
 * memory. */
int plait_cuda_p2p_direct(const plait_cuda_p2p_t *p2p);

/* Sends `bytes` of device memory. Returns once every chunk is posted (the
 * device-to-host copies are done; nothing waits for the receiver), so two
 * ranks sending to each other cannot deadlock. The buffer may be written
 * again after plait_cuda_wait. */
plait_status_t plait_cuda_isend(plait_cuda_p2p_t *p2p, plait_comm_t *comm, const void *buf,
                                size_t bytes, int peer, uint32_t tag, plait_cuda_request_t **req);
/* Blocking receive into device memory; the data is on the device on return. */
plait_status_t plait_cuda_recv(plait_cuda_p2p_t *p2p, plait_comm_t *comm, void *buf, size_t bytes,
                               int peer, uint32_t tag);
/* Waits for a send and frees the request, whatever it returns. */
plait_status_t plait_cuda_wait(plait_cuda_request_t *req);

#ifdef __cplusplus
}
#endif

#endif
