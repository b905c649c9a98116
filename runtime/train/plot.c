/* plait-plot: turns plait-train's metrics file into an SVG loss curve.
 *
 *   plait-plot METRICS.jsonl [-o OUT.svg]
 *
 * Without -o the picture goes next to the metrics file, with .svg for its
 * extension. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 1000000
#define WIDTH      800
#define HEIGHT     480
#define LEFT       70
#define RIGHT      20
#define TOP        40
#define BOTTOM     50

/* A requeued job resumes from its last checkpoint and logs some steps again:
 * a step at or below the last kept one rewinds the curve to it. */
static int keep_latest_run(int *steps, double *losses, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        while (kept > 0 && steps[kept - 1] >= steps[i])
            kept--;
        steps[kept] = steps[i];
        losses[kept] = losses[i];
        kept++;
    }
    return kept;
}

/* A round tick spacing giving about five ticks over RANGE. */
static double tick_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    return mag * (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10);
}

static int write_svg(FILE *f, const char *title, const int *steps, const double *losses, int n)
{
    double x0 = steps[0], x1 = steps[n - 1], y0 = losses[0], y1 = losses[0];
    for (int i = 0; i < n; i++) {
        y0 = fmin(y0, losses[i]);
        y1 = fmax(y1, losses[i]);
    }
    if (x1 <= x0)
        x1 = x0 + 1;
    if (y1 - y0 < 1e-9 * fmax(1, fabs(y1))) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define SX(v) (LEFT + ((v)-x0) / (x1 - x0) * pw)
#define SY(v) (TOP + (y1 - (v)) / (y1 - y0) * ph)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
            WIDTH, HEIGHT, WIDTH, HEIGHT, WIDTH / 2);
    for (const char *c = title; *c; c++) {
        if (*c == '<')
            fputs("&lt;", f);
        else if (*c == '&')
            fputs("&amp;", f);
        else
            fputc(*c, f);
    }
    fprintf(f, "</text>\n");
    double ys = tick_step(y1 - y0);
    for (double y = ceil(y0 / ys) * ys; y <= y1; y += ys)
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, SY(y), WIDTH - RIGHT, SY(y), LEFT - 6, SY(y) + 4, y);
    double xs = tick_step(x1 - x0);
    if (xs < 1)
        xs = 1;
    for (double x = ceil(x0 / xs) * xs; x <= x1; x += xs)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                SX(x), TOP, SX(x), HEIGHT - BOTTOM, SX(x), HEIGHT - BOTTOM + 18, x);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"black\"/>\n"
            "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">step</text>\n"
            "<text x=\"16\" y=\"%.0f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 16 %.0f)\">loss</text>\n"
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"",
            LEFT, TOP, pw, ph, LEFT + pw / 2, HEIGHT - 12, TOP + ph / 2, TOP + ph / 2);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", SX(steps[i]), SY(losses[i]));
    fprintf(f, "\"/>\n</svg>\n");
#undef SX
#undef SY
    return ferror(f) ? -1 : 0;
}

/* Without MSG: the usage, on stdout (--help). */
static int usage(const char *msg, const char *arg)
{
    if (!msg) {
        printf("usage: plait-plot METRICS.jsonl [-o OUT.svg]\n");
        return 0;
    }
    fprintf(stderr, "plait-plot: %s%s%s%s; expected METRICS.jsonl [-o OUT.svg]\n", msg,
            arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    return 2;
}

int main(int argc, char **argv)
{
    /* Past ulimit -f a write fails and says so, instead of SIGXFSZ killing us. */
    signal(SIGXFSZ, SIG_IGN);
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(NULL, NULL);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "-o") == 0)
            return usage("-o without a file name", NULL);
        else if (argv[i][0] == '-')
            return usage("unknown option", argv[i]);
        else if (!in)
            in = argv[i];
        else
            return usage("a second metrics file", argv[i]);
    }
    if (!in)
        return usage("no metrics file", NULL);
    char derived[4096];
    if (!out) {
        const char *dot = strrchr(in, '.'), *slash = strrchr(in, '/');
        int stem = dot && (!slash || dot > slash) ? (int)(dot - in) : (int)strlen(in);
        snprintf(derived, sizeof derived, "%.*s.svg", stem, in);
        out = derived;
    }

    int *steps = malloc(sizeof(int) * MAX_POINTS);
    double *losses = malloc(sizeof(double) * MAX_POINTS);
    char err[512];
    int rc = 1;
    if (!steps || !losses) {
        fprintf(stderr, "plait-plot: out of memory\n");
        goto out;
    }
    int n = metrics_read_loss(in, steps, losses, MAX_POINTS, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "plait-plot: %s\n", err);
        goto out;
    }
    n = keep_latest_run(steps, losses, n);
    if (n == 0) {
        fprintf(stderr,
                "plait-plot: %s: no step with a finite loss; expected JSON lines with "
                "\"step\" and \"loss\"\n",
                in);
        goto out;
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "plait-plot: %s: cannot write: %s\n", out, strerror(errno));
        goto out;
    }
    char title[600];
    const char *base = strrchr(in, '/');
    snprintf(title, sizeof title, "loss: %s (%d steps, last %.4f)", base ? base + 1 : in, n,
             losses[n - 1]);
    rc = write_svg(f, title, steps, losses, n);
    if (fclose(f) || rc) {
        fprintf(stderr, "plait-plot: %s: write failed\n", out);
        rc = 1;
        goto out;
    }
    printf("%s\n", out);
out:
    free(steps);
    free(losses);
    return rc;
}
