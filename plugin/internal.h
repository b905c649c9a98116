/* Functions shared by the placement files, not part of placement.h. */
#ifndef PLAIT_PLUGIN_INTERNAL_H
#define PLAIT_PLUGIN_INTERNAL_H

#include <stddef.h>

#include "placement.h"

/* Link classes and each GPU's NIC, once GPUs, NICs and NVLink are known. */
void plait_topology_finish(plait_topology_t *t);
/* Fills t->nvlink_gbps from NVML (dlopen libnvidia-ml.so.1). Returns 1 when
 * NVML answered, 0 when it is absent or says NOT_SUPPORTED (unknown). */
int plait_nvml_nvlink(plait_topology_t *t);
/* Reads a whole regular file of at most max bytes (NUL-terminated). */
int plait_read_file(const char *path, size_t max, char **data, size_t *len, char *err,
                    size_t errlen);

#endif
