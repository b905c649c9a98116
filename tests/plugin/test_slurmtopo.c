/* Slurm's notations and topology.conf: host lists, tasks per node, leaf
 * switches, and what a leaf boundary does to the modelled cost. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugin/placement.h"
#include "../check.h"
#include "fixtures.h"

static void hosts(const char *list, const char *want)
{
    char **names, err[256], got[1024] = "";
    int n;
    CHECK_MSG(plait_hostlist_expand(list, &names, &n, err, sizeof(err)) == 0, "%s: %s", list, err);
    for (int i = 0; i < n; i++) {
        strcat(got, names[i]);
        strcat(got, " ");
    }
    CHECK_STR_EQ(got, want);
    plait_hostlist_free(names, n);
}

static void hosts_bad(const char *list)
{
    char **names, err[256];
    int n;
    CHECK_MSG(plait_hostlist_expand(list, &names, &n, err, sizeof(err)) == -1, "%s accepted", list);
    CHECK_STR_CONTAINS(err, "is not a Slurm host list");
}

int main(void)
{
    hosts("n1", "n1 ");
    hosts("n[1-3]", "n1 n2 n3 ");
    hosts("n[1-2,7],gpu05", "n1 n2 n7 gpu05 ");
    hosts("r[08-10]x", "r08x r09x r10x ");
    hosts("a,b", "a b ");
    hosts_bad("n[1-3");
    hosts_bad("n[3-1]");
    hosts_bad("n1,,n2");
    hosts_bad("n[a-b]");
    hosts_bad("n[[1]]");

    int c[8];
    CHECK_INT_EQ(plait_tasks_per_node("8(x2),4", c, 8), 3);
    CHECK(c[0] == 8 && c[1] == 8 && c[2] == 4);
    CHECK_INT_EQ(plait_tasks_per_node("2", c, 8), 1);
    CHECK_INT_EQ(plait_tasks_per_node("2(x9)", c, 8), -1);
    CHECK_INT_EQ(plait_tasks_per_node("2(x", c, 8), -1);
    CHECK_INT_EQ(plait_tasks_per_node("x", c, 8), -1);

    char path[] = "/tmp/plait-topology-XXXXXX";
    int fd = mkstemp(path);
    const char *conf = "# two leaves under a spine\n"
                       "SwitchName=leaf1 Nodes=n[1-2]\n"
                       "SwitchName=leaf2 Nodes=n[3-4] LinkSpeed=100\n"
                       "SwitchName=spine Switches=leaf[1-2]\n";
    CHECK(fd >= 0 && write(fd, conf, strlen(conf)) == (ssize_t)strlen(conf));
    close(fd);
    plait_leaves_t *l;
    char err[512];
    CHECK_MSG(plait_leaves_load(&l, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(plait_leaf_of(l, "n1") == 0 && plait_leaf_of(l, "n2") == 0);
    CHECK(plait_leaf_of(l, "n4") == 1 && plait_leaf_of(l, "n9") == -1);
    plait_leaves_free(l);
    fd = open(path, O_WRONLY | O_TRUNC);
    const char *bad = "SwitchName=leaf1 Nodes=n[1-2\n";
    CHECK(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    close(fd);
    CHECK(plait_leaves_load(&l, path, err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, ":1: 'n[1-2' is not a Slurm host list");
    unlink(path);
    CHECK(plait_leaves_load(&l, path, err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "cannot open it");

    /* A pipeline across a leaf boundary costs more than within one leaf. */
    plait_topology_t *t = NULL;
    CHECK(plait_topology_load_file(&t, fixture("pcie-8gpu-2socket.xml", 0), err, sizeof(err)) == 0);
    if (t) {
        plait_cost_t cost;
        plait_cost_default(&cost);
        plait_task_t tasks[8];
        int one[2] = {0, 0}, two[2] = {0, 1};
        double same, across;
        plait_job_t job = {t, {1, 1, 8}, 2, 4, 8, &cost, PLAIT_PLACE_TOPO, one};
        CHECK(plait_place_job(&job, tasks, &same, err, sizeof(err)) == 0);
        job.leaf_of_node = two;
        CHECK(plait_place_job(&job, tasks, &across, err, sizeof(err)) == 0);
        CHECK_MSG(across > same, "across leaves %.6f, within one %.6f", across, same);
        plait_topology_free(t);
    }
    return check_status("test_slurmtopo");
}
