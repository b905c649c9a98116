/* Metrics: a step written as a JSON line reads back; non-finite values become
 * null and are skipped by the reader; a pipeline step carries each stage's
 * times by name; the progress line carries step, loss, lr, tokens/s, MFU and
 * time left. */
#include "../check.h"
#include "../../runtime/train/metrics.h"

#include <unistd.h>

int main(void)
{
    char path[64], err[256], line[256];
    snprintf(path, sizeof path, "/tmp/train_metrics_test.%d.jsonl", (int)getpid());
    FILE *f = fopen(path, "w");
    struct step_metrics m = {.step = 1,
                             .steps = 3,
                             .loss = 5.5451774444795623,
                             .lr = 1e-3,
                             .grad_norm = 0.5,
                             .step_s = 0.25,
                             .tokens_per_s = 1024,
                             .mfu = -1,
                             .bubble = -1};
    CHECK(metrics_write(f, &m) == 0);
    m.step = 2;
    m.loss = NAN;
    CHECK(metrics_write(f, &m) == 0);
    m.step = 3;
    m.loss = 4.25;
    m.mfu = 0.5;
    float times[2 * PIPE_T_N] = {0};
    times[PIPE_T_FORWARD] = 0.125f;
    times[PIPE_T_N + PIPE_T_WAIT_ACT] = 0.0625f;
    times[PIPE_T_N + PIPE_T_SPAN] = 1.5f;
    m.bubble = 0.25;
    m.stage_times = times;
    m.stages = 2;
    CHECK(metrics_write(f, &m) == 0);
    fclose(f);

    f = fopen(path, "r");
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR_CONTAINS(line, "\"mfu\":null");
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK_STR_CONTAINS(line, "\"loss\":null");
    CHECK(strstr(line, "stages") == NULL);
    char piped[1024];
    CHECK(fgets(piped, sizeof piped, f) != NULL);
    CHECK_STR_CONTAINS(piped,
                       "\"bubble\":0.25,\"stages\":[{\"forward\":0.125000,\"backward\":0.000000,");
    CHECK_STR_CONTAINS(piped, "\"span\":0.000000},{\"forward\":0.000000,");
    CHECK_STR_CONTAINS(piped, "\"wait_act\":0.062500,");
    CHECK_STR_CONTAINS(piped, "\"span\":1.500000}]}\n");
    fclose(f);

    int steps[8];
    double losses[8];
    int n = metrics_read_loss(path, steps, losses, 8, err, sizeof err);
    CHECK_INT_EQ(n, 2);
    CHECK_INT_EQ(steps[0], 1);
    CHECK(fabs(losses[0] - 5.5451774444795623) < 1e-8);
    CHECK_INT_EQ(steps[1], 3);
    CHECK(losses[1] == 4.25);
    unlink(path);
    CHECK(metrics_read_loss(path, steps, losses, 8, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "cannot open");

    m.eta_s = 185;
    metrics_progress(&m, line, sizeof line);
    CHECK_STR_EQ(line, "step 3/3 | loss 4.2500 | lr 1.00e-03 | 1.02e+03 tok/s | MFU 50.0% | "
                       "3m05s left");
    m.mfu = -1;
    m.eta_s = 7300;
    metrics_progress(&m, line, sizeof line);
    CHECK_STR_CONTAINS(line, "MFU n/a | 2h01m left");

    /* 124M-parameter GPT-2 at context 1024: about 0.86 GFLOP per token. */
    double fpt = gpt_flops_per_token(124000000, 12, 768, 1024);
    CHECK(fpt > 8.5e8 && fpt < 8.6e8);
    return check_status("train_metrics_test");
}
