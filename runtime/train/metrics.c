#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double gpt_flops_per_token(long long params, int layers, int dim, int context)
{
    return 6.0 * (double)params + 12.0 * layers * (double)dim * context;
}

/* JSON has no NaN or Infinity: a diverged loss is written as null. */
static void json_number(char *buf, size_t len, double v)
{
    if (isfinite(v))
        snprintf(buf, len, "%.9g", v);
    else
        snprintf(buf, len, "null");
}

/* The keys of a stage's entry in "stages", in enum pipe_time's order. */
static const char *const stage_keys[PIPE_T_N] = {
    "forward",   "backward", "weight",   "wait_act", "wait_grad",
    "wait_send", "warmup",   "cooldown", "span",
};

int metrics_write(FILE *f, const struct step_metrics *m)
{
    char loss[32], gn[32], mfu[32], bubble[32];
    json_number(loss, sizeof loss, m->loss);
    json_number(gn, sizeof gn, m->grad_norm);
    json_number(mfu, sizeof mfu, m->mfu >= 0 ? m->mfu : NAN);
    json_number(bubble, sizeof bubble, m->bubble >= 0 ? m->bubble : NAN);
    if (fprintf(f,
                "{\"step\":%d,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,\"step_s\":%.6f,"
                "\"tokens_per_s\":%.6g,\"mfu\":%s,\"bubble\":%s",
                m->step, loss, m->lr, gn, m->step_s, m->tokens_per_s, mfu, bubble) < 0)
        return -1;
    if (m->stage_times) {
        fputs(",\"stages\":[", f);
        for (int s = 0; s < m->stages; s++)
            for (int i = 0; i < PIPE_T_N; i++)
                fprintf(f, "%s\"%s\":%.6f%s", i == 0 ? (s ? ",{" : "{") : ",", stage_keys[i],
                        m->stage_times[PIPE_T_N * s + i], i == PIPE_T_N - 1 ? "}" : "");
        fputc(']', f);
    }
    if (fputs("}\n", f) < 0)
        return -1;
    return fflush(f) == 0 ? 0 : -1;
}

static void duration(char *buf, size_t len, double s)
{
    long t = s > 0 && s < 1e9 ? lround(s) : 0;
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%lds", t);
}

void metrics_progress(const struct step_metrics *m, char *buf, size_t len)
{
    char eta[32], mfu[32];
    duration(eta, sizeof eta, m->eta_s);
    if (m->mfu >= 0)
        snprintf(mfu, sizeof mfu, "%.1f%%", 100 * m->mfu);
    else
        snprintf(mfu, sizeof mfu, "n/a");
    snprintf(buf, len, "step %d/%d | loss %.4f | lr %.2e | %.3g tok/s | MFU %s | %s left", m->step,
             m->steps, m->loss, m->lr, m->tokens_per_s, mfu, eta);
}

/* The value after "key": in LINE, or NULL. Enough for the flat objects
 * metrics_write produces. */
static const char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

int metrics_read_loss(const char *file, int *steps, double *losses, int cap, char *err,
                      size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s; expected a metrics file from plait-train", file,
                 strerror(errno));
        return -1;
    }
    char line[4096];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        const char *s = json_field(line, "step"), *l = json_field(line, "loss");
        char *end;
        if (!s || !l)
            continue;
        long step = strtol(s, &end, 10);
        if (end == s)
            continue;
        double loss = strtod(l, &end);
        if (end == l || !isfinite(loss))
            continue;
        steps[n] = (int)step;
        losses[n] = loss;
        n++;
    }
    fclose(f);
    return n;
}
