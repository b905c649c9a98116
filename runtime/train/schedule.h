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

/* Where a stage's time in one step went, in seconds: its passes, its waits
 * by cause, and its span (the wall time of the whole pipeline part). The
 * warm-up and cool-down entries are the parts of the receive waits before
 * the stage's first backward and after its last forward. Time not in any
 * entry (issuing sends, data-parallel all-reduces, bookkeeping) is the span
 * less the rest. */
enum pipe_time {
    PIPE_T_FORWARD,
    PIPE_T_BACKWARD,  /* input gradients */
    PIPE_T_WEIGHT,    /* weight gradients */
    PIPE_T_WAIT_ACT,  /* receiving activations */
    PIPE_T_WAIT_GRAD, /* receiving gradients */
    PIPE_T_WAIT_SEND, /* an earlier send still reading a buffer about to be reused */
    PIPE_T_WARMUP,
    PIPE_T_COOLDOWN,
    PIPE_T_SPAN,
    PIPE_T_N
};

/* Which layers each of `stages` stages holds: stage s has layers
 * [bounds[s], bounds[s + 1]), every stage at least one (0, or -1 when there
 * are fewer layers than stages). Even shares them as equally as integers
 * allow; balanced also weighs the last stage's tied classifier and loss, a
 * d x V product per token, in layers (a layer's products are 12 d^2 and
 * its attention about T d per token), and gives the last stage fewer
 * layers when that lowers the busiest stage's work. Both ways the other
 * stages share theirs as evenly as integers allow, the larger shares first. */
int pipe_split_layers(enum pipe_split split, int layers, int stages, int vocab, int dim,
                      int context, int *bounds);

const char *pipe_kind_name(enum pipe_kind kind);
const char *pipe_op_name(enum pipe_op op);

#endif
