/* sbatch and salloc (allocator context): refuse a job whose plait options
 * cannot work, before it is queued. What is not known yet (a task count left
 * to srun, say) is checked again by srun and in the tasks. */
#include "spank_ctx.h"

int plait_sbatch_post_opt(spank_t sp)
{
    (void)sp;
    return plait_submit_post_opt();
}
