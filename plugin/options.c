/* The --plait-* options: registration, storage, parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spank_ctx.h"

enum { OPT_LAYOUT, OPT_PLACEMENT, OPT_TOPOLOGY, OPT_CKPT_DIR, OPT_CKPT_EVERY };

/* Only stores the value: options are checked together, once all are known,
 * in slurm_spank_init_post_opt (submission) and in the tasks. */
static int option_cb(int val, const char *optarg, int remote)
{
    (void)remote;
    char **slot = val == OPT_LAYOUT       ? &plait_opts.layout
                  : val == OPT_PLACEMENT  ? &plait_opts.placement
                  : val == OPT_TOPOLOGY   ? &plait_opts.topology
                  : val == OPT_CKPT_DIR   ? &plait_opts.ckpt_dir
                  : val == OPT_CKPT_EVERY ? &plait_opts.ckpt_every
                                          : NULL;
    if (!slot)
        return -1;
    char *copy = strdup(optarg ? optarg : "");
    if (!copy)
        return -1;
    free(*slot);
    *slot = copy;
    plait_opts.given = 1;
    return 0;
}

static struct spank_option options[] = {
    {"plait-layout", "dp=D,tp=T,pp=P",
     "[plait] data, tensor and pipeline parallel sizes; one may be left out", 1, OPT_LAYOUT,
     option_cb},
    {"plait-placement", "topo|block|none",
     "[plait] topology-aware, in-order or no GPU/core/NIC placement", 1, OPT_PLACEMENT, option_cb},
    {"plait-topology", "FILE", "[plait] hwloc XML file describing the nodes", 1, OPT_TOPOLOGY,
     option_cb},
    {"plait-ckpt-dir", "DIR", "[plait] checkpoint directory (PLAIT_CKPT_DIR)", 1, OPT_CKPT_DIR,
     option_cb},
    {"plait-ckpt-every", "N|Tmin", "[plait] checkpoint every N steps or T minutes", 1,
     OPT_CKPT_EVERY, option_cb},
};

int plait_options_register(spank_t sp)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        spank_err_t rc = spank_option_register(sp, &options[i]);
        if (rc != ESPANK_SUCCESS) {
            slurm_error("plait: cannot register --%s: %s", options[i].name, spank_strerror(rc));
            return -1;
        }
    }
    return 0;
}

void plait_options_free(void)
{
    free(plait_opts.layout);
    free(plait_opts.placement);
    free(plait_opts.topology);
    free(plait_opts.ckpt_dir);
    free(plait_opts.ckpt_every);
    memset(&plait_opts, 0, sizeof(plait_opts));
}

/* ---- The admin's configuration, loaded on first use --------------------- */

static int kept_ac;
static char **kept_av;
static struct plait_config config;
static int config_state; /* 0: not loaded, 1: loaded, -1: failed */
static char config_err[1024];

void plait_args_keep(int ac, char **av)
{
    /* Slurm keeps argv alive for the plugin's lifetime. */
    kept_ac = ac;
    kept_av = av;
}

const struct plait_config *plait_config_get(char *err, size_t errlen)
{
    if (config_state == 0)
        config_state =
            plait_config_load(&config, kept_ac, kept_av, config_err, sizeof(config_err)) ? -1 : 1;
    if (config_state < 0) {
        snprintf(err, errlen, "%s", config_err);
        return NULL;
    }
    return &config;
}
