/* plait placement: node topology, cost model and placer.
 *
 * Used by plait.so (the SPANK plugin) in every task, by plait-topo and by the
 * tests. Everything here is deterministic: the same topology, layout and
 * allocation give the same mapping on every node and in plait-topo.
 *
 * Rank order (docs/contract.md): rank = (dp * PP + pp) * TP + tp. */
#ifndef PLAIT_PLACEMENT_H
#define PLAIT_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLAIT_MAX_GPUS        64
#define PLAIT_MAX_NICS        64
#define PLAIT_MAX_CPUS        2048
#define PLAIT_PCI_DEPTH       12
#define PLAIT_MAX_PU_PER_CORE 8

/* ---- CPU sets (OS CPU numbers) ---------------------------------------- */

typedef struct plait_cpus {
    uint64_t w[PLAIT_MAX_CPUS / 64];
} plait_cpus_t;

void plait_cpus_zero(plait_cpus_t *s);
void plait_cpus_set(plait_cpus_t *s, int cpu);
int plait_cpus_isset(const plait_cpus_t *s, int cpu);
int plait_cpus_count(const plait_cpus_t *s);
int plait_cpus_empty(const plait_cpus_t *s);
void plait_cpus_and(plait_cpus_t *dst, const plait_cpus_t *a, const plait_cpus_t *b);
void plait_cpus_or(plait_cpus_t *dst, const plait_cpus_t *a, const plait_cpus_t *b);
int plait_cpus_equal(const plait_cpus_t *a, const plait_cpus_t *b);
/* "0-3,8" (empty string for the empty set). Returns the length it needed, like
 * snprintf. */
int plait_cpus_format(const plait_cpus_t *s, char *buf, size_t len);
/* Parses "0-3,8"; returns 0, or -1 on malformed input or a CPU beyond
 * PLAIT_MAX_CPUS. */
int plait_cpus_parse(const char *text, plait_cpus_t *s);

/* ---- --plait-placement ------------------------------------------------- */

enum plait_placement { PLAIT_PLACE_TOPO, PLAIT_PLACE_BLOCK, PLAIT_PLACE_NONE };
int plait_placement_parse(const char *text, enum plait_placement *out);
const char *plait_placement_name(enum plait_placement p);

/* ---- Node topology ----------------------------------------------------- */

/* Classes of path between two devices or tasks, best first. */
enum plait_link {
    PLAIT_LINK_SELF,
    PLAIT_LINK_NVLINK,
    PLAIT_LINK_PCIE_SWITCH,  /* behind one PCIe switch */
    PLAIT_LINK_HOST_BRIDGE,  /* same host bridge (root complex), different switches */
    PLAIT_LINK_SOCKET,       /* same package, different host bridges */
    PLAIT_LINK_INTER_SOCKET, /* different packages */
    PLAIT_LINK_NETWORK,      /* another node under the same leaf switch */
    PLAIT_LINK_SPINE,        /* another node under another leaf switch */
    PLAIT_LINK_COUNT
};
const char *plait_link_name(enum plait_link l);

struct plait_pci {
    char busid[16];                 /* "0000:18:00.0" */
    int package;                    /* logical index of its package, -1: unknown */
    int depth;                      /* bridges above it */
    uint64_t path[PLAIT_PCI_DEPTH]; /* those bridges, host bridge first */
    plait_cpus_t cpus;              /* CPUs local to it */
};

struct plait_gpu {
    struct plait_pci pci;
    char model[64];
    int nic; /* its closest NIC (index in nic[]), -1: none */
};

struct plait_nic {
    struct plait_pci pci;
    char name[48];   /* for UCX_NET_DEVICES: "mlx5_0:1", or "eth0" */
    char netdev[32]; /* the network interface, "" if none */
    int rdma;        /* has an RDMA (OpenFabrics) device */
};

struct plait_core {
    int package; /* logical index, -1: unknown */
    int npus;
    int pu[PLAIT_MAX_PU_PER_CORE]; /* OS CPU numbers */
};

typedef struct plait_topology {
    char source[256];
    int npackages;
    int ncores;
    struct plait_core *cores; /* by hwloc logical index = Slurm's core numbering */
    int ngpus;                /* NVIDIA GPUs, by PCI bus id (CUDA_DEVICE_ORDER=PCI_BUS_ID) */
    struct plait_gpu gpu[PLAIT_MAX_GPUS];
    int nnics;
    struct plait_nic nic[PLAIT_MAX_NICS];
    /* GPU-GPU NVLink bandwidth in GB/s per direction (through NVSwitches
     * included), 0: none. */
    double nvlink_gbps[PLAIT_MAX_GPUS][PLAIT_MAX_GPUS];
    unsigned char gpu_link[PLAIT_MAX_GPUS][PLAIT_MAX_GPUS];     /* enum plait_link */
    unsigned char gpu_nic_link[PLAIT_MAX_GPUS][PLAIT_MAX_NICS]; /* enum plait_link */
    const char *nvlink_from;                                    /* "hwloc", "nvml" or "none" */
} plait_topology_t;

/* Topology files are at most this large. */
#define PLAIT_TOPOLOGY_MAX_BYTES (64 << 20)

/* An hwloc XML export (lstopo --of xml). */
int plait_topology_load_file(plait_topology_t **out, const char *path, char *err, size_t errlen);
int plait_topology_load_buffer(plait_topology_t **out, const char *buf, size_t len,
                               const char *name, char *err, size_t errlen);
/* This machine, through hwloc; NVLink through NVML (dlopen) when use_nvml. */
int plait_topology_load_live(plait_topology_t **out, int use_nvml, char *err, size_t errlen);
void plait_topology_free(plait_topology_t *t);
enum plait_link plait_pci_link(const struct plait_pci *a, const struct plait_pci *b);

/* ---- Slurm's topology.conf and notations ------------------------------- */

/* Leaf switches: the switches of topology.conf with a Nodes= list. */
typedef struct plait_leaves plait_leaves_t;
int plait_leaves_load(plait_leaves_t **out, const char *path, char *err, size_t errlen);
/* The leaf switch of a node (0, 1, ... in file order), -1: not listed. */
int plait_leaf_of(const plait_leaves_t *l, const char *node);
void plait_leaves_free(plait_leaves_t *l);
/* "n[1-4,7],gpu05" into names (free with plait_hostlist_free). */
int plait_hostlist_expand(const char *list, char ***names, int *n, char *err, size_t errlen);
void plait_hostlist_free(char **names, int n);
/* "8(x2),4" into counts[]; returns how many, -1 when malformed or more than max. */
int plait_tasks_per_node(const char *text, int *counts, int max);
/* Which node holds which ranks when leaf switches are known: order[k] is the
 * index, in Slurm's order, of the node that gets the k-th block of ranks.
 * Nodes are ordered so that as many blocks of consecutive nodes holding whole
 * pipelines (TP*PP ranks) as possible sit under one leaf switch, then so that
 * neighbours share leaves. Returns 1 when that beats Slurm's order, else 0
 * with order[] the identity: also when a node's leaf is unknown (-1) or the
 * nodes have different task counts. */
int plait_leaf_order(const plait_layout_t *l, int nnodes, const int *tasks, const int *leaf,
                     int *order);
/* first[i]: the first rank of node i (Slurm's order) under order[]. */
void plait_order_first_rank(int nnodes, const int *tasks, const int *order, long *first);

/* ---- Cost model -------------------------------------------------------- */

/* Bytes moved per training step, per group, and the bandwidth (GB/s per
 * direction) of each class of path. The modelled cost of a placement is the
 * sum over transfers of bytes / bandwidth of the path they cross: seconds per
 * step if every transfer ran alone (docs/plugin.md, "Cost model"). */
typedef struct plait_cost {
    double gbps[PLAIT_LINK_COUNT]; /* [NVLINK]: when NVLink's bandwidth is unknown */
    double tp_bytes;               /* all-reduced by each tensor-parallel group */
    double pp_bytes;               /* between adjacent pipeline stages, both ways */
    double dp_bytes;               /* all-reduced by each data-parallel group */
} plait_cost_t;

void plait_cost_default(plait_cost_t *c);

/* ---- Placement of one node --------------------------------------------- */

typedef struct plait_node_job {
    const plait_topology_t *topo;
    plait_layout_t layout; /* resolved: dp, tp, pp > 0 */
    int nlocal;
    const int *ranks; /* nlocal global ranks, ascending */
    int ngpus;        /* GPUs the step has on this node, 0: none */
    const int *gpus;  /* their indices in topo->gpu */
    /* CPUs the step may use on this node, NULL: the whole node. */
    const plait_cpus_t *allowed;
    const plait_cost_t *cost;
    enum plait_placement placement;
    /* Whether two ranks on different nodes sit under one leaf switch; NULL:
     * they all do. */
    int (*same_leaf)(void *ctx, int rank_a, int rank_b);
    void *leaf_ctx;
} plait_node_job_t;

typedef struct plait_task {
    int rank, local_rank;
    int dp, tp, pp;
    int gpu;           /* index in topo->gpu, -1: none */
    int nic;           /* index in topo->nic, -1: none */
    plait_cpus_t cpus; /* where the task is bound; empty: not bound */
} plait_task_t;

/* Checks the job (every tensor-parallel group on this node, enough GPUs) and
 * fills tasks[nlocal] in the order of job->ranks. cost (may be NULL) gets the
 * modelled cost of the node's share of the traffic, in seconds per step.
 * Returns 0, or -1 with a message. */
int plait_place_node(const plait_node_job_t *job, plait_task_t *tasks, double *cost, char *err,
                     size_t errlen);
/* The modelled cost of giving local task i the GPU topo->gpu[gpu_of[i]]. */
double plait_node_cost(const plait_node_job_t *job, const int *gpu_of);
/* The optimum by exhaustive search (for tests and benchmarks): -1 when more
 * than max_evals assignments would be needed. */
int plait_place_node_exhaustive(const plait_node_job_t *job, long max_evals, int *gpu_of,
                                double *cost);

/* ---- Placement of a whole job (plait-topo, benchmarks) ----------------- */

typedef struct plait_job {
    const plait_topology_t *topo; /* every node alike */
    plait_layout_t layout;        /* resolved */
    int nnodes;
    int tasks_per_node; /* Slurm's block distribution: node k has ranks k*n .. k*n+n-1 */
    int ngpus;          /* GPUs per node given to the job (first ngpus of topo), <= topo->ngpus */
    const plait_cost_t *cost;
    enum plait_placement placement;
    const int *leaf_of_node; /* leaf switch of each node, NULL: one leaf */
} plait_job_t;

/* tasks[world] by rank; node_cost may be NULL. Nodes with the same traffic
 * pattern share one computation. */
int plait_place_job(const plait_job_t *job, plait_task_t *tasks, double *cost, char *err,
                    size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
