/* The variables a task gets, and the step's GPUs as Slurm lists them. */
#include <string.h>

#include "../../plugin/env.h"
#include "../check.h"
#include "fixtures.h"

struct vars {
    int n;
    char name[32][32];
    char value[32][256];
};

static int collect(void *ctx, const char *name, const char *value)
{
    struct vars *v = ctx;
    if (v->n == 32)
        return -1;
    snprintf(v->name[v->n], sizeof(v->name[0]), "%s", name);
    snprintf(v->value[v->n], sizeof(v->value[0]), "%s", value);
    v->n++;
    return 0;
}

static const char *get(const struct vars *v, const char *name)
{
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->name[i], name))
            return v->value[i];
    return NULL;
}

static int refuse(void *ctx, const char *name, const char *value)
{
    (void)ctx;
    (void)value;
    return strcmp(name, "PLAIT_TP_SIZE") ? 0 : 7;
}

int main(void)
{
    plait_topology_t *t = NULL;
    char err[512];
    CHECK(plait_topology_load_file(&t, fixture("dgx-h100.xml", 0), err, sizeof(err)) == 0);
    if (!t)
        return check_status("test_env");
    struct plait_env_job job;
    memset(&job, 0, sizeof(job));
    job.layout = (plait_layout_t){2, 4, 2};
    job.local_size = 8;
    job.placement = PLAIT_PLACE_TOPO;
    job.topo = t;
    job.ckpt_dir = "/scratch/run1";
    job.ckpt_every = "30min";

    /* Slurm's indices 2,3,6,7; under cgroup device confinement CUDA sees
     * them as 0-3. */
    int gpus[PLAIT_MAX_GPUS], ngpus;
    CHECK(plait_env_step_gpus(&job, "2,3,6,7", "0,1,2,3", t->ngpus, gpus, &ngpus, err,
                              sizeof(err)) == 0);
    CHECK(ngpus == 4 && gpus[0] == 2 && gpus[3] == 7);
    CHECK_STR_EQ(job.cuda_id[6], "2");
    CHECK_STR_EQ(job.cuda_id[0], "");
    /* Without confinement both lists are alike; without SLURM_STEP_GPUS the
     * CUDA list is the node's numbering. */
    CHECK(plait_env_step_gpus(&job, NULL, "4,5", t->ngpus, gpus, &ngpus, err, sizeof(err)) == 0);
    CHECK(ngpus == 2 && gpus[1] == 5);
    CHECK_STR_EQ(job.cuda_id[5], "5");
    CHECK(plait_env_step_gpus(&job, NULL, NULL, t->ngpus, gpus, &ngpus, err, sizeof(err)) == 0);
    CHECK(ngpus == 0);
    CHECK(plait_env_step_gpus(&job, "0,9", NULL, t->ngpus, gpus, &ngpus, err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "Slurm gave this step GPU '9' but the topology has 8 GPUs");
    CHECK(plait_env_step_gpus(&job, "1,1", NULL, t->ngpus, gpus, &ngpus, err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "GPU 1 listed twice");
    CHECK(plait_env_step_gpus(&job, "0,,1", NULL, t->ngpus, gpus, &ngpus, err, sizeof(err)) == -1);
    CHECK(plait_env_step_gpus(&job, "0,1", NULL, t->ngpus, gpus, &ngpus, err, sizeof(err)) == 0);

    plait_task_t task;
    memset(&task, 0, sizeof(task));
    task.rank = 13;
    task.local_rank = 5;
    plait_rank_coords(&job.layout, 13, &task.dp, &task.tp, &task.pp);
    task.gpu = 1;
    task.nic = t->gpu[1].nic;
    plait_cpus_parse("14-27,126-139", &task.cpus);
    job.nic_for_ucx[task.nic] = 1;
    struct vars v = {0};
    CHECK(plait_env_task(&job, &task, collect, &v) == 0);
    CHECK_STR_EQ(get(&v, "PLAIT_RANK"), "13");
    CHECK_STR_EQ(get(&v, "PLAIT_WORLD_SIZE"), "16");
    CHECK_STR_EQ(get(&v, "PLAIT_LOCAL_RANK"), "5");
    CHECK_STR_EQ(get(&v, "PLAIT_LOCAL_SIZE"), "8");
    CHECK_STR_EQ(get(&v, "PLAIT_DP_RANK"), "1");
    CHECK_STR_EQ(get(&v, "PLAIT_TP_RANK"), "1");
    CHECK_STR_EQ(get(&v, "PLAIT_PP_RANK"), "1");
    CHECK_STR_EQ(get(&v, "PLAIT_DP_SIZE"), "2");
    CHECK_STR_EQ(get(&v, "PLAIT_TP_SIZE"), "4");
    CHECK_STR_EQ(get(&v, "PLAIT_PP_SIZE"), "2");
    CHECK_STR_EQ(get(&v, "PLAIT_LAYOUT"), "dp=2,tp=4,pp=2");
    CHECK_STR_EQ(get(&v, "PLAIT_PLACEMENT"), "topo");
    CHECK_STR_EQ(get(&v, "CUDA_VISIBLE_DEVICES"), "1");
    CHECK_STR_EQ(get(&v, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
    CHECK_STR_EQ(get(&v, "PLAIT_GPU_BUSID"), "0000:16:00.0");
    CHECK_STR_EQ(get(&v, "UCX_NET_DEVICES"), "mlx5_1:1");
    CHECK_STR_EQ(get(&v, "PLAIT_NIC"), "mlx5_1:1");
    CHECK_STR_EQ(get(&v, "PLAIT_CPUS"), "14-27,126-139");
    CHECK_STR_EQ(get(&v, "PLAIT_CKPT_DIR"), "/scratch/run1");
    CHECK_STR_EQ(get(&v, "PLAIT_CKPT_EVERY"), "30min");

    /* A NIC this node lacks, or a user's own UCX_NET_DEVICES: UCX is left
     * alone, PLAIT_NIC still says which NIC the placement chose. */
    struct vars u = {0};
    job.nic_for_ucx[task.nic] = 0;
    CHECK(plait_env_task(&job, &task, collect, &u) == 0);
    CHECK(!get(&u, "UCX_NET_DEVICES"));
    CHECK_STR_EQ(get(&u, "PLAIT_NIC"), "mlx5_1:1");

    /* placement none: coordinates only. */
    struct vars w = {0};
    job.placement = PLAIT_PLACE_NONE;
    job.topo = NULL;
    job.ckpt_dir = job.ckpt_every = NULL;
    task.gpu = task.nic = -1;
    plait_cpus_zero(&task.cpus);
    CHECK(plait_env_task(&job, &task, collect, &w) == 0);
    CHECK(get(&w, "PLAIT_RANK") && !get(&w, "CUDA_VISIBLE_DEVICES") && !get(&w, "UCX_NET_DEVICES"));
    CHECK(!get(&w, "PLAIT_CPUS") && !get(&w, "PLAIT_CKPT_DIR"));
    CHECK_STR_EQ(get(&w, "PLAIT_PLACEMENT"), "none");
    /* The first failure stops it and is returned. */
    CHECK_INT_EQ(plait_env_task(&job, &task, refuse, NULL), 7);
    plait_topology_free(t);
    return check_status("test_env");
}
