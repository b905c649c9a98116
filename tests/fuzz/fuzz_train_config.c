/* plait-train's job config: libconfig parses, plait's walk of the result
 * must refuse anything odd with file:line. */
#include "fuzz.h"
#include "runtime/train/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct train_config cfg;
    char err[1024];
    const char *path = fuzz_file("job.cfg", data, size);
    int rc = train_config_load(path, &cfg, err, sizeof err);
    fuzz_one_line("train_config_load", rc, err);
    if (rc == 0) {
        /* dp up to 2^20, as PLAIT_DP_SIZE allows. */
        static const int layouts[][3] = {{1, 1, 1}, {2, 2, 2}, {1, 8, 4}, {1 << 20, 1, 1}};
        for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
            const int *l = layouts[i];
            rc = train_config_check_layout(&cfg, l[0], l[1], l[2], err, sizeof err);
            fuzz_one_line("train_config_check_layout", rc, err);
            if (rc == 0)
                train_config_accum(&cfg, l[0]);
        }
        for (int step = 0; step < cfg.steps && step < 4; step++)
            train_lr_at(&cfg.optim, cfg.steps, step);
    }
    return 0;
}
