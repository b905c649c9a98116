/* slurmstepd (remote context): each task's coordinates, GPU, NIC and cores.
 *
 * All of it runs in slurm_spank_task_init, in the forked task after Slurm has
 * dropped to the job user, just before exec: a topology file named by the
 * user is read with the user's rights only, and a crash or a bad file costs
 * that task, never slurmstepd. Each task computes the node's whole mapping
 * (deterministic, a fraction of a millisecond) and keeps its own entry. */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "spank_ctx.h"

/* Batch script, extern and interactive steps: not training tasks. */
#define SPECIAL_STEPS 0xfffffff0u

struct setenv_ctx {
    spank_t sp;
    const char *failed;
};

static int set_task_env(void *p, const char *name, const char *value)
{
    struct setenv_ctx *c = p;
    if (spank_setenv(c->sp, name, value, 1) != ESPANK_SUCCESS) {
        c->failed = name;
        return -1;
    }
    return 0;
}

static int getenv_job(spank_t sp, const char *name, char *buf, int len)
{
    return spank_getenv(sp, name, buf, len) == ESPANK_SUCCESS;
}

/* Slurm's core numbers for the step (S_STEP_ALLOC_CORES, socket-major like
 * hwloc's logical core index) as CPU numbers; NULL when they do not fit the
 * topology (a topology file for another kind of node). */
static int step_cpus(spank_t sp, const plait_topology_t *t, plait_cpus_t *out)
{
    char *list = NULL;
    plait_cpus_t cores;
    if (spank_get_item(sp, S_STEP_ALLOC_CORES, &list) != ESPANK_SUCCESS || !list || !*list ||
        plait_cpus_parse(list, &cores))
        return 0;
    plait_cpus_zero(out);
    for (int c = 0; c < PLAIT_MAX_CPUS; c++) {
        if (!plait_cpus_isset(&cores, c))
            continue;
        if (c >= t->ncores)
            return 0;
        for (int k = 0; k < t->cores[c].npus; k++)
            plait_cpus_set(out, t->cores[c].pu[k]);
    }
    return !plait_cpus_empty(out);
}

/* Whether a topology NIC exists on this node under the name UCX would use:
 * /sys/class/infiniband/<dev>/ports/<port> for "mlx5_0:1", or
 * /sys/class/net/<if> for an Ethernet interface. */
static int nic_on_node(const struct plait_nic *nic)
{
    char dev[sizeof(nic->name)], path[256];
    snprintf(dev, sizeof(dev), "%s", nic->name);
    char *port = strrchr(dev, ':');
    if (nic->rdma && port) {
        *port++ = '\0';
        snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%s", dev, port);
    } else {
        snprintf(path, sizeof(path), "/sys/class/net/%s", dev);
    }
    return access(path, F_OK) == 0;
}

/* Whether Slurm gave each node consecutive task ids in node order (-m block,
 * Slurm's default): only then can nodes trade their blocks of ranks. */
static int block_distribution(spank_t sp)
{
    char dist[64];
    if (!getenv_job(sp, "SLURM_DISTRIBUTION", dist, sizeof(dist)))
        return 1;
    return !strncmp(dist, "block", 5) && (dist[5] == '\0' || dist[5] == ':' || dist[5] == ',');
}

/* The step under leaf switches: which ranks this node holds (SLURM_PROCID +
 * shift) and the leaf of every rank. Every node computes the same node order
 * (plait_leaf_order) from topology.conf, the step's node list and its tasks
 * per node. */
struct step_leaves {
    int *leaf;        /* world: leaf switch of each rank, -1: not in topology.conf */
    long shift;       /* PLAIT_RANK - SLURM_PROCID on this node */
    char absent[256]; /* a node missing from topology.conf, "": none */
};

static int step_leaves(spank_t sp, const char *conf, const plait_layout_t *layout, int world,
                       const int *ids, int nlocal, struct step_leaves *out, char *err,
                       size_t errlen)
{
    plait_leaves_t *leaves = NULL;
    char **names = NULL;
    int nnames = 0, *counts = NULL, *node_leaf = NULL, *order = NULL, ok = 0;
    long *first = NULL;
    uint32_t nodeid = 0;
    size_t len = 1 << 20;
    char *nodelist = malloc(len), tpn[4096], why[512];
    memset(out, 0, sizeof(*out));
    if (!nodelist || plait_leaves_load(&leaves, conf, why, sizeof(why))) {
        snprintf(err, errlen, "slurm_topology %.1000s: %s", conf, nodelist ? why : "out of memory");
        goto out;
    }
    if (!getenv_job(sp, "SLURM_STEP_NODELIST", nodelist, (int)len) ||
        !getenv_job(sp, "SLURM_STEP_TASKS_PER_NODE", tpn, sizeof(tpn)) ||
        plait_hostlist_expand(nodelist, &names, &nnames, why, sizeof(why)) ||
        spank_get_item(sp, S_JOB_NODEID, &nodeid) != ESPANK_SUCCESS || nodeid >= (uint32_t)nnames) {
        snprintf(err, errlen,
                 "cannot read the step's nodes from SLURM_STEP_NODELIST and "
                 "SLURM_STEP_TASKS_PER_NODE");
        goto out;
    }
    size_t nn = (size_t)nnames;
    counts = malloc(sizeof(int) * nn);
    node_leaf = malloc(sizeof(int) * nn);
    order = malloc(sizeof(int) * nn);
    first = malloc(sizeof(long) * nn);
    out->leaf = malloc(sizeof(int) * (size_t)world);
    if (!counts || !node_leaf || !order || !first || !out->leaf ||
        plait_tasks_per_node(tpn, counts, nnames) != nnames) {
        snprintf(err, errlen, "cannot read SLURM_STEP_TASKS_PER_NODE='%.200s'", tpn);
        goto out;
    }
    long total = 0;
    for (int i = 0; i < nnames; i++) {
        total += counts[i];
        node_leaf[i] = plait_leaf_of(leaves, names[i]);
        if (node_leaf[i] < 0 && !out->absent[0])
            snprintf(out->absent, sizeof(out->absent), "%s", names[i]);
    }
    if (total != world || counts[nodeid] != nlocal) {
        snprintf(err, errlen,
                 "SLURM_STEP_TASKS_PER_NODE='%.200s' does not match the step (%d tasks, %d on "
                 "node %u)",
                 tpn, world, nlocal, nodeid);
        goto out;
    }
    if (block_distribution(sp))
        plait_leaf_order(layout, nnames, counts, node_leaf, order);
    else
        for (int i = 0; i < nnames; i++)
            order[i] = i;
    int r = 0;
    for (int k = 0; k < nnames; k++)
        for (int t = 0; t < counts[order[k]]; t++)
            out->leaf[r++] = node_leaf[order[k]];
    long slurm_first = 0;
    for (uint32_t i = 0; i < nodeid; i++)
        slurm_first += counts[i];
    plait_order_first_rank(nnames, counts, order, first);
    out->shift = first[nodeid] - slurm_first;
    /* Trading blocks needs this node's ids to be its block. */
    for (int i = 0; out->shift && i < nlocal; i++)
        if (ids[i] != slurm_first + i) {
            snprintf(err, errlen,
                     "slurm_topology: task %d on node %s is not in Slurm's block distribution "
                     "(expected ids %ld-%ld)",
                     ids[i], names[nodeid], slurm_first, slurm_first + nlocal - 1);
            goto out;
        }
    ok = 1;
out:
    plait_leaves_free(leaves);
    plait_hostlist_free(names, nnames);
    free(nodelist);
    free(counts);
    free(node_leaf);
    free(order);
    free(first);
    if (!ok) {
        free(out->leaf);
        out->leaf = NULL;
        return -1;
    }
    return 0;
}

/* Ranks on nodes missing from topology.conf count as under one switch. */
static int rank_same_leaf(void *ctx, int a, int b)
{
    const int *leaf = ctx;
    return leaf[a] < 0 || leaf[b] < 0 || leaf[a] == leaf[b];
}

static void bind_task(const plait_cpus_t *want, int local_id)
{
    cpu_set_t cur, set;
    if (sched_getaffinity(0, sizeof(cur), &cur) != 0)
        return;
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE && c < PLAIT_MAX_CPUS; c++)
        if (plait_cpus_isset(want, c) && CPU_ISSET(c, &cur))
            CPU_SET(c, &set);
    /* Where the node has fewer CPUs than its description (the local test
     * cluster) the task keeps what it has; PLAIT_CPUS still says the plan. */
    if (CPU_COUNT(&set) == 0) {
        slurm_verbose("plait: task %d: none of its CPUs is available here; not bound", local_id);
        return;
    }
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        slurm_verbose("plait: task %d: sched_setaffinity: %s", local_id, strerror(errno));
}

static int fail(int local_id, const char *msg)
{
    /* Every task fails; one says why. */
    if (local_id == 0)
        slurm_error("plait: %s", msg);
    return -1;
}

int plait_stepd_task_init(spank_t sp)
{
    char err[2048], why[1024];
    if (!plait_opts.given)
        return 0;
    uint32_t stepid = 0, nlocal = 0, total = 0;
    int local_id = 0;
    spank_get_item(sp, S_TASK_ID, &local_id);
    const struct plait_config *cfg = plait_config_get(why, sizeof(why));
    if (!cfg) {
        snprintf(err, sizeof(err), "admin configuration: %s", why);
        return fail(local_id, err);
    }
    struct plait_request req;
    if (plait_request_parse(cfg, &req, err, sizeof(err)))
        return fail(local_id, err);
    struct setenv_ctx sc = {sp, NULL};
    if (spank_get_item(sp, S_JOB_STEPID, &stepid) != ESPANK_SUCCESS || stepid >= SPECIAL_STEPS) {
        /* The batch script sees where checkpoints go; nothing else. */
        if (req.ckpt_dir)
            set_task_env(&sc, "PLAIT_CKPT_DIR", req.ckpt_dir);
        if (req.ckpt_every)
            set_task_env(&sc, "PLAIT_CKPT_EVERY", req.ckpt_every);
        return 0;
    }
    if (spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &nlocal) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_TOTAL_TASK_COUNT, &total) != ESPANK_SUCCESS || !nlocal ||
        nlocal > PLAIT_MAX_WORLD || local_id < 0 || (uint32_t)local_id >= nlocal)
        return fail(local_id, "cannot read the step's task counts from Slurm");
    if (plait_layout_resolve(&req.layout, (long)total, why, sizeof(why))) {
        snprintf(err, sizeof(err), "--plait-layout=%s: %s",
                 plait_opts.layout ? plait_opts.layout : "", why);
        return fail(local_id, err);
    }

    int *ranks = malloc(sizeof(int) * nlocal);
    plait_task_t *tasks = malloc(sizeof(plait_task_t) * nlocal);
    plait_topology_t *topo = NULL;
    int rc = -1, me = -1;
    struct step_leaves sl = {0};
    if (!ranks || !tasks) {
        rc = fail(local_id, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < nlocal; i++) {
        uint32_t g;
        if (spank_get_item(sp, S_JOB_LOCAL_TO_GLOBAL_ID, i, &g) != ESPANK_SUCCESS) {
            rc = fail(local_id, "cannot read the step's task ids from Slurm");
            goto out;
        }
        ranks[i] = (int)g;
    }
    /* Ascending ranks; remember where this task went. */
    int my_rank = ranks[local_id];
    for (uint32_t i = 1; i < nlocal; i++)
        for (uint32_t j = i; j > 0 && ranks[j - 1] > ranks[j]; j--) {
            int tmp = ranks[j];
            ranks[j] = ranks[j - 1];
            ranks[j - 1] = tmp;
        }
    for (uint32_t i = 0; i < nlocal; i++)
        if (ranks[i] == my_rank)
            me = (int)i;

    struct plait_env_job ej;
    memset(&ej, 0, sizeof(ej));
    ej.layout = req.layout;
    ej.local_size = (int)nlocal;
    ej.placement = req.placement;
    ej.ckpt_dir = req.ckpt_dir;
    ej.ckpt_every = req.ckpt_every;
    int gpus[PLAIT_MAX_GPUS], ngpus = 0;
    plait_cpus_t allowed;
    int have_allowed = 0;
    if (req.placement != PLAIT_PLACE_NONE) {
        int lr = req.topology ? plait_topology_load_file(&topo, req.topology, why, sizeof(why))
                              : plait_topology_load_live(&topo, cfg->nvml, why, sizeof(why));
        if (lr) {
            snprintf(err, sizeof(err), "%s%s: %s",
                     req.topology_from_user ? "--plait-topology=" : "topology ",
                     req.topology ? req.topology : "discovery", why);
            rc = fail(local_id, err);
            goto out;
        }
        ej.topo = topo;
        char user_ucx[1024];
        int ucx_chosen = getenv_job(sp, "UCX_NET_DEVICES", user_ucx, sizeof(user_ucx));
        for (int n = 0; n < topo->nnics && n < PLAIT_MAX_NICS; n++)
            ej.nic_for_ucx[n] = !ucx_chosen && nic_on_node(&topo->nic[n]);
        char step_gpus[512], cvd[512];
        int have_sg = getenv_job(sp, "SLURM_STEP_GPUS", step_gpus, sizeof(step_gpus));
        int have_cvd = getenv_job(sp, "CUDA_VISIBLE_DEVICES", cvd, sizeof(cvd));
        if (plait_env_step_gpus(&ej, have_sg ? step_gpus : NULL, have_cvd ? cvd : NULL, topo->ngpus,
                                gpus, &ngpus, why, sizeof(why))) {
            snprintf(err, sizeof(err), "topology %s: %s", topo->source, why);
            rc = fail(local_id, err);
            goto out;
        }
        have_allowed = step_cpus(sp, topo, &allowed);
        long world = (long)req.layout.dp * req.layout.tp * req.layout.pp;
        if (cfg->slurm_topology[0]) {
            if (step_leaves(sp, cfg->slurm_topology, &req.layout, (int)world, ranks, (int)nlocal,
                            &sl, err, sizeof(err))) {
                rc = fail(local_id, err);
                goto out;
            }
            for (uint32_t i = 0; i < nlocal; i++)
                ranks[i] += (int)sl.shift;
            /* Slurm's task 0 speaks for the step. */
            if (sl.absent[0] && my_rank == 0)
                slurm_info("plait: slurm_topology %s: node %s is not under any leaf switch; "
                           "ranks keep Slurm's node order",
                           cfg->slurm_topology, sl.absent);
        }
    }
    plait_node_job_t job = {
        .topo = topo,
        .layout = req.layout,
        .nlocal = (int)nlocal,
        .ranks = ranks,
        .ngpus = ngpus,
        .gpus = gpus,
        .allowed = have_allowed ? &allowed : NULL,
        .cost = &cfg->cost,
        .placement = req.placement,
        .same_leaf = sl.leaf ? rank_same_leaf : NULL,
        .leaf_ctx = sl.leaf,
    };
    if (plait_place_node(&job, tasks, NULL, why, sizeof(why))) {
        snprintf(err, sizeof(err), "--plait-layout=%s: %s",
                 plait_opts.layout ? plait_opts.layout : "", why);
        rc = fail(local_id, err);
        goto out;
    }
    if (plait_env_task(&ej, &tasks[me], set_task_env, &sc)) {
        snprintf(err, sizeof(err), "cannot set %s in the task's environment",
                 sc.failed ? sc.failed : "?");
        rc = fail(local_id, err);
        goto out;
    }
    if (cfg->bind && req.placement != PLAIT_PLACE_NONE && !plait_cpus_empty(&tasks[me].cpus))
        bind_task(&tasks[me].cpus, local_id);
    rc = 0;
out:
    plait_topology_free(topo);
    free(sl.leaf);
    free(ranks);
    free(tasks);
    return rc;
}
