/* The environment contract read back in every task (docs/contract.md):
 * PLAIT_* from the plugin or plait-run, SLURM_* without them, one
 * NAME=value per line. A user can set any of them by hand. */
#include "fuzz.h"
#include "runtime/internal.h"
#include "runtime/train/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024], *text = fuzz_text(data, size), *line[64];
    int n = fuzz_lines(text, line, 64);
    clearenv();
    for (int i = 0; i < n; i++) {
        char *eq = strchr(line[i], '=');
        if (eq && eq != line[i]) {
            *eq = '\0';
            setenv(line[i], eq + 1, 1);
        }
    }
    plait_placement_t p;
    fuzz_one_line("plait_placement_from_env", plait_placement_from_env(&p, NULL, err, sizeof err),
                  err);
    static struct train_config cfg;
    fuzz_one_line("train_config_apply_env", train_config_apply_env(&cfg, err, sizeof err), err);
    free(text);
    return 0;
}
