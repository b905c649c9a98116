/* Slurm's topology.conf as the plugin reads it for leaf switches. */
#include "fuzz.h"
#include "plugin/placement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    plait_leaves_t *leaves;
    const char *path = fuzz_file("topology.conf", data, size);
    int rc = plait_leaves_load(&leaves, path, err, sizeof err);
    fuzz_one_line("plait_leaves_load", rc, err);
    if (rc == 0) {
        plait_leaf_of(leaves, "n1");
        plait_leaves_free(leaves);
    }
    return 0;
}
