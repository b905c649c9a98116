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

/* plait_leaf_order on n nodes with the given tasks and leaves: the node
 * order as "0 2 1 3 " and whether it differs from Slurm's. */
static void order(plait_layout_t l, int n, const int *tasks, const int *leaf, const char *want,
                  int reordered)
{
    int o[16];
    char got[128] = "";
    CHECK_INT_EQ(plait_leaf_order(&l, n, tasks, leaf, o), reordered);
    for (int k = 0; k < n; k++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d ", o[k]);
    CHECK_STR_EQ(got, want);
}

static void node_order(void)
{
    static const int one[8] = {1, 1, 1, 1, 1, 1, 1, 1}, eight[8] = {8, 8, 8, 8, 8, 8, 8, 8};
    /* n1,n3 under s1 and n2,n4 under s2, listed n1..n4: the two pipelines
     * (pp=2) go to {n1,n3} and {n2,n4}. */
    static const int inter[4] = {0, 1, 0, 1};
    order((plait_layout_t){2, 1, 2}, 4, one, inter, "0 2 1 3 ", 1);
    order((plait_layout_t){2, 8, 2}, 4, eight, inter, "0 2 1 3 ", 1);
    long first[4];
    int o[4];
    plait_layout_t l = {2, 8, 2};
    plait_leaf_order(&l, 4, eight, inter, o);
    plait_order_first_rank(4, eight, o, first);
    CHECK(first[0] == 0 && first[2] == 8 && first[1] == 16 && first[3] == 24);
    /* Already leaf by leaf, one switch, a node missing from topology.conf,
     * different task counts: Slurm's order. */
    static const int grouped[4] = {0, 0, 1, 1}, single[4] = {0, 0, 0, 0},
                     missing[4] = {0, -1, 0, 1};
    static const int uneven_tasks[4] = {2, 1, 2, 1};
    order((plait_layout_t){2, 1, 2}, 4, one, grouped, "0 1 2 3 ", 0);
    order((plait_layout_t){2, 1, 2}, 4, one, single, "0 1 2 3 ", 0);
    order((plait_layout_t){2, 1, 2}, 4, one, missing, "0 1 2 3 ", 0);
    order((plait_layout_t){3, 1, 2}, 4, uneven_tasks, inter, "0 1 2 3 ", 0);
    /* Uneven switches: A has 3 nodes, B 2, C 1; whole pipelines first, the
     * leftovers share one. */
    static const int abc[6] = {0, 1, 0, 2, 1, 0}, aba[4] = {0, 1, 2, 1};
    order((plait_layout_t){3, 1, 2}, 6, one, abc, "0 2 1 4 5 3 ", 1);
    order((plait_layout_t){2, 1, 2}, 4, one, aba, "1 3 0 2 ", 1);
    /* Whole pipelines on each node: only the data-parallel ring gains. */
    order((plait_layout_t){4, 8, 1}, 4, eight, inter, "0 2 1 3 ", 1);
    /* Pipelines of 6 ranks on nodes of 4: three nodes hold two whole ones. */
    static const int four[6] = {4, 4, 4, 4, 4, 4}, alt[6] = {0, 1, 0, 1, 0, 1};
    order((plait_layout_t){4, 2, 3}, 6, four, alt, "0 2 4 1 3 5 ", 1);
    /* 4096 nodes, leaves alternating: each leaf's nodes in Slurm's order. */
    enum { BIG = 4096 };
    int *ones = malloc(sizeof(int) * BIG), *halves = malloc(sizeof(int) * BIG);
    int *big = malloc(sizeof(int) * BIG), ok = 1;
    CHECK(ones && halves && big);
    for (int k = 0; ones && halves && big && k < BIG; k++) {
        ones[k] = 1;
        halves[k] = k % 2;
    }
    if (ones && halves && big) {
        plait_layout_t lb = {BIG / 2, 1, 2};
        CHECK_INT_EQ(plait_leaf_order(&lb, BIG, ones, halves, big), 1);
        for (int k = 0; k < BIG; k++)
            ok &= big[k] == (k < BIG / 2 ? 2 * k : 2 * (k - BIG / 2) + 1);
        CHECK(ok);
    }
    free(ones);
    free(halves);
    free(big);
}

int main(void)
{
    node_order();
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
    /* Found by fuzz_options: the range's last number at LONG_MAX overflowed
     * the loop; numbers past it are refused, not clamped. */
    hosts("n[9223372036854775806-9223372036854775807]",
          "n9223372036854775806 n9223372036854775807 ");
    hosts_bad("n[9223372036854775808]");

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
