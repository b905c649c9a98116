/* Pipeline schedules as pure functions: for a stage of a P-stage pipeline and
 * M micro-batches, the ordered list of what that stage does in one optimizer
 * step. Executing each stage's list in order, with receives that wait and
 * sends that do not, never deadlocks (tests/train/schedule_test.c simulates
 * every stage against every other with random durations). */
#ifndef PLAIT_TRAIN_SCHEDULE_H
#define PLAIT_TRAIN_SCHEDULE_H

#include "config.h"

enum pipe_op {
    OP_RECV_ACT,  /* activations of mb from stage-1 */
    OP_FORWARD,   /* forward of mb */
    OP_SEND_ACT,  /* activations of mb to stage+1 */
    OP_RECV_GRAD, /* gradient wrt this stage's output, from stage+1 */
    OP_BACKWARD,  /* gradient wrt this stage's input (backward_input) */
    OP_SEND_GRAD, /* gradient wrt the input, to stage-1 */
    OP_WEIGHT,    /* weight gradients of mb (backward_weight) */
};

struct pipe_action {
    enum pipe_op op;
    int mb;
};

/* Upper bound of the actions of one stage: 7 per micro-batch. */
#define PIPE_MAX_ACTIONS(m) (7 * (m))

/* Fills OUT (room for PIPE_MAX_ACTIONS(m)) with stage's actions and returns
 * how many, or -1 when stages, stage or m is out of range. */
int pipe_schedule(enum pipe_kind kind, int stages, int stage, int m, struct pipe_action *out);

/* Most micro-batches whose activations this stage holds at once (forward done,
 * weight gradient not yet). */
int pipe_peak_in_flight(const struct pipe_action *a, int n);

const char *pipe_kind_name(enum pipe_kind kind);
const char *pipe_op_name(enum pipe_op op);

#endif
