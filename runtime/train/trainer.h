/* plait-train's insides: the state of one rank and the steps of training.
 *
 * A rank holds pipeline stage pp_rank of the model (layers split evenly over
 * the stages), TP-sharded as tp_rank. With data parallelism the stage is
 * built as a chain of chunks, one gpt_stage per layer (the first also holding
 * the embeddings, the last the head): a chunk's gradients are final as soon
 * as the last micro-batch's backward has passed it, so its data-parallel
 * all-reduce starts while the earlier chunks are still in their backward.
 * Without, the stage is one gpt_stage. With device = "cuda" the buffers are
 * on the rank's GPU (cuda.h). */
#ifndef PLAIT_TRAIN_TRAINER_H
#define PLAIT_TRAIN_TRAINER_H

#include <signal.h>

#include "io/plait_io.h"
#include "kernels/kernels.h"
#include "runtime/plait.h"
#include "runtime/train/config.h"
#include "runtime/train/cuda.h"
#include "runtime/train/schedule.h"

/* Exit status after a checkpoint taken because of SIGUSR1/SIGTERM: the job
 * is not finished and resumes from that checkpoint when started again. */
#define TRAIN_EXIT_REQUEUE 75

/* A send still using its buffer: a host request, or on the GPU a device one. */
struct pipe_send {
    plait_request_t *host;
    plait_cuda_request_t *device;
};

struct trainer {
    struct train_config cfg;
    struct train_cuda *cuda; /* device = "cuda" (cuda.h); NULL on the CPU */
    plait_context_t *ctx;
    const plait_placement_t *place;
    plait_comm_t *world, *dp, *tp, *pp;
    int accum; /* micro-batches per rank per step */
    int first, last;

    int nchunks;
    gpt_stage **chunk;
    int slots;    /* micro-batches in flight: the schedule's peak */
    float **act;  /* [(nchunks + 1) * slots]: act[k] is chunk k's input, act[nchunks] the output */
    float **grad; /* same shape: gradient with respect to act */
    size_t act_len;
    struct pipe_send *act_send, *grad_send; /* per slot */
    plait_request_t **bucket;               /* per chunk: its gradient all-reduce */
    struct pipe_action *actions;
    int nactions;

    plait_loader *loader; /* first and last stages */
    int32_t *tokens, *targets;

    float *tp_scratch; /* allgather space for the TP max */
    size_t tp_scratch_len;

    double pipe_time[PIPE_T_N]; /* this step's, by where it went */
    char err[PLAIT_IO_ERRLEN];
};

/* Builds the chunks and buffers for this rank's stage. */
int model_create(struct trainer *t);
void model_destroy(struct trainer *t);
void model_zero_grad(struct trainer *t);
/* Adds the tied embedding's two gradient copies (first chunk of the first
 * stage, last chunk of the last) so both copies stay equal. */
int model_tie_embeddings(struct trainer *t);
/* This rank's share of the squared global gradient norm. */
double model_grad_sumsq(struct trainer *t);
void model_scale_grads(struct trainer *t, float factor);
void model_adamw(struct trainer *t, float lr, int step);
long long model_param_count(struct trainer *t);
double model_flops_per_step(struct trainer *t);

/* One optimizer step's forwards and backwards over the pipeline, with the
 * data-parallel all-reduce of each chunk's gradients started as soon as they
 * are final and finished before returning. *loss_sum: the sum of this rank's
 * micro-batch losses (last stage), else 0. */
int pipeline_step(struct trainer *t, double *loss_sum);

/* Checkpoints through io: what is saved, resume, the save itself. */
struct train_ckpt;
int ckpt_open(struct trainer *t, struct train_ckpt **out);
/* Collective, with a checkpoint directory: rank 0 prepares it; a failure is
 * every rank's, with rank 0's reason. */
int ckpt_open_writer(struct trainer *t, struct train_ckpt *c);
/* This rank's tensors, with the writer (none without a directory). */
int ckpt_register(struct trainer *t, struct train_ckpt *c);
/* Resumes from the newest valid checkpoint, if any: *step is the steps done
 * (0 without one). */
int ckpt_resume(struct trainer *t, struct train_ckpt *c, int *step);
/* WAIT: durable on return; else written in the background, committed by a
 * later ckpt_commit. */
int ckpt_save(struct trainer *t, struct train_ckpt *c, int step, int wait);
/* Collective: commits a background save once every rank has written it;
 * WAIT blocks until then. */
int ckpt_commit(struct trainer *t, struct train_ckpt *c, int wait);
void ckpt_close(struct train_ckpt *c);

int trainer_fail(struct trainer *t, const char *fmt, ...);

#endif
