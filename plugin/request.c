/* The --plait-* values checked, combined with the admin's defaults, and
 * checked against what is known of the job at submission. No Slurm calls
 * here: the unit tests drive it directly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "request.h"

struct plait_opts plait_opts;

/* The value as it may appear in a one-line message. */
static const char *printable(const char *s)
{
    static char buf[512];
    return plait_printable(s, buf, sizeof(buf));
}

static int usable_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* N steps or T minutes, positive, at most 10^9. */
static int ckpt_every_ok(const char *s)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 9 || s[0] == '0')
        return 0;
    return s[digits] == '\0' || !strcmp(s + digits, "min");
}

int plait_request_parse(const struct plait_config *cfg, struct plait_request *req, char *err,
                        size_t errlen)
{
    char why[512];
    memset(req, 0, sizeof(*req));
    req->placement = cfg->placement;
    if (plait_opts.layout) {
        if (plait_layout_parse(plait_opts.layout, &req->layout, why, sizeof(why))) {
            snprintf(err, errlen, "--plait-layout=%s: %s", printable(plait_opts.layout), why);
            return -1;
        }
    } else {
        /* Plait without a layout: pure data parallelism. */
        req->layout.tp = 1;
        req->layout.pp = 1;
    }
    if (plait_opts.placement && plait_placement_parse(plait_opts.placement, &req->placement)) {
        snprintf(err, errlen, "--plait-placement=%s: expected topo, block or none",
                 printable(plait_opts.placement));
        return -1;
    }
    if (plait_opts.topology) {
        if (!usable_text(plait_opts.topology, PLAIT_PATH_MAX)) {
            snprintf(err, errlen, "--plait-topology=%s: expected the path of an hwloc XML file",
                     printable(plait_opts.topology));
            return -1;
        }
        req->topology = plait_opts.topology;
        req->topology_from_user = 1;
    } else if (cfg->topology[0]) {
        req->topology = cfg->topology;
    }
    if (plait_opts.ckpt_dir) {
        if (!usable_text(plait_opts.ckpt_dir, PLAIT_PATH_MAX)) {
            snprintf(err, errlen,
                     "--plait-ckpt-dir=%s: expected a directory path (no control characters, "
                     "shorter than %d bytes)",
                     printable(plait_opts.ckpt_dir), PLAIT_PATH_MAX);
            return -1;
        }
        req->ckpt_dir = plait_opts.ckpt_dir;
    }
    if (plait_opts.ckpt_every) {
        if (!ckpt_every_ok(plait_opts.ckpt_every)) {
            snprintf(err, errlen,
                     "--plait-ckpt-every=%s: expected N (steps) or Tmin (minutes), a positive "
                     "integer below 10^9",
                     printable(plait_opts.ckpt_every));
            return -1;
        }
        req->ckpt_every = plait_opts.ckpt_every;
    }
    return 0;
}

int plait_request_check(struct plait_request *req, const struct plait_counts *c,
                        const plait_topology_t *topo, char *err, size_t errlen)
{
    char why[512];
    char layout[512];
    snprintf(layout, sizeof(layout), "%s", plait_opts.layout ? printable(plait_opts.layout) : "");
    if (c->ntasks > 0 && plait_layout_resolve(&req->layout, c->ntasks, why, sizeof(why))) {
        snprintf(err, errlen, "--plait-layout=%s: %s", layout, why);
        return -1;
    }
    int tp = req->layout.tp;
    if (tp > 0 && c->tasks_per_node > 0 && c->tasks_per_node % tp) {
        snprintf(err, errlen,
                 "--plait-layout=%s: tp=%d but the job has %ld tasks per node (expected a "
                 "multiple of tp, so that each tensor-parallel group is on one node)",
                 layout, tp, c->tasks_per_node);
        return -1;
    }
    if (c->gpus_per_node > 0 && req->placement != PLAIT_PLACE_NONE) {
        if (tp > c->gpus_per_node) {
            snprintf(err, errlen,
                     "--plait-layout=%s: tp=%d but the job has %ld GPUs per node (expected a "
                     "tensor-parallel group to fit in one node)",
                     layout, tp, c->gpus_per_node);
            return -1;
        }
        if (c->tasks_per_node > c->gpus_per_node) {
            snprintf(err, errlen,
                     "--plait-placement=%s: %ld tasks per node but %ld GPUs per node (expected "
                     "at most one task per GPU)",
                     plait_placement_name(req->placement), c->tasks_per_node, c->gpus_per_node);
            return -1;
        }
    }
    if (topo && c->gpus_per_node > topo->ngpus) {
        snprintf(err, errlen,
                 "--plait-topology=%s: describes nodes with %d GPUs but the job asks for %ld per "
                 "node (expected the topology of the job's nodes)",
                 printable(req->topology), topo->ngpus, c->gpus_per_node);
        return -1;
    }
    struct stat st;
    if (req->ckpt_dir && stat(req->ckpt_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "--plait-ckpt-dir=%s: exists and is not a directory (expected a "
                 "directory, or a path to create)",
                 printable(req->ckpt_dir));
        return -1;
    }
    return 0;
}
