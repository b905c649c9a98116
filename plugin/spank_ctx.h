/* State shared by plait.so's per-context files (spank.c dispatches to them). */
#ifndef PLAIT_PLUGIN_SPANK_CTX_H
#define PLAIT_PLUGIN_SPANK_CTX_H

#include <slurm/spank.h>
#include <stddef.h>

#include "config.h"
#include "placement.h"
#include "request.h"

/* Registers the options; spank_option_register() is what sbatch sees. */
int plait_options_register(spank_t sp);
void plait_options_free(void);

/* The plugstack.conf arguments, kept by slurm_spank_init; the config they
 * describe is loaded when a job uses plait (so a broken config file cannot
 * touch other jobs). */
void plait_args_keep(int ac, char **av);
const struct plait_config *plait_config_get(char *err, size_t errlen);

/* Per-context entry points. */
int plait_srun_post_opt(spank_t sp);
int plait_srun_local_user_init(spank_t sp);
int plait_sbatch_post_opt(spank_t sp);
int plait_stepd_task_init(spank_t sp);
/* The checks at submission, shared by srun and sbatch/salloc (submit.c):
 * for a job using plait, one slurm_error() line and -1 when its options cannot
 * work, which makes the command refuse it. */
int plait_submit_post_opt(void);

#endif
