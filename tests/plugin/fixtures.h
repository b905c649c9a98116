/* Paths of the topology fixtures for the plugin's unit tests. */
#ifndef PLAIT_TESTS_PLUGIN_FIXTURES_H
#define PLAIT_TESTS_PLUGIN_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* etc/topology/NAME, or ../shared/fixtures/hwloc/NAME when shared. */
static inline const char *fixture(const char *name, int shared)
{
    static char buf[8][4096];
    static int next;
    const char *top = getenv("PLAIT_TOP");
    char *out = buf[next++ % 8];
    snprintf(out, sizeof(buf[0]), "%s/%s/%s", top ? top : ".",
             shared ? "../shared/fixtures/hwloc" : "etc/topology", name);
    return out;
}

static inline int have_file(const char *path)
{
    return access(path, R_OK) == 0;
}

#endif
