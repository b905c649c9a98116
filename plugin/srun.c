/* srun (local context): refuse a step whose plait options cannot work. */
#include <stdint.h>
#include <stdio.h>

#include "spank_ctx.h"

int plait_srun_post_opt(spank_t sp)
{
    (void)sp;
    return plait_submit_post_opt();
}

/* The step's real task count is known here, before any task starts. */
int plait_srun_local_user_init(spank_t sp)
{
    char err[2048], why[1024];
    uint32_t ntasks = 0;
    if (!plait_opts.given)
        return 0;
    const struct plait_config *cfg = plait_config_get(why, sizeof(why));
    struct plait_request req;
    if (!cfg || plait_request_parse(cfg, &req, err, sizeof(err)))
        return 0; /* already reported by plait_srun_post_opt */
    if (spank_get_item(sp, S_JOB_TOTAL_TASK_COUNT, &ntasks) != ESPANK_SUCCESS || !ntasks)
        return 0;
    if (plait_layout_resolve(&req.layout, (long)ntasks, why, sizeof(why))) {
        slurm_error("plait: --plait-layout=%s: %s", plait_opts.layout ? plait_opts.layout : "",
                    why);
        return -1;
    }
    return 0;
}
