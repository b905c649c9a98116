/* Topology loading: plait's synthetic nodes and the real machines in
 * ../shared/fixtures/hwloc (skipped where shared/ is absent). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/placement.h"
#include "../check.h"
#include "fixtures.h"

/* libpciaccess, which hwloc's PCI component uses for live discovery, keeps a
 * few allocations for the life of the process; hwloc unloads the component,
 * so they would show as leaks from an unknown module. Keeping the library
 * mapped lets the suppression below name it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpciaccess.so\n";
}

static plait_topology_t *load(const char *path)
{
    plait_topology_t *t = NULL;
    char err[512] = "";
    int rc = plait_topology_load_file(&t, path, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s: %s", path, err);
    return rc ? NULL : t;
}

static void load_bad(const char *text, const char *why)
{
    plait_topology_t *t = (plait_topology_t *)1;
    char err[512] = "";
    CHECK(plait_topology_load_buffer(&t, text, strlen(text), "test", err, sizeof(err)) == -1);
    CHECK(t == NULL);
    CHECK_STR_CONTAINS(err, why);
}

static void dgx(void)
{
    plait_topology_t *t = load(fixture("dgx-h100.xml", 0));
    if (!t)
        return;
    CHECK_INT_EQ(t->ngpus, 8);
    CHECK_INT_EQ(t->nnics, 10);
    CHECK_INT_EQ(t->npackages, 2);
    CHECK_INT_EQ(t->ncores, 112);
    CHECK_STR_EQ(t->nvlink_from, "hwloc");
    CHECK_STR_EQ(t->gpu[0].pci.busid, "0000:14:00.0");
    CHECK_STR_CONTAINS(t->gpu[0].model, "H100");
    /* Through the four NVSwitches: 5+4+4+5 links of 25 GB/s. */
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            if (i != j) {
                CHECK_MSG(t->nvlink_gbps[i][j] == 450.0, "%d-%d: %g", i, j, t->nvlink_gbps[i][j]);
                CHECK(t->gpu_link[i][j] == PLAIT_LINK_NVLINK);
            }
    /* Each GPU gets the NIC behind its own switch, one each: not index
     * order (storage NICs sit between them). */
    const char *nic[8] = {"mlx5_0:1", "mlx5_1:1", "mlx5_3:1", "mlx5_4:1",
                          "mlx5_5:1", "mlx5_6:1", "mlx5_8:1", "mlx5_9:1"};
    for (int g = 0; g < 8; g++) {
        CHECK_MSG(t->gpu[g].nic >= 0 && !strcmp(t->nic[t->gpu[g].nic].name, nic[g]), "GPU %d: %s",
                  g, t->gpu[g].nic >= 0 ? t->nic[t->gpu[g].nic].name : "none");
        CHECK(t->gpu_nic_link[g][t->gpu[g].nic] == PLAIT_LINK_PCIE_SWITCH);
        CHECK_INT_EQ(t->gpu[g].pci.package, g / 4);
    }
    CHECK_STR_EQ(t->nic[2].name, "mlx5_2:1");
    CHECK_STR_EQ(t->nic[2].netdev, "enp33s0np0");
    CHECK(plait_pci_link(&t->gpu[0].pci, &t->gpu[1].pci) == PLAIT_LINK_PCIE_SWITCH);
    CHECK(plait_pci_link(&t->gpu[0].pci, &t->gpu[2].pci) == PLAIT_LINK_SOCKET);
    CHECK(plait_pci_link(&t->gpu[0].pci, &t->gpu[4].pci) == PLAIT_LINK_INTER_SOCKET);
    CHECK(plait_pci_link(&t->gpu[0].pci, &t->gpu[0].pci) == PLAIT_LINK_SELF);
    /* Cores in Slurm's order: socket 0 first; Linux numbers hyperthreads
     * N and N+112. */
    CHECK(t->cores[0].package == 0 && t->cores[56].package == 1);
    CHECK(t->cores[1].npus == 2 && t->cores[1].pu[0] == 1 && t->cores[1].pu[1] == 113);
    CHECK_INT_EQ(plait_cpus_count(&t->gpu[0].pci.cpus), 112);
    CHECK(plait_cpus_isset(&t->gpu[0].pci.cpus, 0) && !plait_cpus_isset(&t->gpu[0].pci.cpus, 56));
    plait_topology_free(t);
}

static void pcie(void)
{
    plait_topology_t *t = load(fixture("pcie-4gpu-nvlink.xml", 0));
    if (t) {
        CHECK_INT_EQ(t->ngpus, 4);
        CHECK(t->nvlink_gbps[0][2] == 56.25 && t->nvlink_gbps[1][3] == 56.25);
        CHECK(t->nvlink_gbps[0][1] == 0 && t->nvlink_gbps[0][3] == 0);
        CHECK(t->gpu_link[0][1] == PLAIT_LINK_PCIE_SWITCH);
        CHECK(t->gpu_link[0][2] == PLAIT_LINK_NVLINK);
        CHECK(t->gpu_link[0][3] == PLAIT_LINK_SOCKET);
        CHECK_INT_EQ(t->nnics, 1);
        CHECK(t->gpu[3].nic == 0 && t->gpu_nic_link[3][0] == PLAIT_LINK_PCIE_SWITCH);
        CHECK(t->gpu_nic_link[0][0] == PLAIT_LINK_SOCKET);
        plait_topology_free(t);
    }
    t = load(fixture("pcie-8gpu-2socket.xml", 0));
    if (t) {
        CHECK_INT_EQ(t->ngpus, 8);
        CHECK_STR_EQ(t->nvlink_from, "none");
        CHECK(t->gpu_link[0][1] == PLAIT_LINK_PCIE_SWITCH);
        CHECK(t->gpu_link[0][2] == PLAIT_LINK_SOCKET);
        CHECK(t->gpu_link[3][4] == PLAIT_LINK_INTER_SOCKET);
        CHECK_INT_EQ(t->nnics, 2);
        CHECK(t->gpu[0].nic == 0 && t->gpu[7].nic == 1);
        plait_topology_free(t);
    }
    t = load(fixture("local-cluster.xml", 0));
    if (t) {
        /* The fake nodes: 2 sockets x 4 cores, 8 GPUs. */
        CHECK(t->ngpus == 8 && t->ncores == 8 && t->npackages == 2);
        CHECK(t->cores[5].pu[0] == 5 && t->cores[5].npus == 1);
        plait_topology_free(t);
    }
}

static void shared(void)
{
    const char *p8 = fixture("power8-4gpu-nvlink.xml", 1);
    if (!have_file(p8)) {
        printf("../shared/fixtures absent: real-machine fixtures not tested\n");
        return;
    }
    plait_topology_t *t = load(p8);
    if (t) {
        CHECK_INT_EQ(t->ngpus, 4);
        CHECK_STR_EQ(t->nvlink_from, "hwloc");
        /* Pairs (0,1) and (2,3) at 40 GB/s; the GPU-CPU links are not GPU
         * paths. */
        CHECK(t->nvlink_gbps[0][1] == 40.0 && t->nvlink_gbps[2][3] == 40.0);
        CHECK(t->nvlink_gbps[0][2] == 0 && t->nvlink_gbps[1][3] == 0);
        CHECK(t->gpu_link[0][2] == PLAIT_LINK_INTER_SOCKET);
        CHECK_INT_EQ(t->nnics, 0);
        CHECK(t->gpu[0].pci.package == 0 && t->gpu[3].pci.package == 1);
        plait_topology_free(t);
    }
    t = load(fixture("24em64t-2n6c2t-pci.xml", 1));
    if (t) {
        /* Three Tesla boards (class 0302) and an InfiniBand HCA (class 0c06). */
        CHECK_INT_EQ(t->ngpus, 3);
        CHECK_INT_EQ(t->ncores, 12);
        int ib = -1;
        for (int i = 0; i < t->nnics; i++)
            if (!strcmp(t->nic[i].name, "mlx4_0:1"))
                ib = i;
        CHECK_MSG(ib >= 0, "no mlx4_0:1 among %d NICs", t->nnics);
        if (ib >= 0)
            CHECK(t->nic[ib].rdma && !strcmp(t->nic[ib].netdev, "eth2"));
        plait_topology_free(t);
    }
    t = load(fixture("96em64t-4n4d3ca2co-pci.xml", 1));
    if (t) {
        CHECK_INT_EQ(t->ngpus, 0);
        CHECK_INT_EQ(t->ncores, 96);
        CHECK_INT_EQ(t->npackages, 16);
        CHECK_INT_EQ(t->nnics, 8);
        CHECK_STR_EQ(t->nic[0].name, "eth0");
        CHECK(!t->nic[0].rdma);
        plait_topology_free(t);
    }
}

int main(void)
{
    dgx();
    pcie();
    shared();
    load_bad("", "not an hwloc XML topology");
    load_bad("hello, world, this is not xml at all", "not an hwloc XML topology");
    load_bad("<?xml version=\"1.0\"?><topology version=\"2.0\"><object type=\"Machine\">",
             "hwloc XML topology (expected");
    /* Found by fuzz_hwloc: a PU without complete_cpuset makes hwloc 2.9
     * dereference NULL (lstopo --input too); hwloc reads files in a child,
     * so this process lives on and refuses the file. */
    load_bad("<?xml version=\"1.0\"?><topology version=\"2.0\">"
             "<object type=\"Machine\" cpuset=\"0x3\" complete_cpuset=\"0x3\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"1\">"
             "<object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x3\" complete_cpuset=\"0x3\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"2\"/>"
             "<object type=\"PU\" os_index=\"0\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"3\"/>"
             "<object type=\"PU\" os_index=\"1\" cpuset=\"0x2\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"4\"/></object></topology>",
             "hwloc XML topology (expected");
    /* Found by fuzz_hwloc: a PU (or NUMA node) without os_index is number
     * 2^32 - 1 to hwloc 2.9, which then took seconds and a gigabyte exporting
     * it. */
    load_bad("<?xml version=\"1.0\"?><topology version=\"2.0\">"
             "<object type=\"Machine\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"1\">"
             "<object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"2\"/>"
             "<object type=\"PU\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"3\"/></object></topology>",
             "CPU or NUMA node numbered 1048576 or more");
    load_bad("<?xml version=\"1.0\"?><topology version=\"2.0\">"
             "<object type=\"Machine\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"1\">"
             "<object type=\"NUMANode\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"2\"/>"
             "<object type=\"PU\" os_index=\"0\" cpuset=\"0x1\" complete_cpuset=\"0x1\" "
             "nodeset=\"0x1\" complete_nodeset=\"0x1\" gp_index=\"3\"/></object></topology>",
             "CPU or NUMA node numbered 1048576 or more");
    plait_topology_t *t = NULL;
    char err[512];
    CHECK(plait_topology_load_file(&t, "/nonexistent.xml", err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "cannot open it: No such file or directory");
    CHECK(plait_topology_load_file(&t, "/tmp", err, sizeof(err)) == -1);
    CHECK_STR_CONTAINS(err, "not a regular file");
    /* This machine, whatever it is: loads, has cores. */
    dlopen("libpciaccess.so.0", RTLD_NOW | RTLD_NODELETE);
    CHECK_MSG(plait_topology_load_live(&t, 0, err, sizeof(err)) == 0, "%s", err);
    if (t)
        CHECK(t->ncores > 0);
    plait_topology_free(t);
    return check_status("test_topology");
}
