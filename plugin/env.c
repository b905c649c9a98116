/* The variables a task gets: its coordinates, and its GPU, NIC and cores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

static int set_int(plait_setenv_fn set, void *ctx, const char *name, long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", v);
    return set(ctx, name, buf);
}

int plait_env_task(const struct plait_env_job *job, const plait_task_t *t, plait_setenv_fn set,
                   void *ctx)
{
    const plait_layout_t *l = &job->layout;
    char buf[PLAIT_MAX_CPUS * 6];
    int rc = 0;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != 0)                                                                       \
            return rc;                                                                             \
    } while (0)
    TRY(set_int(set, ctx, "PLAIT_RANK", t->rank));
    TRY(set_int(set, ctx, "PLAIT_WORLD_SIZE", (long)l->dp * l->tp * l->pp));
    TRY(set_int(set, ctx, "PLAIT_LOCAL_RANK", t->local_rank));
    TRY(set_int(set, ctx, "PLAIT_LOCAL_SIZE", job->local_size));
    TRY(set_int(set, ctx, "PLAIT_DP_RANK", t->dp));
    TRY(set_int(set, ctx, "PLAIT_DP_SIZE", l->dp));
    TRY(set_int(set, ctx, "PLAIT_TP_RANK", t->tp));
    TRY(set_int(set, ctx, "PLAIT_TP_SIZE", l->tp));
    TRY(set_int(set, ctx, "PLAIT_PP_RANK", t->pp));
    TRY(set_int(set, ctx, "PLAIT_PP_SIZE", l->pp));
    plait_layout_format(l, buf, sizeof(buf));
    TRY(set(ctx, "PLAIT_LAYOUT", buf));
    TRY(set(ctx, "PLAIT_PLACEMENT", plait_placement_name(job->placement)));
    if (job->topo && t->gpu >= 0 && t->gpu < PLAIT_MAX_GPUS && job->cuda_id[t->gpu][0]) {
        TRY(set(ctx, "CUDA_VISIBLE_DEVICES", job->cuda_id[t->gpu]));
        /* CUDA's default order is "fastest first"; Slurm's and plait's are
         * PCI bus order. */
        TRY(set(ctx, "CUDA_DEVICE_ORDER", "PCI_BUS_ID"));
        TRY(set(ctx, "PLAIT_GPU_BUSID", job->topo->gpu[t->gpu].pci.busid));
    }
    if (job->topo && t->nic >= 0 && t->nic < PLAIT_MAX_NICS) {
        if (job->nic_for_ucx[t->nic])
            TRY(set(ctx, "UCX_NET_DEVICES", job->topo->nic[t->nic].name));
        TRY(set(ctx, "PLAIT_NIC", job->topo->nic[t->nic].name));
    }
    if (!plait_cpus_empty(&t->cpus)) {
        plait_cpus_format(&t->cpus, buf, sizeof(buf));
        TRY(set(ctx, "PLAIT_CPUS", buf));
    }
    if (job->ckpt_dir)
        TRY(set(ctx, "PLAIT_CKPT_DIR", job->ckpt_dir));
    if (job->ckpt_every)
        TRY(set(ctx, "PLAIT_CKPT_EVERY", job->ckpt_every));
#undef TRY
    return 0;
}

/* Splits "0,1,2" into at most max items of at most 15 characters. */
static int split_list(const char *s, char items[][16], int max)
{
    int n = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (n == max || len == 0 || len > 15)
            return -1;
        memcpy(items[n], s, len);
        items[n][len] = '\0';
        n++;
        s += len;
        if (*s == ',')
            s++;
    }
    return n;
}

static int index_of(const char *s, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v >= max)
        return -1;
    return (int)v;
}

int plait_env_step_gpus(struct plait_env_job *job, const char *step_gpus, const char *cvd,
                        int topo_ngpus, int *gpus, int *ngpus, char *err, size_t errlen)
{
    char a[PLAIT_MAX_GPUS][16], b[PLAIT_MAX_GPUS][16];
    int na = step_gpus && *step_gpus ? split_list(step_gpus, a, PLAIT_MAX_GPUS) : 0;
    int nb = cvd && *cvd ? split_list(cvd, b, PLAIT_MAX_GPUS) : 0;
    memset(job->cuda_id, 0, sizeof(job->cuda_id));
    *ngpus = 0;
    if (na < 0 || nb < 0) {
        snprintf(err, errlen,
                 "cannot read the step's GPUs (SLURM_STEP_GPUS='%s', "
                 "CUDA_VISIBLE_DEVICES='%s')",
                 step_gpus ? step_gpus : "", cvd ? cvd : "");
        return -1;
    }
    /* Node-wide indices from SLURM_STEP_GPUS; without it, CUDA_VISIBLE_DEVICES
     * holds them. */
    char(*idx)[16] = na ? a : b;
    int n = na ? na : nb;
    for (int i = 0; i < n; i++) {
        int g = index_of(idx[i], topo_ngpus);
        if (g < 0) {
            snprintf(err, errlen,
                     "Slurm gave this step GPU '%s' but the topology has %d GPUs (expected the "
                     "topology to describe this node)",
                     idx[i], topo_ngpus);
            return -1;
        }
        for (int k = 0; k < *ngpus; k++)
            if (gpus[k] == g) {
                snprintf(err, errlen, "GPU %d listed twice in the step's GPUs", g);
                return -1;
            }
        gpus[(*ngpus)++] = g;
        const char *id = (na && nb == na) ? b[i] : idx[i];
        /* split_list() keeps items below 16 bytes. */
        memcpy(job->cuda_id[g], id, strnlen(id, sizeof(job->cuda_id[g]) - 1));
    }
    return 0;
}
