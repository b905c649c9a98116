/* The admin's plait.conf (libconfig), read by the plugin in every Slurm
 * daemon that loads it. */
#include "fuzz.h"
#include "plugin/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct plait_config cfg;
    plait_config_init(&cfg);
    const char *path = fuzz_file("plait.conf", data, size);
    fuzz_one_line("plait_config_read_file", plait_config_read_file(&cfg, path, err, sizeof err),
                  err);
    return 0;
}
