/* The plait-train job config: a libconfig file, every key documented in
 * the files in etc/. Loading refuses unknown keys, wrong types and out-of-range values
 * with "file:line: key: what was found, what was expected". */
#ifndef PLAIT_TRAIN_CONFIG_H
#define PLAIT_TRAIN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define TRAIN_PATH_MAX        1024
#define TRAIN_CONFIG_MAX_KEYS 64

enum pipe_kind { PIPE_1F1B, PIPE_ZB_H1 };
enum pipe_split { PIPE_SPLIT_BALANCED, PIPE_SPLIT_EVEN };
enum train_device { TRAIN_DEVICE_CPU, TRAIN_DEVICE_CUDA };
enum train_precision { TRAIN_FP32, TRAIN_BF16 };

struct train_model_config {
    int vocab_size;
    int context; /* tokens per sample */
    int layers;
    int heads;
    int dim; /* model width; the MLP is 4 * dim */
};

struct train_optim_config {
    double lr, min_lr;
    int warmup_steps;
    double beta1, beta2, eps, weight_decay;
    double clip; /* global gradient-norm bound; 0 disables clipping */
};

struct train_config {
    char file[TRAIN_PATH_MAX];
    struct train_model_config model;
    struct train_optim_config optim;
    int micro_batch;  /* samples per micro-batch per data-parallel rank */
    int global_batch; /* samples per optimizer step, all ranks together */
    int steps;
    int64_t seed;
    char data_path[TRAIN_PATH_MAX];
    char ckpt_dir[TRAIN_PATH_MAX]; /* empty: no checkpoints */
    int ckpt_every_steps;          /* 0: not by steps */
    double ckpt_every_minutes;     /* 0: not by time */
    int ckpt_keep;
    char metrics_path[TRAIN_PATH_MAX]; /* empty: no metrics file */
    double peak_tflops;                /* per rank, for MFU; 0: MFU not reported */
    enum pipe_kind schedule;
    enum pipe_split split; /* how the layers are shared among the pipeline stages */
    int dp_overlap;        /* 0: the gradient all-reduce waits for the whole backward pass */
    enum train_device device;
    enum train_precision precision; /* of the matrix products; bf16 only on CUDA */
    /* Source line of each key that was set, in schema order, for errors found
     * later (a global batch that the layout cannot split, say). */
    int lines[TRAIN_CONFIG_MAX_KEYS];
};

/* Loads and validates FILE. On error returns -1 with a one-line message in
 * ERR. */
int train_config_load(const char *file, struct train_config *cfg, char *err, size_t errlen);

/* Applies PLAIT_CKPT_DIR and PLAIT_CKPT_EVERY (set by plait.so from
 * --plait-ckpt-dir/--plait-ckpt-every), which override the file's values. */
int train_config_apply_env(struct train_config *cfg, char *err, size_t errlen);

/* Checks what depends on the parallel layout: heads and the MLP split over tp,
 * layers over pp, the global batch over micro-batches and dp. */
int train_config_check_layout(const struct train_config *cfg, int dp, int tp, int pp, char *err,
                              size_t errlen);

/* "file:line" of KEY ("batch.global"), or "file" when the key was not set. */
void train_config_where(const struct train_config *cfg, const char *key, char *buf, size_t len);

/* Parses a checkpoint interval: "N" (steps) or "Tmin" (minutes). */
int train_parse_ckpt_every(const char *text, int *steps, double *minutes);

/* Gradient-accumulation steps: global / (micro * dp). */
int train_config_accum(const struct train_config *cfg, int dp);

/* Learning rate at STEP (0-based): linear warmup, then cosine to min_lr. */
double train_lr_at(const struct train_optim_config *optim, int steps, int step);

#endif
