/* Placement benchmarks (make bench), one JSON line per figure appended to
 * build/bench/results.jsonl:
 * (a) modelled cost of topo placement against the exhaustive optimum and of
 *     block placement against topo, on every fixture with at most 8 GPUs;
 * (b) time to place one node as slurmstepd does (anchor: loading its
 *     topology), and a whole job of 1, 64 and 4096 DGX-H100-like nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "../../plugin/placement.h"

static FILE *out;
static plait_cost_t cost;
static const char *top;

static void emit(const char *metric, double value, const char *unit, const char *anchor,
                 double anchor_value, const char *goal)
{
    double ratio = anchor_value > 0 ? value / anchor_value : 0;
    bench_emit(out, "placement", metric, value, unit, anchor, anchor_value, ratio, goal);
    printf("  %-58s %12.4f %-8s %s %.4f (ratio %.4f)\n", metric, value, unit, anchor, anchor_value,
           ratio);
}

static const char *path_of(const char *name)
{
    static char buf[4096];
    if (strchr(name, '/'))
        snprintf(buf, sizeof(buf), "%s/../shared/fixtures/hwloc%s", top, strrchr(name, '/'));
    else
        snprintf(buf, sizeof(buf), "%s/etc/topology/%s", top, name);
    return buf;
}

/* Sum over the nodes of the per-node exhaustive optimum. */
static double optimum(const plait_job_t *job)
{
    int tpn = job->tasks_per_node, gpus[PLAIT_MAX_GPUS], ranks[PLAIT_MAX_GPUS], gpu_of[64];
    double total = 0;
    for (int g = 0; g < job->ngpus; g++)
        gpus[g] = g;
    for (int node = 0; node < job->nnodes; node++) {
        for (int i = 0; i < tpn; i++)
            ranks[i] = node * tpn + i;
        plait_node_job_t j = {job->topo, job->layout,      tpn,  ranks, job->ngpus, gpus, NULL,
                              &cost,     PLAIT_PLACE_TOPO, NULL, NULL};
        double c;
        if (plait_place_node_exhaustive(&j, 100000, gpu_of, &c))
            return -1;
        total += c;
    }
    return total;
}

static void quality(const char *name)
{
    plait_topology_t *t;
    char err[512];
    if (plait_topology_load_file(&t, path_of(name), err, sizeof(err))) {
        printf("  %s: %s (skipped)\n", name, err);
        return;
    }
    int n = t->ngpus;
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    int tps[4] = {1, 2, n / 2, n};
    for (int a = 0; a < 4; a++) {
        int tp = tps[a];
        int again = 0;
        for (int b = 0; b < a; b++)
            again |= tps[b] == tp;
        if (tp < 1 || n % tp || again)
            continue;
        for (int pp = 1; pp <= 4; pp *= 2) {
            int nodes = 2, world = nodes * n;
            if (world % (tp * pp))
                continue;
            plait_job_t job = {
                t, {world / (tp * pp), tp, pp}, nodes, n, n, &cost, PLAIT_PLACE_TOPO, NULL};
            plait_task_t *tasks = malloc(sizeof(plait_task_t) * (size_t)world);
            double topo, block;
            if (!tasks || plait_place_job(&job, tasks, &topo, err, sizeof(err))) {
                free(tasks);
                continue;
            }
            job.placement = PLAIT_PLACE_BLOCK;
            plait_place_job(&job, tasks, &block, err, sizeof(err));
            double opt = optimum(&job);
            char metric[160];
            snprintf(metric, sizeof(metric), "cost_topo/%s/2x%d/tp=%d,pp=%d", base, n, tp, pp);
            emit(metric, topo * 1e3, "ms/step", "exhaustive optimum", opt * 1e3, "ratio 1");
            snprintf(metric, sizeof(metric), "cost_block/%s/2x%d/tp=%d,pp=%d", base, n, tp, pp);
            emit(metric, block * 1e3, "ms/step", "topo", topo * 1e3, "ratio >= 1");
            free(tasks);
        }
    }
    plait_topology_free(t);
}

/* Median of repeated timings of one node's placement, as in slurmstepd. */
static void node_time(const char *name, int tp, int pp)
{
    plait_topology_t *t;
    char err[512];
    double load[9];
    for (int r = 0; r < 9; r++) {
        double t0 = bench_now();
        if (plait_topology_load_file(&t, path_of(name), err, sizeof(err)))
            return;
        load[r] = bench_now() - t0;
        if (r < 8)
            plait_topology_free(t);
    }
    int n = t->ngpus, gpus[PLAIT_MAX_GPUS], ranks[PLAIT_MAX_GPUS];
    for (int g = 0; g < n; g++) {
        gpus[g] = g;
        ranks[g] = n + g; /* the second of four nodes: traffic both ways */
    }
    plait_layout_t l = {4 * n / (tp * pp), tp, pp};
    plait_node_job_t j = {t, l, n, ranks, n, gpus, NULL, &cost, PLAIT_PLACE_TOPO, NULL, NULL};
    plait_task_t tasks[PLAIT_MAX_GPUS];
    double best[9];
    for (int r = 0; r < 9; r++) {
        int reps = 20;
        double t0 = bench_now();
        for (int k = 0; k < reps; k++)
            plait_place_node(&j, tasks, NULL, err, sizeof(err));
        best[r] = (bench_now() - t0) / reps;
    }
    for (int a = 0; a < 9; a++)
        for (int b = a + 1; b < 9; b++) {
            if (best[b] < best[a]) {
                double x = best[a];
                best[a] = best[b];
                best[b] = x;
            }
            if (load[b] < load[a]) {
                double x = load[a];
                load[a] = load[b];
                load[b] = x;
            }
        }
    char metric[160];
    snprintf(metric, sizeof(metric), "node_time/%s/tp=%d,pp=%d", name, tp, pp);
    emit(metric, best[4] * 1e3, "ms", "topology load", load[4] * 1e3, "< 1 ms");
    plait_topology_free(t);
}

static void job_time(int nodes)
{
    plait_topology_t *t;
    char err[512];
    double t0 = bench_now();
    if (plait_topology_load_file(&t, path_of("dgx-h100.xml"), err, sizeof(err)))
        return;
    double load = bench_now() - t0;
    int pp = nodes >= 8 ? 8 : nodes, world = nodes * 8;
    plait_job_t job = {t, {world / (8 * pp), 8, pp}, nodes, 8, 8, &cost, PLAIT_PLACE_TOPO, NULL};
    plait_task_t *tasks = malloc(sizeof(plait_task_t) * (size_t)world);
    double best = 1e30, c;
    for (int r = 0; tasks && r < 5; r++) {
        t0 = bench_now();
        if (plait_place_job(&job, tasks, &c, err, sizeof(err)))
            break;
        double dt = bench_now() - t0;
        best = dt < best ? dt : best;
    }
    char metric[160];
    snprintf(metric, sizeof(metric), "job_time/dgx-h100/%d_nodes", nodes);
    emit(metric, best * 1e3, "ms", "topology load", load * 1e3,
         nodes == 4096 ? "< 50 ms" : "< 1 ms per node");
    free(tasks);
    plait_topology_free(t);
}

int main(void)
{
    top = getenv("PLAIT_TOP") ? getenv("PLAIT_TOP") : ".";
    out = bench_results_open("plait-bench-placement");
    if (!out)
        return 1;
    plait_cost_default(&cost);
    printf("placement quality (2 nodes, every GPU):\n");
    const char *fixtures[] = {"dgx-h100.xml", "pcie-4gpu-nvlink.xml", "pcie-8gpu-2socket.xml",
                              "shared/power8-4gpu-nvlink.xml", "shared/24em64t-2n6c2t-pci.xml"};
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
        quality(fixtures[i]);
    printf("placement time:\n");
    node_time("dgx-h100.xml", 8, 1);
    node_time("dgx-h100.xml", 2, 2);
    node_time("pcie-8gpu-2socket.xml", 2, 2);
    node_time("pcie-4gpu-nvlink.xml", 2, 1);
    job_time(1);
    job_time(64);
    job_time(4096);
    fclose(out);
    return 0;
}
