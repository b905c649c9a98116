/* plait-train: trains a GPT with data, tensor and pipeline parallelism.
 *
 *   plait-train --config FILE
 *
 * Every rank runs it (srun under Slurm, plait-run without). The layout comes
 * from the runtime (the plugin's --plait-layout, or plait-run --layout); the
 * rest from the job config (etc/tiny.cfg documents every key). */
#include "runtime/train/metrics.h"
#include "runtime/train/trainer.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by SIGUSR1/SIGTERM/SIGINT, acted on at the end of a step. A signal handler
 * can reach nothing else. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Before the runtime is up, only the rank the environment calls 0 speaks:
 * every rank reads the same config and would say the same thing. */
static int env_rank_zero(void)
{
    const char *r = getenv("PLAIT_RANK");
    if (!r)
        r = getenv("SLURM_PROCID");
    return !r || strcmp(r, "0") == 0;
}

/* Without MSG: the usage, on stdout (--help). */
static int usage(const char *msg)
{
    if (!msg) {
        printf("usage: plait-train --config FILE\n"
               "Every rank runs it: srun --mpi=pmi2 plait-train --config FILE, or\n"
               "plait-run -n N --layout dp=D,tp=T,pp=P -- plait-train --config FILE.\n"
               "Every config key: etc/tiny.cfg (installed in share/plait/examples/).\n"
               "PLAIT_CKPT_DIR and PLAIT_CKPT_EVERY override checkpoint.dir and .every;\n"
               "PLAIT_TIMEOUT: seconds to wait for a silent peer (60).\n"
               "SIGUSR1, SIGTERM, Ctrl-C: checkpoint after the step and exit 75 (requeue).\n");
        return 0;
    }
    fprintf(stderr, "plait-train: %s\n", msg);
    return 2;
}

static int open_data(struct trainer *t)
{
    struct plait_data_info info;
    char w[TRAIN_PATH_MAX + 32], why[PLAIT_IO_ERRLEN];
    train_config_where(&t->cfg, "data.path", w, sizeof w);
    if (plait_data_info(t->cfg.data_path, &info, why))
        return trainer_fail(t, "%s: data.path: %s", w, why);
    if (info.vocab_size > (uint32_t)t->cfg.model.vocab_size) {
        train_config_where(&t->cfg, "model.vocab_size", w, sizeof w);
        return trainer_fail(t, "%s: model.vocab_size: %d is below the dataset's vocabulary %u (%s)",
                            w, t->cfg.model.vocab_size, info.vocab_size, t->cfg.data_path);
    }
    if (!t->first && !t->last)
        return 0;
    struct plait_loader_config lc = {
        .path = t->cfg.data_path,
        .seq_len = t->cfg.model.context,
        .batch = t->accum * t->cfg.micro_batch,
        .dp_rank = t->place->dp_rank,
        .dp_size = t->place->dp_size,
        .seed = (uint64_t)t->cfg.seed,
    };
    t->loader = plait_loader_open(&lc, t->err);
    if (!t->loader)
        return -1;
    size_t n = (size_t)lc.batch * (size_t)lc.seq_len;
    t->tokens = malloc(n * sizeof(int32_t));
    t->targets = malloc(n * sizeof(int32_t));
    if (!t->tokens || !t->targets)
        return trainer_fail(t, "out of memory for a batch of %zu tokens", n);
    return 0;
}

/* What all ranks must agree on after a step, summed over the world in one
 * call: the squared gradient norm (one data-parallel replica contributes),
 * the mean loss (the last stages contribute), a stop request (any rank), a
 * checkpoint due by time (rank 0's clock); then for each pipeline stage of
 * the first replica where its pipeline time went (PIPE_T_N values). */
enum { AGREE_SUMSQ, AGREE_LOSS, AGREE_STOP, AGREE_TIME, AGREE_N };

/* Idle fraction of the average stage over the pipeline's span (the slowest
 * stage's): the time outside its forward, input- and weight-gradient passes.
 * 1F1B's (p-1)/(m+p-1) in the unit-time model. */
static double pipeline_bubble(const float *stage_times, int pp)
{
    double span = 0, idle = 0;
    for (int s = 0; s < pp; s++)
        if (stage_times[PIPE_T_N * s + PIPE_T_SPAN] > span)
            span = stage_times[PIPE_T_N * s + PIPE_T_SPAN];
    for (int s = 0; s < pp; s++) {
        const float *st = stage_times + PIPE_T_N * s;
        idle += (span - st[PIPE_T_FORWARD] - st[PIPE_T_BACKWARD] - st[PIPE_T_WEIGHT]) / span;
    }
    return idle / pp;
}

struct run {
    struct trainer *t;
    struct train_ckpt *ckpt;
    FILE *metrics;
    double flops_per_step; /* all ranks */
    double started, last_save;
    float *agree; /* AGREE_N + PIPE_T_N x pp values */
    int first_step;
    int same_everywhere; /* the error is every rank's: only rank 0 reports it */
};

static int train_step(struct run *r, int step)
{
    struct trainer *t = r->t;
    const struct train_config *cfg = &t->cfg;
    double t0 = now(), loss_sum;
    model_zero_grad(t);
    if (t->loader && plait_loader_next(t->loader, t->tokens, t->targets))
        return trainer_fail(t, "%s", plait_loader_error(t->loader));
    if (pipeline_step(t, &loss_sum) || model_tie_embeddings(t))
        return -1;

    int pp = t->place->pp_size;
    float *agree = r->agree;
    size_t nagree = AGREE_N + (size_t)PIPE_T_N * pp;
    memset(agree, 0, sizeof(float) * nagree);
    if (t->place->dp_rank == 0)
        agree[AGREE_SUMSQ] = (float)model_grad_sumsq(t);
    if (t->place->dp_rank == 0 && t->place->tp_rank == 0)
        for (int i = 0; i < PIPE_T_N; i++)
            agree[AGREE_N + PIPE_T_N * t->place->pp_rank + i] = (float)t->pipe_time[i];
    if (t->last && t->place->tp_rank == 0)
        agree[AGREE_LOSS] = (float)(loss_sum / (t->accum * t->place->dp_size));
    agree[AGREE_STOP] = stop_requested;
    if (t->place->rank == 0 && cfg->ckpt_every_minutes > 0)
        agree[AGREE_TIME] = t0 - r->last_save >= 60 * cfg->ckpt_every_minutes;
    if (plait_allreduce(t->world, agree, agree, nagree, PLAIT_FLOAT32, PLAIT_SUM) != PLAIT_OK)
        return trainer_fail(t, "step %d: agreeing on the loss and gradient norm: %s", step + 1,
                            plait_error(t->ctx));

    double norm = sqrt(agree[AGREE_SUMSQ]);
    if (cfg->optim.clip > 0 && norm > cfg->optim.clip)
        model_scale_grads(t, (float)(cfg->optim.clip / (norm + 1e-6)));
    double lr = train_lr_at(&cfg->optim, cfg->steps, step);
    model_adamw(t, (float)lr, step + 1);

    int done = step + 1;
    double step_s = now() - t0;
    if (t->place->rank == 0) {
        double elapsed = now() - r->started;
        struct step_metrics m = {
            .step = done,
            .steps = cfg->steps,
            .loss = agree[AGREE_LOSS],
            .lr = lr,
            .grad_norm = norm,
            .step_s = step_s,
            .tokens_per_s = (double)cfg->global_batch * cfg->model.context / step_s,
            .mfu = cfg->peak_tflops > 0 ? r->flops_per_step / step_s /
                                              (cfg->peak_tflops * 1e12 * t->place->world_size)
                                        : -1,
            .bubble = pp > 1 ? pipeline_bubble(agree + AGREE_N, pp) : -1,
            .stage_times = pp > 1 ? agree + AGREE_N : NULL,
            .stages = pp,
            .eta_s = elapsed / (done - r->first_step) * (cfg->steps - done),
        };
        char line[256];
        metrics_progress(&m, line, sizeof line);
        printf("%s\n", line);
        fflush(stdout);
        if (r->metrics && metrics_write(r->metrics, &m))
            return trainer_fail(t, "%s: writing metrics: %s", cfg->metrics_path, strerror(errno));
    }

    if (ckpt_commit(t, r->ckpt, 0))
        return -1;
    if (agree[AGREE_STOP] > 0) {
        if (ckpt_save(t, r->ckpt, done, 1))
            return -1;
        if (t->place->rank == 0)
            printf("stopping after step %d on a signal%s\n", done,
                   cfg->ckpt_dir[0] ? ", checkpoint written" : " (no checkpoint.dir set)");
        return 1;
    }
    int by_steps = cfg->ckpt_every_steps > 0 && done % cfg->ckpt_every_steps == 0;
    if (done < cfg->steps && (by_steps || agree[AGREE_TIME] > 0)) {
        r->last_save = now();
        return ckpt_save(t, r->ckpt, done, 0);
    }
    return 0;
}

/* Before any other device work: the rank's GPU, NCCL, device point-to-point. */
static int open_cuda(struct run *r)
{
    struct trainer *t = r->t;
    char w[TRAIN_PATH_MAX + 32];
    train_config_where(&t->cfg, "device", w, sizeof w);
    if (!train_cuda_open)
        return trainer_fail(t,
                            "%s: device: \"cuda\": this plait-train was built without CUDA; "
                            "expected \"cpu\"",
                            w);
    r->same_everywhere = 0;
    if (train_cuda_open(t)) {
        char why[sizeof t->err];
        snprintf(why, sizeof why, "%s", t->err);
        return trainer_fail(t, "%s: device: \"cuda\": %s", w, why);
    }
    r->same_everywhere = 1;
    return 0;
}

static int setup(struct run *r)
{
    struct trainer *t = r->t;
    r->same_everywhere = 1;
    if (train_config_check_layout(&t->cfg, t->place->dp_size, t->place->tp_size, t->place->pp_size,
                                  t->err, sizeof t->err))
        return -1;
    t->accum = train_config_accum(&t->cfg, t->place->dp_size);
    t->world = plait_comm(t->ctx, PLAIT_GROUP_WORLD);
    t->dp = plait_comm(t->ctx, PLAIT_GROUP_DP);
    t->tp = plait_comm(t->ctx, PLAIT_GROUP_TP);
    t->pp = plait_comm(t->ctx, PLAIT_GROUP_PP);
    t->first = t->place->pp_rank == 0;
    t->last = t->place->pp_rank == t->place->pp_size - 1;
    if (t->cfg.precision == TRAIN_BF16 && t->cfg.device != TRAIN_DEVICE_CUDA) {
        char w[TRAIN_PATH_MAX + 32];
        train_config_where(&t->cfg, "precision", w, sizeof w);
        return trainer_fail(t, "%s: precision: \"bf16\" needs device = \"cuda\"; expected \"fp32\"",
                            w);
    }
    if (t->cfg.device == TRAIN_DEVICE_CUDA && open_cuda(r))
        return -1;
    r->agree = malloc(sizeof(float) * (AGREE_N + (size_t)PIPE_T_N * t->place->pp_size));
    if (!r->agree)
        return trainer_fail(t, "out of memory");
    if (open_data(t))
        return -1;
    r->same_everywhere = 0;
    if (model_create(t) || ckpt_open(t, &r->ckpt))
        return -1;
    r->same_everywhere = 1;
    if (ckpt_open_writer(t, r->ckpt))
        return -1;
    r->same_everywhere = 0;
    if (ckpt_register(t, r->ckpt) || ckpt_resume(t, r->ckpt, &r->first_step) < 0)
        return -1;

    float flops = (float)model_flops_per_step(t);
    if (plait_allreduce(t->world, &flops, &flops, 1, PLAIT_FLOAT32, PLAIT_SUM) != PLAIT_OK)
        return trainer_fail(t, "summing the model's FLOPs: %s", plait_error(t->ctx));
    r->flops_per_step = flops;
    float params = (float)model_param_count(t);
    if (t->place->dp_rank != 0)
        params = 0;
    if (plait_allreduce(t->world, &params, &params, 1, PLAIT_FLOAT32, PLAIT_SUM) != PLAIT_OK)
        return trainer_fail(t, "counting parameters: %s", plait_error(t->ctx));

    if (t->place->rank == 0) {
        if (t->cfg.metrics_path[0]) {
            r->metrics = fopen(t->cfg.metrics_path, r->first_step ? "a" : "w");
            if (!r->metrics)
                return trainer_fail(t, "%s: cannot open the metrics file: %s", t->cfg.metrics_path,
                                    strerror(errno));
        }
        printf("plait-train: %d ranks (dp=%d tp=%d pp=%d, %s), %.4g parameters, %d steps of "
               "%d samples (%d micro-batches of %d per rank), %s, on %s\n",
               t->place->world_size, t->place->dp_size, t->place->tp_size, t->place->pp_size,
               plait_bootstrap_name(t->ctx), params, t->cfg.steps, t->cfg.global_batch, t->accum,
               t->cfg.micro_batch, pipe_kind_name(t->cfg.schedule), t->cuda ? "GPUs" : "CPUs");
        fflush(stdout);
    }
    return 0;
}

static int train(struct run *r)
{
    struct trainer *t = r->t;
    if (setup(r))
        return 1;
    r->started = r->last_save = now();
    if (r->first_step == t->cfg.steps && t->place->rank == 0)
        printf("all %d steps were already trained: nothing to do\n", t->cfg.steps);
    for (int step = r->first_step; step < t->cfg.steps; step++) {
        int rc = train_step(r, step);
        if (rc < 0)
            return 1;
        if (rc > 0)
            return TRAIN_EXIT_REQUEUE;
    }
    if (t->cfg.ckpt_dir[0] && r->first_step < t->cfg.steps &&
        (ckpt_commit(t, r->ckpt, 1) || ckpt_save(t, r->ckpt, t->cfg.steps, 1)))
        return 1;
    if (t->place->rank == 0 && t->cfg.metrics_path[0])
        printf("metrics: %s (plait-plot %s draws the loss curve)\n", t->cfg.metrics_path,
               t->cfg.metrics_path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(NULL);
        else if (strcmp(argv[i], "--config") == 0)
            return usage("--config without a FILE; expected --config FILE");
        else {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown argument '%.200s'; expected --config FILE", argv[i]);
            return usage(msg);
        }
    }
    if (!config)
        return usage("missing --config FILE (usage: plait-train --config FILE)");

    struct trainer trainer = {0};
    struct trainer *t = &trainer;
    if (train_config_load(config, &t->cfg, t->err, sizeof t->err) ||
        train_config_apply_env(&t->cfg, t->err, sizeof t->err)) {
        if (env_rank_zero())
            fprintf(stderr, "plait-train: %s\n", t->err);
        return 1;
    }

    /* SA_RESTART: the signal must not fail a system call inside UCX or HDF5.
     * Ctrl-C stops as SIGTERM does; a second one kills at once. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_flags |= SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    /* A closed stdout (plait-train | head) loses progress lines, not the
     * run; a file past ulimit -f fails its write, which says so, rather than
     * killing the job before its checkpoint. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);

    if (plait_init(NULL, &t->ctx, t->err, sizeof t->err) != PLAIT_OK) {
        fprintf(stderr, "plait-train: %s\n", t->err);
        return 1;
    }
    t->place = plait_placement(t->ctx);
    struct run r = {.t = t};
    int rc = train(&r);
    if (rc == 1 && r.same_everywhere && t->place->rank == 0)
        fprintf(stderr, "plait-train: %s\n", t->err);
    else if (rc == 1 && !r.same_everywhere)
        fprintf(stderr, "plait-train: rank %d (%s): %s\n", t->place->rank, t->place->host, t->err);
    if (r.metrics)
        fclose(r.metrics);
    free(r.agree);
    ckpt_close(r.ckpt);
    if (t->loader)
        plait_loader_close(t->loader);
    free(t->tokens);
    free(t->targets);
    model_destroy(t);
    if (t->cuda)
        train_cuda_close(t, rc != 0);
    plait_finalize(t->ctx);
    return rc;
}
