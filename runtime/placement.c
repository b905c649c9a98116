/* Where this process sits: the plugin's (or plait-run's) PLAIT_* variables
 * when present, else Slurm's own variables with block placement and a layout
 * from the caller, else a job of one. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/internal.h"

static plait_status_t env_int(const char *name, int min, int *out, char *err, size_t errlen)
{
    const char *s = getenv(name);
    if (!s) {
        snprintf(err, errlen, "%s is not set: expected an integer from %d", name, min);
        return PLAIT_ERR_INVALID;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > 1 << 20) {
        snprintf(err, errlen, "%s='%s': expected an integer from %d", name, s, min);
        return PLAIT_ERR_INVALID;
    }
    *out = (int)v;
    return PLAIT_OK;
}

plait_status_t plait_layout_for_world(const char *layout, int world, int *dp, int *tp, int *pp,
                                      char *err, size_t errlen)
{
    plait_layout_t l = {0, 1, 1}; /* none given: data parallel */
    char why[400];
    if ((layout && *layout && plait_layout_parse(layout, &l, why, sizeof why) != 0) ||
        plait_layout_resolve(&l, world, why, sizeof why) != 0) {
        snprintf(err, errlen, "layout '%s': %s", layout ? layout : "", why);
        return PLAIT_ERR_INVALID;
    }
    *dp = l.dp, *tp = l.tp, *pp = l.pp;
    return PLAIT_OK;
}

static void set_host(plait_placement_t *p)
{
    const char *node = getenv("SLURMD_NODENAME");
    if (node && *node)
        snprintf(p->host, sizeof p->host, "%s", node);
    else if (gethostname(p->host, sizeof p->host) != 0)
        snprintf(p->host, sizeof p->host, "unknown");
    p->host[sizeof p->host - 1] = '\0';
}

static plait_status_t from_contract(plait_placement_t *p, char *err, size_t errlen)
{
    struct {
        const char *name;
        int min;
        int *out;
    } vars[] = {
        {"PLAIT_RANK", 0, &p->rank},
        {"PLAIT_WORLD_SIZE", 1, &p->world_size},
        {"PLAIT_LOCAL_RANK", 0, &p->local_rank},
        {"PLAIT_LOCAL_SIZE", 1, &p->local_size},
        {"PLAIT_DP_RANK", 0, &p->dp_rank},
        {"PLAIT_DP_SIZE", 1, &p->dp_size},
        {"PLAIT_TP_RANK", 0, &p->tp_rank},
        {"PLAIT_TP_SIZE", 1, &p->tp_size},
        {"PLAIT_PP_RANK", 0, &p->pp_rank},
        {"PLAIT_PP_SIZE", 1, &p->pp_size},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (env_int(vars[i].name, vars[i].min, vars[i].out, err, errlen) != PLAIT_OK)
            return PLAIT_ERR_INVALID;
    /* In long: each variable may be up to 2^20, and a user can set them. */
    long expect = ((long)p->dp_rank * p->pp_size + p->pp_rank) * p->tp_size + p->tp_rank;
    if ((long)p->dp_size * p->tp_size * p->pp_size != p->world_size || p->rank != expect ||
        p->rank >= p->world_size || p->dp_rank >= p->dp_size || p->tp_rank >= p->tp_size ||
        p->pp_rank >= p->pp_size || p->local_rank >= p->local_size) {
        snprintf(err, errlen,
                 "PLAIT_RANK=%d with dp %d/%d tp %d/%d pp %d/%d of %d: expected rank = "
                 "(dp*PP+pp)*TP+tp and DP*TP*PP = world size",
                 p->rank, p->dp_rank, p->dp_size, p->tp_rank, p->tp_size, p->pp_rank, p->pp_size,
                 p->world_size);
        return PLAIT_ERR_INVALID;
    }
    return PLAIT_OK;
}

/* SLURM_STEP_TASKS_PER_NODE looks like "4(x2),3": tasks on node 0, 1, 2. */
static int tasks_on_node(const char *spec, int node)
{
    const char *s = spec;
    while (s && *s) {
        char *end;
        long tasks = strtol(s, &end, 10), reps = 1;
        if (end == s || tasks < 0 || tasks > 1 << 20)
            return -1;
        if (strncmp(end, "(x", 2) == 0) {
            reps = strtol(end + 2, &end, 10);
            if (*end++ != ')' || reps < 1)
                return -1;
        }
        if (node < reps)
            return (int)tasks;
        node -= (int)reps; /* reps <= node here */
        s = *end == ',' ? end + 1 : NULL;
    }
    return -1;
}

/* FROM names where the layout came from in a refusal: "PLAIT_LAYOUT: ", or
 * "" for the caller's own. */
static plait_status_t parse_layout(plait_placement_t *p, const char *layout, const char *from,
                                   char *err, size_t errlen)
{
    char why[512];
    if (plait_layout_for_world(layout, p->world_size, &p->dp_size, &p->tp_size, &p->pp_size, why,
                               sizeof why) == PLAIT_OK)
        return PLAIT_OK;
    snprintf(err, errlen, "%s%s", from, why);
    return PLAIT_ERR_INVALID;
}

static plait_status_t from_slurm(plait_placement_t *p, const char *layout, const char *from,
                                 char *err, size_t errlen)
{
    int node = 0;
    if (env_int("SLURM_PROCID", 0, &p->rank, err, errlen) ||
        env_int(getenv("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS", 1,
                &p->world_size, err, errlen) ||
        env_int("SLURM_LOCALID", 0, &p->local_rank, err, errlen) ||
        env_int("SLURM_NODEID", 0, &node, err, errlen))
        return PLAIT_ERR_INVALID;
    const char *spec = getenv("SLURM_STEP_TASKS_PER_NODE");
    if (!spec)
        spec = getenv("SLURM_TASKS_PER_NODE");
    p->local_size = spec ? tasks_on_node(spec, node) : -1;
    if (p->local_size <= p->local_rank) {
        snprintf(err, errlen, "SLURM_STEP_TASKS_PER_NODE='%s': expected a task count for node %d",
                 spec ? spec : "", node);
        return PLAIT_ERR_INVALID;
    }
    if (parse_layout(p, layout, from, err, errlen) != PLAIT_OK)
        return PLAIT_ERR_INVALID;
    p->tp_rank = p->rank % p->tp_size;
    p->pp_rank = p->rank / p->tp_size % p->pp_size;
    p->dp_rank = p->rank / (p->tp_size * p->pp_size);
    return PLAIT_OK;
}

/* Tests only: $PLAIT_TEST_NODES="3,1" puts the first 3 ranks on one node and
 * the next on another, named "<host>-node0", "<host>-node1", so that one
 * machine can exercise what depends on nodes (the hierarchical allreduce). */
static plait_status_t test_nodes(plait_placement_t *p, const char *spec, char *err, size_t errlen)
{
    int first = 0, node = 0, mine = -1;
    bool bad = false;
    const char *s = spec;
    char *end;
    do {
        errno = 0;
        long n = strtol(s, &end, 10);
        bad = errno || end == s || n < 1 || n > p->world_size - first || (*end && *end != ',');
        if (bad)
            break;
        if (mine < 0 && p->rank < first + n)
            mine = node;
        first += (int)n;
        node++;
        s = end + 1;
    } while (*end == ',');
    if (bad || first != p->world_size) {
        snprintf(err, errlen,
                 "PLAIT_TEST_NODES='%s': expected ranks per node, e.g. 3,1, adding up to the "
                 "world size %d",
                 spec, p->world_size);
        return PLAIT_ERR_INVALID;
    }
    char host[sizeof p->host];
    snprintf(host, sizeof host, "%s", p->host);
    snprintf(p->host, sizeof p->host, "%.40s-node%d", host, mine);
    return PLAIT_OK;
}

static plait_status_t from_env(plait_placement_t *p, const char *layout, const char *from,
                               char *err, size_t errlen)
{
    if (getenv("PLAIT_RANK"))
        return from_contract(p, err, errlen);
    if (getenv("SLURM_PROCID") && getenv("SLURM_STEP_ID"))
        return from_slurm(p, layout, from, err, errlen);
    p->world_size = p->local_size = p->dp_size = p->tp_size = p->pp_size = 1;
    return parse_layout(p, layout, from, err, errlen);
}

plait_status_t plait_placement_from_env(plait_placement_t *p, const char *layout, char *err,
                                        size_t errlen)
{
    memset(p, 0, sizeof *p);
    set_host(p);
    const char *from = "";
    if (!layout || !*layout) {
        layout = getenv("PLAIT_LAYOUT");
        from = "PLAIT_LAYOUT: ";
    }
    plait_status_t st = from_env(p, layout, from, err, errlen);
    const char *nodes = getenv("PLAIT_TEST_NODES");
    return st == PLAIT_OK && nodes ? test_nodes(p, nodes, err, errlen) : st;
}
