/* What a training step reports: one JSON line per step in the metrics file,
 * one progress line on rank 0's stdout, and the reader plait-plot uses. */
#ifndef PLAIT_TRAIN_METRICS_H
#define PLAIT_TRAIN_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "schedule.h"

struct step_metrics {
    int step; /* 1-based: steps completed */
    int steps;
    double loss, lr, grad_norm;
    double step_s;       /* wall time of this step */
    double tokens_per_s; /* all ranks together */
    double mfu;          /* model FLOPs utilisation, 0..1; <0: not known */
    double bubble;       /* pipeline idle fraction of the average stage; <0: no pipeline */
    double eta_s;        /* estimated time to the last step */
    /* With a pipeline: PIPE_T_N values (enum pipe_time) per stage, written
     * as the "stages" list; NULL: none. */
    const float *stage_times;
    int stages;
};

/* Training FLOPs per token of a GPT (forward and backward: 6 x parameters
 * plus attention's 12 x layers x dim x context). */
double gpt_flops_per_token(long long params, int layers, int dim, int context);

/* Appends STEP as one JSON line and flushes it, so a killed job keeps every
 * completed step. Returns 0 or -1 (errno set). */
int metrics_write(FILE *f, const struct step_metrics *m);

/* "step 12/100 | loss 3.2154 | lr 2.50e-04 | 1.23e+04 tok/s | MFU 41.2% | 3m05s left" */
void metrics_progress(const struct step_metrics *m, char *buf, size_t len);

/* One (step, loss) pair per JSON line of FILE; lines without both keys are
 * skipped. Returns the number of points (at most CAP), or -1 with ERR. */
int metrics_read_loss(const char *file, int *steps, double *losses, int cap, char *err,
                      size_t errlen);

#endif
