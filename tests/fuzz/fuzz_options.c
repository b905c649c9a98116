/* The strings the SPANK plugin takes from the user and from Slurm, one per
 * line: the five --plait-* values, the job's counts ("ntasks nodes
 * tasks_per_node gpus_per_node"), SLURM_STEP_GPUS, CUDA_VISIBLE_DEVICES,
 * SLURM_TASKS_PER_NODE, SLURM_JOB_NODELIST, then plugstack.conf arguments. */
#include "fuzz.h"
#include "plugin/env.h"
#include "plugin/request.h"

enum {
    LAYOUT,
    PLACEMENT,
    TOPOLOGY,
    CKPT_DIR,
    CKPT_EVERY,
    COUNTS,
    STEP_GPUS,
    CVD,
    TASKS,
    NODES,
    ARGS,
    NFIELDS = ARGS + 8
};

static void request(char **f)
{
    char err[1024];
    struct plait_config cfg;
    plait_config_init(&cfg);
    plait_opts =
        (struct plait_opts){1, f[LAYOUT], f[PLACEMENT], f[TOPOLOGY], f[CKPT_DIR], f[CKPT_EVERY]};
    struct plait_request req;
    int rc = plait_request_parse(&cfg, &req, err, sizeof err);
    fuzz_one_line("plait_request_parse", rc, err);
    struct plait_counts c = {-1, -1, -1, -1};
    if (rc == 0 && f[COUNTS]) {
        sscanf(f[COUNTS], "%ld %ld %ld %ld", &c.ntasks, &c.nodes, &c.tasks_per_node,
               &c.gpus_per_node);
        fuzz_one_line("plait_request_check", plait_request_check(&req, &c, NULL, err, sizeof err),
                      err);
    }
    memset(&plait_opts, 0, sizeof plait_opts);
}

static void slurm_strings(char **f)
{
    char err[1024];
    struct plait_env_job job;
    int gpus[PLAIT_MAX_GPUS], ngpus;
    memset(&job, 0, sizeof job);
    fuzz_one_line("plait_env_step_gpus",
                  plait_env_step_gpus(&job, f[STEP_GPUS], f[CVD], 8, gpus, &ngpus, err, sizeof err),
                  err);
    int counts[64];
    if (f[TASKS])
        plait_tasks_per_node(f[TASKS], counts, 64);
    char **names;
    int n;
    if (f[NODES]) {
        int rc = plait_hostlist_expand(f[NODES], &names, &n, err, sizeof err);
        fuzz_one_line("plait_hostlist_expand", rc, err);
        if (rc == 0)
            plait_hostlist_free(names, n);
    }
}

static void plugstack_args(char **f, int nfields)
{
    char err[1024], *av[NFIELDS];
    int ac = 0;
    /* config=FILE would read whatever file it names: fuzz_conf covers the file. */
    for (int i = ARGS; i < nfields; i++)
        if (strncmp(f[i], "config=", 7))
            av[ac++] = f[i];
    struct plait_config cfg;
    fuzz_one_line("plait_config_load", plait_config_load(&cfg, ac, av, err, sizeof err), err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), *f[NFIELDS];
    int n = fuzz_lines(text, f, NFIELDS);
    request(f);
    slurm_strings(f);
    plugstack_args(f, n);
    free(text);
    return 0;
}
