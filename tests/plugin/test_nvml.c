/* NVLink through NVML, loaded with dlopen: a stand-in libnvidia-ml.so.1
 * (fake_nvml.c) answers with NVSwitches, direct pairs, NOT_SUPPORTED, or a
 * failed init; plait must read the first two and treat the others as "no
 * NVLink known". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugin/internal.h"
#include "../../plugin/placement.h"
#include "../check.h"
#include "fixtures.h"

static void reset(plait_topology_t *t)
{
    memset(t->nvlink_gbps, 0, sizeof(t->nvlink_gbps));
    t->nvlink_from = "none";
}

int main(int argc, char **argv)
{
    (void)argc;
    /* dlopen searches LD_LIBRARY_PATH as it was at start: run again with the
     * stand-in's directory in it. */
    const char *dir = getenv("PLAIT_FAKE_NVML_DIR");
    if (!dir) {
        char self[4096], libdir[4200];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return 1;
        self[n] = '\0';
        snprintf(libdir, sizeof(libdir), "%.*s/fake-nvml", (int)(strrchr(self, '/') - self), self);
        setenv("PLAIT_FAKE_NVML_DIR", libdir, 1);
        setenv("LD_LIBRARY_PATH", libdir, 1);
        execv(self, argv);
        return 1;
    }
    plait_topology_t *t = NULL;
    char err[512];
    CHECK(plait_topology_load_file(&t, fixture("pcie-8gpu-2socket.xml", 0), err, sizeof(err)) == 0);
    if (!t)
        return check_status("test_nvml");
    char gpus[256] = "";
    for (int g = 0; g < t->ngpus; g++) {
        strcat(gpus, t->gpu[g].pci.busid);
        strcat(gpus, ",");
    }
    setenv("FAKE_NVML_GPUS", gpus, 1);

    setenv("FAKE_NVML_MODE", "switch", 1);
    CHECK(plait_nvml_nvlink(t) == 1);
    CHECK_STR_EQ(t->nvlink_from, "nvml");
    /* 4 links of 25 GB/s to each of 2 switches: 200 GB/s between any two. */
    CHECK_MSG(t->nvlink_gbps[0][7] == 200.0, "%g", t->nvlink_gbps[0][7]);
    CHECK(t->nvlink_gbps[3][4] == 200.0 && t->nvlink_gbps[5][5] == 0);
    plait_topology_finish(t);
    CHECK(t->gpu_link[0][7] == PLAIT_LINK_NVLINK);

    reset(t);
    setenv("FAKE_NVML_MODE", "pairs", 1);
    CHECK(plait_nvml_nvlink(t) == 1);
    CHECK(t->nvlink_gbps[0][1] == 50.0 && t->nvlink_gbps[2][3] == 50.0);
    CHECK(t->nvlink_gbps[0][2] == 0 && t->nvlink_gbps[4][5] == 0);

    reset(t);
    setenv("FAKE_NVML_MODE", "unsupported", 1);
    CHECK(plait_nvml_nvlink(t) == 0);
    CHECK_STR_EQ(t->nvlink_from, "none");
    CHECK(t->nvlink_gbps[0][1] == 0);

    setenv("FAKE_NVML_MODE", "noinit", 1);
    CHECK(plait_nvml_nvlink(t) == 0);
    CHECK_STR_EQ(t->nvlink_from, "none");
    plait_topology_finish(t);
    CHECK(t->gpu_link[0][1] == PLAIT_LINK_PCIE_SWITCH);
    plait_topology_free(t);
    return check_status("test_nvml");
}
