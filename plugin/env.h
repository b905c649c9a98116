/* The variables a task gets (docs/contract.md). */
#ifndef PLAIT_PLUGIN_ENV_H
#define PLAIT_PLUGIN_ENV_H

#include "placement.h"

struct plait_env_job {
    plait_layout_t layout; /* resolved */
    int local_size;
    enum plait_placement placement;
    const plait_topology_t *topo; /* NULL with placement none */
    /* CUDA_VISIBLE_DEVICES value of each topology GPU, as Slurm numbers the
     * step's devices; "" for GPUs the step does not have. */
    char cuda_id[PLAIT_MAX_GPUS][16];
    /* Whether UCX_NET_DEVICES may name each topology NIC: the device is on
     * this node (a topology file can describe NICs a node lacks, and UCX
     * restricted to a missing device loses its network transports) and the
     * user did not choose devices already. PLAIT_NIC is set regardless. */
    unsigned char nic_for_ucx[PLAIT_MAX_NICS];
    const char *ckpt_dir;   /* NULL: not given */
    const char *ckpt_every; /* NULL: not given */
};

typedef int (*plait_setenv_fn)(void *ctx, const char *name, const char *value);

/* Calls set() for every variable of task t; stops at and returns the first
 * non-zero result. */
int plait_env_task(const struct plait_env_job *job, const plait_task_t *t, plait_setenv_fn set,
                   void *ctx);

/* Fills job->cuda_id from the step's SLURM_STEP_GPUS (Slurm's node-wide
 * indices) and CUDA_VISIBLE_DEVICES (what CUDA sees; the same or renumbered
 * under cgroup device confinement). Either may be NULL. gpus[] gets the
 * topology indices of the step's GPUs, *ngpus their count. Returns 0, or -1
 * with a message. */
int plait_env_step_gpus(struct plait_env_job *job, const char *step_gpus, const char *cvd,
                        int topo_ngpus, int *gpus, int *ngpus, char *err, size_t errlen);

#endif
