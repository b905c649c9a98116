/* Multi-process tests run themselves: started without a rank (by tests/run),
 * a test program relaunches itself under plait-run, found next to the test
 * binaries in the same build tree, and checks how that went. */
#ifndef PLAIT_TESTS_RUNTIME_LAUNCH_H
#define PLAIT_TESTS_RUNTIME_LAUNCH_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int launch_is_rank(void)
{
    return getenv("PLAIT_RANK") || getenv("SLURM_PROCID");
}

/* Runs `plait-run -n n --layout layout self arg` with env_assignment (may be
 * NULL) in its environment; stdout+stderr go to out (outlen bytes at most).
 * Returns plait-run's wait status. */
static inline int launch_ranks(int n, const char *layout, const char *arg,
                               const char *env_assignment, char *out, size_t outlen)
{
    char self[PATH_MAX], run[PATH_MAX + 32], cmd[3 * PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return -1;
    self[len] = '\0';
    snprintf(run, sizeof run, "%s", self);
    char *slash = strrchr(run, '/');
    snprintf(slash, sizeof run - (size_t)(slash - run), "/../bin/plait-run");
    snprintf(cmd, sizeof cmd, "env %s %s -n %d --layout %s %s %s 2>&1",
             env_assignment ? env_assignment : "", run, n, layout, self, arg ? arg : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t got = 0;
    out[0] = '\0';
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        size_t l = strlen(line);
        if (got + l < outlen) {
            memcpy(out + got, line, l + 1);
            got += l;
        }
    }
    fflush(stdout);
    return pclose(p);
}

#endif
