/* GPT-2 124M training step on the CPU (B=4, T=64, fp32): zero_grad, forward,
 * backward, gradient norm, AdamW. The anchor is cblas_sgemm on 1024^3 in the
 * same run: the model's GFLOP/s against it, and the step time against the
 * time its matrix FLOPs would take at sgemm speed. Step times are medians
 * (the build machines are shared and noisy).
 *
 *   bench_train_step [steps]   (PLAIT_BENCH_THREADS, default 2) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "kernels/kernels.h"

static double sgemm_gflops(void)
{
    const int n = 1024, reps = 10;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++)
        a[i] = b[i] = 1.0f / (1 + i % 7);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = bench_now() - t;
        best = t < best ? t : best;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * n / best / 1e9;
}

static void emit(FILE *f, const char *metric, double value, const char *unit, const char *anchor,
                 double anchor_value, const char *goal)
{
    bench_emit(f, "kernels_cpu_gpt2_124m_step", metric, value, unit, anchor, anchor_value,
               value / anchor_value, goal);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 5;
    const char *env = getenv("PLAIT_BENCH_THREADS");
    int threads = env ? atoi(env) : 2;
    if (steps <= 0 || steps > 100 || threads <= 0) {
        fprintf(stderr,
                "bench_train_step: steps %d, threads %d: expected 1..100 steps and threads > 0\n",
                steps, threads);
        return 2;
    }
    omp_set_num_threads(threads);

    gpt_stage_opts o = {
        .config = {.vocab = 50304, .max_seq = 1024, .n_layer = 12, .n_head = 12, .d_model = 768},
        .layer_end = 12,
        .first = 1,
        .last = 1,
        .tp_size = 1,
        .batch = 4,
        .seq = 64,
        .slots = 1};
    openblas_set_num_threads(threads);
    double anchor = sgemm_gflops();
    char err[256];
    gpt_stage *s = gpt_stage_create(&o, 1337, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "bench_train_step: %s\n", err);
        return 1;
    }
    const int N = o.batch * o.seq;
    int32_t *tok = malloc(N * sizeof(int32_t)), *tgt = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        tok[i] = (int32_t)((i * 7919) % o.config.vocab);
        tgt[i] = (int32_t)((i * 104729 + 13) % o.config.vocab);
    }
    double t_fwd[100], t_bwd[100], t_opt[100], total[100];
    float loss = 0;
    for (int step = 0; step <= steps; step++) {
        double t0 = bench_now();
        gpt_stage_zero_grad(s);
        if (gpt_stage_forward(s, 0, tok, NULL, tgt, NULL, &loss) < 0)
            goto fail;
        double t1 = bench_now();
        if (gpt_stage_backward(s, 0, NULL, 1.0f, NULL) < 0)
            goto fail;
        double t2 = bench_now();
        double norm = gpt_stage_grad_sumsq(s);
        if (norm > 1.0)
            gpt_stage_scale_grads(s, (float)(1.0 / norm));
        gpt_stage_adamw(s, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step + 1);
        double t3 = bench_now();
        if (step == 0)
            continue; /* warm-up: first touch of the buffers */
        t_fwd[step - 1] = t1 - t0, t_bwd[step - 1] = t2 - t1, t_opt[step - 1] = t3 - t2;
        total[step - 1] = t3 - t0;
        printf("step %d: loss %.4f, %.3f s (forward %.3f, backward %.3f, optimizer %.3f)\n", step,
               loss, t3 - t0, t1 - t0, t2 - t1, t3 - t2);
    }
    double step_s = bench_median(total, steps), gflop = gpt_stage_flops(s) / 1e9;
    double gflops = gflop / step_s;
    printf("%d threads, %.1f GFLOP per step: %.3f s/step, %.1f GFLOP/s; sgemm 1024^3 %.1f GFLOP/s;"
           " forward %.3f, backward %.3f, optimizer %.3f s\n",
           threads, gflop, step_s, gflops, anchor, bench_median(t_fwd, steps),
           bench_median(t_bwd, steps), bench_median(t_opt, steps));
    FILE *f = bench_results_open("bench_train_step");
    if (!f)
        return 1;
    emit(f, "model_gflops", gflops, "GFLOP/s", "cblas_sgemm 1024^3 GFLOP/s", anchor,
         "ratio as high as possible");
    emit(f, "step_time", step_s, "s", "step FLOPs at cblas_sgemm speed (s)", gflop / anchor,
         "<= 1.8 s/step (llm.c CPU: ~9.2 s)");
    fclose(f);
    gpt_stage_destroy(s);
    free(tok), free(tgt);
    return 0;
fail:
    fprintf(stderr, "bench_train_step: %s\n", gpt_stage_error(s));
    return 1;
}
