/* Admin defaults: plugstack.conf arguments and the optional libconfig file
 * they name (config=FILE). See etc/plait.conf and docs/plugin.md. */
#ifndef PLAIT_PLUGIN_CONFIG_H
#define PLAIT_PLUGIN_CONFIG_H

#include <stddef.h>

#include "placement.h"

#define PLAIT_PATH_MAX 4096

struct plait_config {
    enum plait_placement placement;      /* when --plait-placement is not given */
    char topology[PLAIT_PATH_MAX];       /* hwloc XML for every node; "": discover */
    int bind;                            /* bind tasks to their cores */
    int nvml;                            /* ask NVML for NVLink on live nodes */
    char slurm_topology[PLAIT_PATH_MAX]; /* Slurm's topology.conf; "": one leaf switch */
    plait_cost_t cost;
    char file[PLAIT_PATH_MAX]; /* config=FILE, "" if none */
};

void plait_config_init(struct plait_config *c);
/* Defaults, then the file named by a config= argument, then the other
 * arguments. Returns 0, or -1 with one line naming the argument or file:line,
 * the value and what is expected. */
int plait_config_load(struct plait_config *c, int ac, char **av, char *err, size_t errlen);
/* s as it may appear in a one-line message: control characters (a
 * newline in a quoted value) as '?', cut to fit buf. Returns buf. */
const char *plait_printable(const char *s, char *buf, size_t len);
/* Reads one libconfig file over *c. */
int plait_config_read_file(struct plait_config *c, const char *path, char *err, size_t errlen);

#endif
