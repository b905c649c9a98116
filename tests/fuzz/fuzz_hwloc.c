/* An hwloc XML topology (--plait-topology or the admin's topology=): hwloc
 * parses it; plait's walk of what hwloc built, and the placer on top of it,
 * must take any shape of node. */
#include "fuzz.h"
#include "plugin/placement.h"

/* One node's worth of tasks, on its GPUs when it has some. */
static void place(const plait_topology_t *t, enum plait_placement how)
{
    char err[1024];
    int ranks[8], gpus[8];
    int n = t->ngpus ? (t->ngpus < 8 ? t->ngpus : 8) : 2;
    for (int i = 0; i < n; i++)
        ranks[i] = gpus[i] = i;
    plait_cost_t cost;
    plait_cost_default(&cost);
    plait_node_job_t job = {.topo = t,
                            .layout = {1, n, 1},
                            .nlocal = n,
                            .ranks = ranks,
                            .ngpus = t->ngpus ? n : 0,
                            .gpus = gpus,
                            .cost = &cost,
                            .placement = how};
    plait_task_t tasks[8];
    double c;
    fuzz_one_line("plait_place_node", plait_place_node(&job, tasks, &c, err, sizeof err), err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    plait_topology_t *t;
    int rc = plait_topology_load_buffer(&t, (const char *)data, size, "fuzz.xml", err, sizeof err);
    fuzz_one_line("plait_topology_load_buffer", rc, err);
    if (rc == 0) {
        place(t, PLAIT_PLACE_TOPO);
        place(t, PLAIT_PLACE_BLOCK);
        plait_topology_free(t);
    }
    return 0;
}
