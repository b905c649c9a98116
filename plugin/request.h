/* The --plait-* options as given, and as checked (request.c). */
#ifndef PLAIT_PLUGIN_REQUEST_H
#define PLAIT_PLUGIN_REQUEST_H

#include <stddef.h>

#include "config.h"
#include "placement.h"

/* As given (NULL: not given). */
struct plait_opts {
    int given; /* any of them: a job without plait options is left alone */
    char *layout;
    char *placement;
    char *topology;
    char *ckpt_dir;
    char *ckpt_every;
};
extern struct plait_opts plait_opts;

/* Checked and combined with the admin's defaults. */
struct plait_request {
    plait_layout_t layout; /* may still have a left-out dimension */
    enum plait_placement placement;
    const char *topology; /* the user's file, else the admin's, NULL: discover */
    int topology_from_user;
    const char *ckpt_dir;
    const char *ckpt_every;
};

/* One line on error, naming the option, the value and what is expected. */
int plait_request_parse(const struct plait_config *cfg, struct plait_request *req, char *err,
                        size_t errlen);

/* What the submitting command knows of the job; -1: unknown. */
struct plait_counts {
    long ntasks;
    long nodes; /* when fixed (-N 2, not -N 2-4) */
    long tasks_per_node;
    long gpus_per_node; /* 0: the job asked for no GPUs */
};

/* Resolves req->layout when the task count is known and checks what can be
 * checked: the product, tensor-parallel groups within a node, GPUs enough.
 * topo (may be NULL) is the user's --plait-topology. */
int plait_request_check(struct plait_request *req, const struct plait_counts *c,
                        const plait_topology_t *topo, char *err, size_t errlen);

#endif
