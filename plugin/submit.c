/* Checks at submission (sbatch, salloc, srun): what the command knows of the
 * job comes from its option table through libslurm's slurm_option_get(),
 * found at run time so that plait.so links nothing of Slurm. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spank_ctx.h"

typedef char *(*option_get_fn)(void *opt, const char *name);
typedef bool (*option_isset_fn)(void *opt, const char *name);

/* A plain positive integer, else -1. */
static long whole(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v <= 0 ? -1 : v;
}

/* "8" or "h100:8" */
static long typed_count(const char *s)
{
    if (!s)
        return -1;
    const char *colon = strrchr(s, ':');
    return whole(colon ? colon + 1 : s);
}

/* "gres:gpu:2", "gres/gpu:h100:2", "gpu:2", lists of those: the GPU count,
 * 0 when no GPU is asked for, -1 when unclear. */
static long gres_gpus(const char *s)
{
    if (!s)
        return -1;
    long total = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strncmp(tok, "gres:", 5) || !strncmp(tok, "gres/", 5))
            tok += 5;
        if (strncmp(tok, "gpu", 3) || (tok[3] && tok[3] != ':'))
            continue;
        long n = tok[3] ? typed_count(tok + 4) : 1;
        if (n < 0) {
            total = -1;
            break;
        }
        total += n;
    }
    free(copy);
    return total;
}

static void read_counts(struct plait_counts *c)
{
    c->ntasks = c->nodes = c->tasks_per_node = c->gpus_per_node = -1;
    void *opt = dlsym(RTLD_DEFAULT, "opt");
    option_get_fn get = (option_get_fn)dlsym(RTLD_DEFAULT, "slurm_option_get");
    option_isset_fn isset = (option_isset_fn)dlsym(RTLD_DEFAULT, "slurm_option_isset");
    if (!opt || !get || !isset)
        return;
    /* slurm_option_get() returns memory from Slurm's allocator: left to the
     * short-lived command rather than freed with the wrong free(). */
    if (isset(opt, "nodes")) {
        const char *v = get(opt, "nodes");
        const char *dash = v ? strchr(v, '-') : NULL;
        if (!dash)
            c->nodes = whole(v);
        else if (whole(dash + 1) > 0 && strtol(v, NULL, 10) == whole(dash + 1))
            c->nodes = whole(dash + 1);
    }
    if (isset(opt, "ntasks-per-node"))
        c->tasks_per_node = whole(get(opt, "ntasks-per-node"));
    if (isset(opt, "ntasks"))
        c->ntasks = whole(get(opt, "ntasks"));
    else if (c->nodes > 0 && c->tasks_per_node > 0)
        c->ntasks = c->nodes * c->tasks_per_node;
    if (c->tasks_per_node < 0 && c->nodes == 1 && c->ntasks > 0)
        c->tasks_per_node = c->ntasks;
    if (isset(opt, "gpus-per-node")) {
        c->gpus_per_node = typed_count(get(opt, "gpus-per-node"));
    } else if (isset(opt, "gres")) {
        c->gpus_per_node = gres_gpus(get(opt, "gres"));
    } else if (isset(opt, "gpus")) {
        long total = typed_count(get(opt, "gpus"));
        c->gpus_per_node =
            total > 0 && c->nodes > 0 && total % c->nodes == 0 ? total / c->nodes : -1;
    } else if (isset(opt, "gpus-per-task")) {
        long per = typed_count(get(opt, "gpus-per-task"));
        c->gpus_per_node = per > 0 && c->tasks_per_node > 0 ? per * c->tasks_per_node : -1;
    } else {
        c->gpus_per_node = 0;
    }
}

static int submit_check(char *err, size_t errlen)
{
    char why[1024];
    const struct plait_config *cfg = plait_config_get(why, sizeof(why));
    if (!cfg) {
        snprintf(err, errlen, "admin configuration: %s", why);
        return -1;
    }
    struct plait_request req;
    if (plait_request_parse(cfg, &req, err, errlen))
        return -1;
    struct plait_counts counts;
    read_counts(&counts);
    /* The user's topology file, read now as the user: a bad path fails here
     * rather than in every task. */
    plait_topology_t *topo = NULL;
    if (req.topology_from_user && plait_topology_load_file(&topo, req.topology, why, sizeof(why))) {
        snprintf(err, errlen, "--plait-topology=%s: %s", req.topology, why);
        return -1;
    }
    int rc = plait_request_check(&req, &counts, topo, err, errlen);
    plait_topology_free(topo);
    return rc;
}

int plait_submit_post_opt(void)
{
    char err[2048];
    if (!plait_opts.given)
        return 0;
    if (submit_check(err, sizeof(err))) {
        slurm_error("plait: %s", err);
        return -1;
    }
    return 0;
}
