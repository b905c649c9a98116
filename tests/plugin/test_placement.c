/* The placer: its modelled cost equals the exhaustive optimum on every
 * fixture, layout and GPU subset small enough to enumerate; it never loses to
 * block order; it is deterministic; cores and NICs follow the GPUs; bad jobs
 * get one line. */
#include <stdlib.h>
#include <string.h>

#include "../../plugin/placement.h"
#include "../check.h"
#include "fixtures.h"

static plait_cost_t cost;
static int cases;

static plait_topology_t *load(const char *path)
{
    plait_topology_t *t = NULL;
    char err[512] = "";
    if (plait_topology_load_file(&t, path, err, sizeof(err)))
        fprintf(stderr, "%s: %s\n", path, err);
    return t;
}

static void job_init(plait_node_job_t *j, const plait_topology_t *t, int dp, int tp, int pp,
                     int nlocal, const int *ranks, int ngpus, const int *gpus)
{
    memset(j, 0, sizeof(*j));
    j->topo = t;
    j->layout.dp = dp;
    j->layout.tp = tp;
    j->layout.pp = pp;
    j->nlocal = nlocal;
    j->ranks = ranks;
    j->ngpus = ngpus;
    j->gpus = gpus;
    j->cost = &cost;
    j->placement = PLAIT_PLACE_TOPO;
}

/* Every node of every layout that fits nnodes x L tasks on the GPUs given. */
static void optimum(const char *name, const plait_topology_t *t, int L, int nnodes, int ngpus,
                    const int *gpus)
{
    int world = L * nnodes;
    for (int tp = 1; tp <= L; tp++) {
        if (L % tp)
            continue;
        for (int pp = 1; pp * tp <= world; pp++) {
            if (world % (tp * pp))
                continue;
            int dp = world / (tp * pp);
            for (int node = 0; node < nnodes; node++) {
                int ranks[64], gpu_of[64];
                plait_task_t tasks[64], again[64], block[64];
                for (int i = 0; i < L; i++)
                    ranks[i] = node * L + i;
                plait_node_job_t j;
                job_init(&j, t, dp, tp, pp, L, ranks, ngpus, gpus);
                double c, c2, cb, opt;
                char err[256];
                if (plait_place_node(&j, tasks, &c, err, sizeof(err))) {
                    CHECK_MSG(0, "%s: %s", name, err);
                    continue;
                }
                CHECK(plait_place_node(&j, again, &c2, err, sizeof(err)) == 0);
                CHECK_MSG(!memcmp(tasks, again, sizeof(plait_task_t) * (size_t)L) && c == c2,
                          "%s: not deterministic", name);
                j.placement = PLAIT_PLACE_BLOCK;
                CHECK(plait_place_node(&j, block, &cb, err, sizeof(err)) == 0);
                j.placement = PLAIT_PLACE_TOPO;
                CHECK(plait_place_node_exhaustive(&j, 5000000, gpu_of, &opt) == 0);
                CHECK_MSG(c <= opt * (1 + 1e-9),
                          "%s: dp=%d tp=%d pp=%d node %d/%d, %d GPUs: topo %.6f > optimum %.6f",
                          name, dp, tp, pp, node, nnodes, ngpus, c, opt);
                CHECK_MSG(c <= cb * (1 + 1e-9), "%s: topo %.6f > block %.6f", name, c, cb);
                for (int i = 0; i < L; i++)
                    gpu_of[i] = tasks[i].gpu;
                double recomputed = plait_node_cost(&j, gpu_of);
                CHECK_MSG(recomputed > c - 1e-9 * c && recomputed < c + 1e-9 * c + 1e-15,
                          "%s: reported cost %.9f, recomputed %.9f", name, c, recomputed);
                /* One GPU per task, each with its own cores (enough here). */
                for (int a = 0; a < L; a++) {
                    CHECK(!plait_cpus_empty(&tasks[a].cpus));
                    for (int b = 0; b < a; b++) {
                        plait_cpus_t both;
                        CHECK(tasks[a].gpu != tasks[b].gpu);
                        plait_cpus_and(&both, &tasks[a].cpus, &tasks[b].cpus);
                        CHECK(plait_cpus_empty(&both));
                    }
                    CHECK(tasks[a].nic == (tasks[a].gpu >= 0 ? t->gpu[tasks[a].gpu].nic : -1));
                }
                cases++;
            }
        }
    }
}

static void all_optimum(const char *path)
{
    plait_topology_t *t = load(path);
    CHECK_MSG(t != NULL, "%s", path);
    if (!t)
        return;
    int all[PLAIT_MAX_GPUS], odd[PLAIT_MAX_GPUS], n = t->ngpus, nodd = 0;
    for (int g = 0; g < n; g++) {
        all[g] = g;
        if (g % 2)
            odd[nodd++] = g;
    }
    for (int nnodes = 1; nnodes <= 4; nnodes *= 2) {
        optimum(path, t, n, nnodes, n, all);
        if (n >= 4 && n % 2 == 0) {
            optimum(path, t, n / 2, nnodes, n, all);   /* half the tasks, all GPUs */
            optimum(path, t, nodd, nnodes, nodd, odd); /* the step has odd GPUs only */
        }
    }
    plait_topology_free(t);
}

static int same_switch(const plait_topology_t *t, int a, int b)
{
    return t->gpu_link[a][b] == PLAIT_LINK_PCIE_SWITCH;
}

static void expectations(void)
{
    char err[512];
    int ranks[8] = {0, 1, 2, 3, 4, 5, 6, 7}, gpus[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    plait_task_t tk[8];
    plait_node_job_t j;
    double c, cb;

    /* NVLink bridges join GPUs 0-2 and 1-3: tensor-parallel pairs go there,
     * although block order would put them behind one PCIe switch. */
    plait_topology_t *t = load(fixture("pcie-4gpu-nvlink.xml", 0));
    if (t) {
        job_init(&j, t, 2, 2, 1, 4, ranks, 4, gpus);
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
        CHECK(t->gpu_link[tk[0].gpu][tk[1].gpu] == PLAIT_LINK_NVLINK);
        CHECK(t->gpu_link[tk[2].gpu][tk[3].gpu] == PLAIT_LINK_NVLINK);
        CHECK(tk[0].gpu == 0 && tk[1].gpu == 2); /* ties resolve towards block order */
        j.placement = PLAIT_PLACE_BLOCK;
        CHECK(plait_place_node(&j, tk, &cb, err, sizeof(err)) == 0);
        CHECK(tk[1].gpu == 1 && c < cb / 2);
        plait_topology_free(t);
    }

    /* Node 1 of pp=8 on 2 nodes x 4 tasks: rank 4 alone talks to node 0 and
     * goes behind a NIC (GPUDirect through the switch, not across the
     * socket); block order would put it on GPU 0, far from both NICs. */
    t = load(fixture("pcie-8gpu-2socket.xml", 0));
    if (t) {
        int r1[4] = {4, 5, 6, 7};
        job_init(&j, t, 1, 1, 8, 4, r1, 8, gpus);
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
        CHECK_MSG(t->gpu_nic_link[tk[0].gpu][t->gpu[tk[0].gpu].nic] == PLAIT_LINK_PCIE_SWITCH,
                  "rank 4 on GPU %d, away from its NIC", tk[0].gpu);
        CHECK(same_switch(t, tk[0].gpu, tk[1].gpu) || same_switch(t, tk[1].gpu, tk[2].gpu));
        j.placement = PLAIT_PLACE_BLOCK;
        CHECK(plait_place_node(&j, tk, &cb, err, sizeof(err)) == 0);
        CHECK_MSG(c < cb, "topo %.4f, block %.4f", c, cb);

        /* Errors: a tensor-parallel group across nodes; more tasks than GPUs. */
        int r2[3] = {0, 1, 2};
        job_init(&j, t, 2, 2, 1, 3, r2, 8, gpus);
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == -1);
        CHECK_STR_CONTAINS(err,
                           "tensor-parallel group of rank 2 (ranks 2-3) is split across nodes");
        job_init(&j, t, 4, 2, 1, 8, ranks, 4, gpus);
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == -1);
        CHECK_STR_CONTAINS(err, "8 tasks on this node but the job has 4 GPUs here");
        int bad[2] = {3, 9};
        job_init(&j, t, 1, 2, 1, 2, ranks, 2, bad);
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == -1);
        CHECK_STR_CONTAINS(err, "GPU 9 is not in the topology");
        /* none: coordinates only. */
        job_init(&j, t, 4, 2, 1, 8, ranks, 8, gpus);
        j.placement = PLAIT_PLACE_NONE;
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
        CHECK(tk[5].gpu == -1 && tk[5].nic == -1 && plait_cpus_empty(&tk[5].cpus));
        CHECK(tk[5].dp == 2 && tk[5].tp == 1 && tk[5].pp == 0);
        plait_topology_free(t);
    }

    /* The fake cluster nodes with Slurm's cores 0-1,4-5: each task gets an
     * allowed core of its GPU's socket. */
    t = load(fixture("local-cluster.xml", 0));
    if (t) {
        int g4[4] = {0, 1, 4, 5};
        plait_cpus_t allowed;
        plait_cpus_parse("0-1,4-5", &allowed);
        job_init(&j, t, 2, 2, 1, 4, ranks, 4, g4);
        j.allowed = &allowed;
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
        for (int i = 0; i < 4; i++) {
            char buf[32];
            plait_cpus_format(&tk[i].cpus, buf, sizeof(buf));
            char want[8];
            snprintf(want, sizeof(want), "%d", tk[i].gpu);
            CHECK_MSG(!strcmp(buf, want), "GPU %d got CPUs %s", tk[i].gpu, buf);
        }
        /* Two tasks on socket 0's GPUs but Slurm gave cores 0 and 4: each
         * gets its own core rather than both sharing core 0. */
        int g2[2] = {0, 1};
        plait_cpus_parse("0,4", &allowed);
        job_init(&j, t, 1, 2, 1, 2, ranks, 2, g2);
        j.allowed = &allowed;
        CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
        CHECK(plait_cpus_isset(&tk[0].cpus, 0) && plait_cpus_count(&tk[0].cpus) == 1);
        CHECK(plait_cpus_isset(&tk[1].cpus, 4) && plait_cpus_count(&tk[1].cpus) == 1);
        plait_topology_free(t);
    }

    /* A whole job equals its nodes placed one by one. */
    t = load(fixture("dgx-h100.xml", 0));
    if (t) {
        plait_task_t all[32];
        plait_job_t job = {t, {2, 4, 4}, 4, 8, 8, &cost, PLAIT_PLACE_TOPO, NULL};
        double total, sum = 0;
        CHECK(plait_place_job(&job, all, &total, err, sizeof(err)) == 0);
        for (int node = 0; node < 4; node++) {
            int r[8];
            for (int i = 0; i < 8; i++)
                r[i] = node * 8 + i;
            job_init(&j, t, 2, 4, 4, 8, r, 8, gpus);
            CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
            sum += c;
            CHECK(!memcmp(tk, all + node * 8, sizeof(tk)));
        }
        CHECK(total > sum * (1 - 1e-12) && total < sum * (1 + 1e-12));
        job.nnodes = 3;
        CHECK(plait_place_job(&job, all, &total, err, sizeof(err)) == -1);
        CHECK_STR_CONTAINS(err, "3 nodes x 8 tasks = 24 tasks but dp*tp*pp = 32");
        plait_topology_free(t);
    }
}

static void cpu_only(void)
{
    const char *path = fixture("96em64t-4n4d3ca2co-pci.xml", 1);
    if (!have_file(path))
        return;
    plait_topology_t *t = load(path);
    if (!t)
        return;
    int ranks[16];
    for (int i = 0; i < 16; i++)
        ranks[i] = 16 + i;
    plait_task_t tk[16];
    plait_node_job_t j;
    char err[256];
    double c;
    job_init(&j, t, 4, 4, 2, 16, ranks, 0, NULL);
    CHECK(plait_place_node(&j, tk, &c, err, sizeof(err)) == 0);
    CHECK(c > 0);
    plait_cpus_t seen;
    plait_cpus_zero(&seen);
    for (int i = 0; i < 16; i++) {
        CHECK(tk[i].gpu == -1);
        CHECK_INT_EQ(plait_cpus_count(&tk[i].cpus), 6); /* 96 cores / 16 tasks */
        plait_cpus_t both;
        plait_cpus_and(&both, &seen, &tk[i].cpus);
        CHECK(plait_cpus_empty(&both));
        plait_cpus_or(&seen, &seen, &tk[i].cpus);
        CHECK(tk[i].nic >= 0);
    }
    plait_topology_free(t);
}

int main(void)
{
    plait_cost_default(&cost);
    all_optimum(fixture("dgx-h100.xml", 0));
    all_optimum(fixture("pcie-4gpu-nvlink.xml", 0));
    all_optimum(fixture("pcie-8gpu-2socket.xml", 0));
    all_optimum(fixture("local-cluster.xml", 0));
    if (have_file(fixture("power8-4gpu-nvlink.xml", 1))) {
        all_optimum(fixture("power8-4gpu-nvlink.xml", 1));
        all_optimum(fixture("24em64t-2n6c2t-pci.xml", 1));
    }
    expectations();
    cpu_only();
    printf("%d node placements compared with the exhaustive optimum\n", cases);
    return check_status("test_placement");
}
