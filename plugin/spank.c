/* plait.so: the SPANK entry points. This file only dispatches, by context, to
 * srun.c (local), sbatch.c (allocator: sbatch, salloc) and slurmstepd.c
 * (remote); slurmd and prolog/epilog contexts are left alone. */
#include <slurm/spank.h>

#include "spank_ctx.h"

SPANK_PLUGIN(plait, 1);

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    switch (spank_context()) {
    case S_CTX_LOCAL:
    case S_CTX_ALLOCATOR:
    case S_CTX_REMOTE:
        plait_args_keep(ac, av);
        return plait_options_register(sp);
    default:
        return 0;
    }
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    switch (spank_context()) {
    case S_CTX_LOCAL:
        return plait_srun_post_opt(sp);
    case S_CTX_ALLOCATOR:
        return plait_sbatch_post_opt(sp);
    default:
        return 0;
    }
}

int slurm_spank_local_user_init(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    return spank_context() == S_CTX_LOCAL ? plait_srun_local_user_init(sp) : 0;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    return spank_context() == S_CTX_REMOTE ? plait_stepd_task_init(sp) : 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    (void)sp;
    (void)ac;
    (void)av;
    plait_options_free();
    return 0;
}
