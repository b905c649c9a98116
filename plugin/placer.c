/* The placer: which GPU, cores and NIC each task of a node gets.
 *
 * A node's tasks have fixed ranks (Slurm's block distribution), so their
 * traffic is fixed; the placer chooses an injective map task -> GPU that
 * minimises the modelled cost (a quadratic assignment problem, tiny per node):
 * block order and a greedy construction, each improved by best-improvement
 * swaps and moves until no move helps; the cheaper wins, ties to block order.
 * Cores and the NIC follow from the GPU. Everything is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"

#define NS_PER_GB 1e-9 /* seconds per byte at 1 GB/s */

struct traffic {
    int n;
    double *w;         /* n*n, symmetric: bytes per step between local tasks */
    double *ext_leaf;  /* n: bytes to and from tasks on other nodes, same leaf */
    double *ext_spine; /* n: ... under another leaf switch */
};

static void traffic_free(struct traffic *t)
{
    free(t->w);
    free(t->ext_leaf);
    free(t->ext_spine);
    memset(t, 0, sizeof(*t));
}

static int local_index(const plait_node_job_t *job, int rank)
{
    int lo = 0, hi = job->nlocal - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (job->ranks[mid] == rank)
            return mid;
        if (job->ranks[mid] < rank)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static void add_edge(const plait_node_job_t *job, struct traffic *t, int i, int rank_j,
                     double bytes)
{
    int j = local_index(job, rank_j);
    if (j >= 0) {
        if (j != i) {
            t->w[i * t->n + j] += bytes;
            t->w[j * t->n + i] += bytes;
        }
    } else if (job->same_leaf && !job->same_leaf(job->leaf_ctx, job->ranks[i], rank_j)) {
        t->ext_spine[i] += bytes;
    } else {
        t->ext_leaf[i] += bytes;
    }
}

/* Ring all-reduce of S bytes over k ranks: each sends 2(k-1)/k S to the next.
 * Edges from local ranks are added once by their sender; an edge arriving
 * from another node is added by its local receiver. */
static int build_traffic(const plait_node_job_t *job, struct traffic *t)
{
    const plait_layout_t *l = &job->layout;
    const plait_cost_t *c = job->cost;
    int n = job->nlocal;
    t->n = n;
    t->w = calloc((size_t)n * (size_t)n, sizeof(double));
    t->ext_leaf = calloc((size_t)n, sizeof(double));
    t->ext_spine = calloc((size_t)n, sizeof(double));
    if (!t->w || !t->ext_leaf || !t->ext_spine) {
        traffic_free(t);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int d, tp, p;
        plait_rank_coords(l, job->ranks[i], &d, &tp, &p);
        if (l->tp > 1) {
            double v = 2.0 * (l->tp - 1) / l->tp * c->tp_bytes;
            add_edge(job, t, i, plait_coords_rank(l, d, (tp + 1) % l->tp, p), v);
            int prev = plait_coords_rank(l, d, (tp + l->tp - 1) % l->tp, p);
            if (local_index(job, prev) < 0)
                add_edge(job, t, i, prev, v);
        }
        if (l->pp > 1) {
            if (p + 1 < l->pp)
                add_edge(job, t, i, plait_coords_rank(l, d, tp, p + 1), c->pp_bytes);
            if (p > 0) {
                int prev = plait_coords_rank(l, d, tp, p - 1);
                if (local_index(job, prev) < 0)
                    add_edge(job, t, i, prev, c->pp_bytes);
            }
        }
        if (l->dp > 1) {
            double v = 2.0 * (l->dp - 1) / l->dp * c->dp_bytes;
            add_edge(job, t, i, plait_coords_rank(l, (d + 1) % l->dp, tp, p), v);
            int prev = plait_coords_rank(l, (d + l->dp - 1) % l->dp, tp, p);
            if (local_index(job, prev) < 0)
                add_edge(job, t, i, prev, v);
        }
    }
    return 0;
}

/* ---- Evaluation over candidate GPUs ------------------------------------ */

struct search {
    const struct traffic *tr;
    int n, m;     /* tasks, candidate GPUs */
    double *cpb;  /* m*m seconds per byte between candidates */
    int *nic;     /* m: NIC of each candidate, -1: none */
    double *path; /* m: GB/s from the candidate to its NIC */
    int nnics;
    double network, spine;
    int *count; /* nnics + 1 scratch */
    int *cls;   /* m: interchangeable candidates share a class */
};

static double link_gbps(const plait_topology_t *t, const plait_cost_t *c, int g, int h)
{
    enum plait_link l = (enum plait_link)t->gpu_link[g][h];
    if (l == PLAIT_LINK_NVLINK) {
        double a = t->nvlink_gbps[g][h], b = t->nvlink_gbps[h][g];
        double bw = a < b ? a : b;
        return bw > 0 ? bw : c->gbps[PLAIT_LINK_NVLINK];
    }
    return c->gbps[l];
}

static double min3(double a, double b, double c)
{
    double m = a < b ? a : b;
    return m < c ? m : c;
}

/* The cost of tasks 0..k-1 alone: a lower bound of any completion, since
 * every term is non-negative and NIC shares only grow. */
static double eval_partial(const struct search *s, const int *pos, int k)
{
    const struct traffic *tr = s->tr;
    double cost = 0;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            double w = tr->w[i * s->n + j];
            if (w > 0)
                cost += w * s->cpb[pos[i] * s->m + pos[j]];
        }
    memset(s->count, 0, sizeof(int) * (size_t)(s->nnics + 1));
    for (int i = 0; i < k; i++)
        if (tr->ext_leaf[i] > 0 || tr->ext_spine[i] > 0)
            s->count[s->nic[pos[i]] + 1]++;
    for (int i = 0; i < k; i++) {
        if (tr->ext_leaf[i] <= 0 && tr->ext_spine[i] <= 0)
            continue;
        int nk = s->nic[pos[i]];
        /* A NIC shared by several tasks gives each its share; with no known
         * NIC, assume each task has one. */
        double share = nk >= 0 ? s->network / s->count[nk + 1] : s->network;
        double path = s->path[pos[i]];
        /* Each end of an inter-node transfer carries half its cost, so the
         * nodes' costs add up to the job's. */
        cost += 0.5 * tr->ext_leaf[i] * NS_PER_GB / min3(share, path, s->network);
        cost += 0.5 * tr->ext_spine[i] * NS_PER_GB / min3(share, path, s->spine);
    }
    return cost;
}

static double eval(const struct search *s, const int *pos)
{
    return eval_partial(s, pos, s->n);
}

/* Candidates a and b are interchangeable when swapping them changes no
 * cost: same paths to every other candidate and to their NIC, and the same
 * NIC or each its own. The exact search tries one of each class per level. */
static int interchangeable(const struct search *s, int a, int b)
{
    if (s->path[a] != s->path[b])
        return 0;
    for (int x = 0; x < s->m; x++)
        if (x != a && x != b && s->cpb[a * s->m + x] != s->cpb[b * s->m + x])
            return 0;
    if (s->nic[a] == s->nic[b])
        return 1;
    for (int x = 0; x < s->m; x++)
        if (x != a && x != b && (s->nic[x] == s->nic[a] || s->nic[x] == s->nic[b]))
            return 0;
    return 1;
}

static void set_classes(struct search *s)
{
    for (int a = 0; a < s->m; a++) {
        s->cls[a] = a;
        for (int b = 0; b < a; b++)
            if (s->cls[b] == b && interchangeable(s, a, b)) {
                s->cls[a] = b;
                break;
            }
    }
}

static int search_init(struct search *s, const plait_node_job_t *job, const struct traffic *tr)
{
    const plait_topology_t *t = job->topo;
    memset(s, 0, sizeof(*s));
    s->tr = tr;
    s->n = job->nlocal;
    s->m = job->ngpus;
    s->nnics = t->nnics;
    s->network = job->cost->gbps[PLAIT_LINK_NETWORK];
    s->spine = job->cost->gbps[PLAIT_LINK_SPINE];
    s->cpb = malloc(sizeof(double) * (size_t)s->m * (size_t)s->m);
    s->nic = malloc(sizeof(int) * (size_t)s->m);
    s->path = malloc(sizeof(double) * (size_t)s->m);
    s->count = malloc(sizeof(int) * (size_t)(s->nnics + 1));
    s->cls = malloc(sizeof(int) * (size_t)(s->m ? s->m : 1));
    if (!s->cpb || !s->nic || !s->path || !s->count || !s->cls)
        return -1;
    for (int a = 0; a < s->m; a++) {
        int g = job->gpus[a];
        for (int b = 0; b < s->m; b++)
            s->cpb[a * s->m + b] =
                a == b ? 0 : NS_PER_GB / link_gbps(t, job->cost, g, job->gpus[b]);
        s->nic[a] = t->gpu[g].nic;
        s->path[a] = s->nic[a] >= 0 ? job->cost->gbps[t->gpu_nic_link[g][s->nic[a]]] : 1e30;
    }
    set_classes(s);
    return 0;
}

static void search_free(struct search *s)
{
    free(s->cpb);
    free(s->nic);
    free(s->path);
    free(s->count);
    free(s->cls);
}

static int better(double a, double b)
{
    return a < b - 1e-12 * (b > 0 ? b : -b);
}

static int lex_less(const int *a, const int *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i];
    return 0;
}

/* Is (c, pos) better than (best, bpos)? Cost first; among equal costs the
 * lexicographically smaller assignment, so that ties resolve the same way
 * whatever the search order (and close to block order). */
static int better_pos(double c, const int *pos, double best, const int *bpos, int n)
{
    if (better(c, best))
        return 1;
    return !better(best, c) && lex_less(pos, bpos, n);
}

/* Best-improvement swaps of two tasks and moves to a free GPU. */
static double local_search(const struct search *s, int *pos, int *used)
{
    int n = s->n;
    int *bpos = malloc(sizeof(int) * (size_t)n);
    double cur = eval(s, pos);
    if (!bpos)
        return cur;
    for (int iter = 0; iter < 10000; iter++) {
        double best = cur;
        memcpy(bpos, pos, sizeof(int) * (size_t)n);
        int bi = -1, bj = -1, bfree = -1;
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                int t = pos[i];
                pos[i] = pos[j];
                pos[j] = t;
                double c = eval(s, pos);
                if (better(c, cur) && better_pos(c, pos, best, bpos, n)) {
                    best = c;
                    memcpy(bpos, pos, sizeof(int) * (size_t)n);
                    bi = i;
                    bj = j;
                    bfree = -1;
                }
                pos[j] = pos[i];
                pos[i] = t;
            }
            for (int f = 0; f < s->m; f++) {
                if (used[f])
                    continue;
                int t = pos[i];
                pos[i] = f;
                double c = eval(s, pos);
                if (better(c, cur) && better_pos(c, pos, best, bpos, n)) {
                    best = c;
                    memcpy(bpos, pos, sizeof(int) * (size_t)n);
                    bi = i;
                    bj = -1;
                    bfree = f;
                }
                pos[i] = t;
            }
        }
        if (bi < 0)
            break;
        if (bj >= 0) {
            int t = pos[bi];
            pos[bi] = pos[bj];
            pos[bj] = t;
        } else {
            used[pos[bi]] = 0;
            pos[bi] = bfree;
            used[bfree] = 1;
        }
        cur = best;
    }
    free(bpos);
    return cur;
}

/* Place the task most connected to those placed on the GPU that adds least. */
static void greedy(const struct search *s, int *pos, int *used)
{
    const struct traffic *tr = s->tr;
    int *placed = calloc((size_t)s->n, sizeof(int));
    if (!placed) {
        for (int i = 0; i < s->n; i++) {
            pos[i] = i;
            used[i] = 1;
        }
        return;
    }
    for (int step = 0; step < s->n; step++) {
        int bi = -1;
        double bconn = -1, btotal = -1;
        for (int i = 0; i < s->n; i++) {
            if (placed[i])
                continue;
            double conn = 0, total = tr->ext_leaf[i] + tr->ext_spine[i];
            for (int j = 0; j < s->n; j++) {
                total += tr->w[i * s->n + j];
                if (placed[j])
                    conn += tr->w[i * s->n + j];
            }
            if (conn > bconn || (conn == bconn && total > btotal)) {
                bi = i;
                bconn = conn;
                btotal = total;
            }
        }
        int bf = -1;
        double bcost = 0;
        double ext = tr->ext_leaf[bi] + tr->ext_spine[bi];
        for (int f = 0; f < s->m; f++) {
            if (used[f])
                continue;
            double c = 0;
            for (int j = 0; j < s->n; j++)
                if (placed[j])
                    c += tr->w[bi * s->n + j] * s->cpb[f * s->m + pos[j]];
            if (ext > 0) {
                int share = 1;
                for (int j = 0; j < s->n; j++)
                    if (placed[j] && s->nic[pos[j]] == s->nic[f] && s->nic[f] >= 0 &&
                        tr->ext_leaf[j] + tr->ext_spine[j] > 0)
                        share++;
                c += ext * NS_PER_GB / min3(s->network / share, s->path[f], s->network);
            }
            if (bf < 0 || better(c, bcost)) {
                bf = f;
                bcost = c;
            }
        }
        pos[bi] = bf;
        used[bf] = 1;
        placed[bi] = 1;
    }
    free(placed);
}

/* ---- Cores and NICs ---------------------------------------------------- */

static int core_allowed(const plait_topology_t *t, int c, const plait_cpus_t *allowed)
{
    if (!allowed)
        return 1;
    for (int k = 0; k < t->cores[c].npus; k++)
        if (plait_cpus_isset(allowed, t->cores[c].pu[k]))
            return 1;
    return 0;
}

static void give_cores(const plait_topology_t *t, const plait_cpus_t *allowed, const int *cores,
                       int ncores, plait_task_t **tasks, int k)
{
    for (int j = 0; j < k; j++) {
        int lo, hi;
        if (ncores >= k) {
            lo = (int)((long)j * ncores / k);
            hi = (int)((long)(j + 1) * ncores / k);
        } else {
            lo = (int)((long)j * ncores / k);
            hi = lo + 1;
        }
        plait_cpus_zero(&tasks[j]->cpus);
        for (int c = lo; c < hi; c++)
            for (int p = 0; p < t->cores[cores[c]].npus; p++) {
                int pu = t->cores[cores[c]].pu[p];
                if (!allowed || plait_cpus_isset(allowed, pu))
                    plait_cpus_set(&tasks[j]->cpus, pu);
            }
    }
}

/* Each task's candidate cores: the allowed cores local to its GPU, else in
 * its GPU's package, else all allowed cores; tasks with the same candidates
 * split them evenly, in GPU order. Tasks without GPUs split all of them. */
static int assign_cpus(const plait_node_job_t *job, plait_task_t *tasks)
{
    const plait_topology_t *t = job->topo;
    int n = job->nlocal;
    int *all = malloc(sizeof(int) * (size_t)t->ncores);
    int *cand = malloc(sizeof(int) * (size_t)t->ncores * (size_t)(n ? n : 1));
    int *ncand = calloc((size_t)(n ? n : 1), sizeof(int));
    int *done = calloc((size_t)(n ? n : 1), sizeof(int));
    plait_task_t **group = malloc(sizeof(*group) * (size_t)(n ? n : 1));
    int *order = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *use = malloc(sizeof(int) * (size_t)t->ncores);
    char *taken = calloc((size_t)t->ncores, 1);
    int nall = 0, rc = -1;
    if (!all || !cand || !ncand || !done || !group || !order || !use || !taken)
        goto out;
    for (int c = 0; c < t->ncores; c++)
        if (core_allowed(t, c, job->allowed))
            all[nall++] = c;
    for (int i = 0; i < n; i++) {
        int *mine = cand + (size_t)i * (size_t)t->ncores;
        int g = tasks[i].gpu;
        if (g >= 0) {
            const struct plait_pci *pci = &t->gpu[g].pci;
            for (int k = 0; k < nall; k++)
                if (plait_cpus_isset(&pci->cpus, t->cores[all[k]].pu[0]))
                    mine[ncand[i]++] = all[k];
            for (int k = 0; !ncand[i] && pci->package >= 0 && k < nall; k++)
                if (t->cores[all[k]].package == pci->package)
                    mine[ncand[i]++] = all[k];
        }
        if (!ncand[i]) {
            memcpy(mine, all, sizeof(int) * (size_t)nall);
            ncand[i] = nall;
        }
    }
    /* Groups in GPU order; a group short of cores for its tasks widens to
     * the nearest cores no other group took, rather than sharing one. */
    for (int a = 0; a < n; a++)
        order[a] = a;
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && tasks[order[b - 1]].gpu > tasks[order[b]].gpu; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int o = 0; o < n; o++) {
        int i = order[o];
        if (done[i])
            continue;
        int k = 0;
        const int *mine = cand + (size_t)i * (size_t)t->ncores;
        for (int p = o; p < n; p++) {
            int j = order[p];
            if (!done[j] && ncand[j] == ncand[i] &&
                !memcmp(cand + (size_t)j * (size_t)t->ncores, mine,
                        sizeof(int) * (size_t)ncand[i])) {
                group[k++] = &tasks[j];
                done[j] = 1;
            }
        }
        int nuse = 0;
        for (int c = 0; c < ncand[i]; c++)
            if (!taken[mine[c]])
                use[nuse++] = mine[c];
        int pkg = tasks[i].gpu >= 0 ? t->gpu[tasks[i].gpu].pci.package : -1;
        for (int pass = 0; pass < 2 && nuse < k; pass++)
            for (int c = 0; c < nall && nuse < k; c++) {
                int core = all[c], dup = 0;
                if (taken[core] || (pass == 0 && (pkg < 0 || t->cores[core].package != pkg)))
                    continue;
                for (int u = 0; u < nuse && !dup; u++)
                    dup = use[u] == core;
                if (!dup)
                    use[nuse++] = core;
            }
        if (!nuse) /* every allowed core taken: share this group's own */
            for (int c = 0; c < ncand[i]; c++)
                use[nuse++] = mine[c];
        for (int a = 1; a < nuse; a++)
            for (int b = a; b > 0 && use[b - 1] > use[b]; b--) {
                int tmp = use[b];
                use[b] = use[b - 1];
                use[b - 1] = tmp;
            }
        for (int u = 0; u < nuse; u++)
            taken[use[u]] = 1;
        if (nuse)
            give_cores(t, job->allowed, use, nuse, group, k);
    }
    rc = 0;
out:
    free(all);
    free(cand);
    free(ncand);
    free(done);
    free(group);
    free(order);
    free(use);
    free(taken);
    return rc;
}

static int task_package(const plait_topology_t *t, const plait_task_t *task)
{
    if (task->gpu >= 0)
        return t->gpu[task->gpu].pci.package;
    for (int c = 0; c < t->ncores; c++)
        if (plait_cpus_isset(&task->cpus, t->cores[c].pu[0]))
            return t->cores[c].package;
    return -1;
}

static enum plait_link package_link(int a, int b)
{
    return a == b ? PLAIT_LINK_SOCKET : PLAIT_LINK_INTER_SOCKET;
}

/* Tasks without GPUs: the NIC in their package, least used first. */
static void assign_cpu_nics(const plait_topology_t *t, plait_task_t *tasks, int n)
{
    int load[PLAIT_MAX_NICS] = {0};
    for (int i = 0; i < n; i++) {
        int pkg = task_package(t, &tasks[i]);
        int best = -1;
        for (int k = 0; k < t->nnics; k++) {
            if (best < 0) {
                best = k;
                continue;
            }
            enum plait_link lk = package_link(pkg, t->nic[k].pci.package);
            enum plait_link lb = package_link(pkg, t->nic[best].pci.package);
            if (lk != lb) {
                if (lk < lb)
                    best = k;
            } else if (load[k] != load[best]) {
                if (load[k] < load[best])
                    best = k;
            } else if (t->nic[k].rdma > t->nic[best].rdma) {
                best = k;
            }
        }
        tasks[i].nic = best;
        if (best >= 0)
            load[best]++;
    }
}

/* Cost of a placement of tasks without GPUs: by their packages. */
static double cpu_cost(const plait_node_job_t *job, const struct traffic *tr,
                       const plait_task_t *tasks)
{
    const plait_topology_t *t = job->topo;
    const plait_cost_t *c = job->cost;
    int n = job->nlocal;
    double cost = 0;
    int count[PLAIT_MAX_NICS + 1] = {0};
    int *pkg = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!pkg)
        return 0;
    for (int i = 0; i < n; i++)
        pkg[i] = task_package(t, &tasks[i]);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (tr->w[i * n + j] > 0)
                cost += tr->w[i * n + j] * NS_PER_GB / c->gbps[package_link(pkg[i], pkg[j])];
    for (int i = 0; i < n; i++)
        if (tr->ext_leaf[i] + tr->ext_spine[i] > 0)
            count[tasks[i].nic + 1]++;
    for (int i = 0; i < n; i++) {
        if (tr->ext_leaf[i] + tr->ext_spine[i] <= 0)
            continue;
        int k = tasks[i].nic;
        double share = c->gbps[PLAIT_LINK_NETWORK] / (k >= 0 ? count[k + 1] : 1);
        double path = k >= 0 ? c->gbps[package_link(pkg[i], t->nic[k].pci.package)] : 1e30;
        cost += 0.5 * tr->ext_leaf[i] * NS_PER_GB / min3(share, path, c->gbps[PLAIT_LINK_NETWORK]);
        cost += 0.5 * tr->ext_spine[i] * NS_PER_GB / min3(share, path, c->gbps[PLAIT_LINK_SPINE]);
    }
    free(pkg);
    return cost;
}

/* ---- Checks ------------------------------------------------------------ */

static int check_job(const plait_node_job_t *job, char *err, size_t errlen)
{
    const plait_layout_t *l = &job->layout;
    if (l->dp < 1 || l->tp < 1 || l->pp < 1) {
        snprintf(err, errlen, "layout not resolved");
        return -1;
    }
    long world = (long)l->dp * l->tp * l->pp;
    if (job->nlocal < 1) {
        snprintf(err, errlen, "no tasks on this node");
        return -1;
    }
    for (int i = 0; i < job->nlocal; i++) {
        if (job->ranks[i] < 0 || job->ranks[i] >= world ||
            (i && job->ranks[i] <= job->ranks[i - 1])) {
            snprintf(err, errlen, "rank %d out of order or beyond dp*tp*pp = %ld", job->ranks[i],
                     world);
            return -1;
        }
    }
    /* Every tensor-parallel group whole on this node. */
    for (int i = 0; i < job->nlocal; i++) {
        int first = job->ranks[i] - job->ranks[i] % l->tp;
        for (int r = first; r < first + l->tp; r++)
            if (local_index(job, r) < 0) {
                snprintf(err, errlen,
                         "the tensor-parallel group of rank %d (ranks %d-%d) is split across "
                         "nodes (expected every node's task count to be a multiple of tp=%d)",
                         job->ranks[i], first, first + l->tp - 1, l->tp);
                return -1;
            }
    }
    if (job->placement != PLAIT_PLACE_NONE && job->ngpus > 0) {
        if (job->nlocal > job->ngpus) {
            snprintf(err, errlen,
                     "%d tasks on this node but the job has %d GPUs here (expected at most one "
                     "task per GPU)",
                     job->nlocal, job->ngpus);
            return -1;
        }
        for (int a = 0; a < job->ngpus; a++) {
            if (job->gpus[a] < 0 || job->gpus[a] >= job->topo->ngpus) {
                snprintf(err, errlen, "GPU %d is not in the topology %s, which has %d GPUs",
                         job->gpus[a], job->topo->source, job->topo->ngpus);
                return -1;
            }
            for (int b = 0; b < a; b++)
                if (job->gpus[a] == job->gpus[b]) {
                    snprintf(err, errlen, "GPU %d listed twice", job->gpus[a]);
                    return -1;
                }
        }
    }
    return 0;
}

/* ---- Entry points ------------------------------------------------------ */

static void fill_coords(const plait_node_job_t *job, plait_task_t *tasks)
{
    for (int i = 0; i < job->nlocal; i++) {
        memset(&tasks[i], 0, sizeof(tasks[i]));
        tasks[i].rank = job->ranks[i];
        tasks[i].local_rank = i;
        plait_rank_coords(&job->layout, job->ranks[i], &tasks[i].dp, &tasks[i].tp, &tasks[i].pp);
        tasks[i].gpu = -1;
        tasks[i].nic = -1;
    }
}

double plait_node_cost(const plait_node_job_t *job, const int *gpu_of)
{
    struct traffic tr;
    struct search s;
    if (build_traffic(job, &tr))
        return -1;
    double cost = -1;
    int *pos = malloc(sizeof(int) * (size_t)(job->nlocal ? job->nlocal : 1));
    if (pos && !search_init(&s, job, &tr)) {
        int ok = 1;
        for (int i = 0; i < job->nlocal && ok; i++) {
            pos[i] = -1;
            for (int a = 0; a < job->ngpus; a++)
                if (job->gpus[a] == gpu_of[i])
                    pos[i] = a;
            ok = pos[i] >= 0;
        }
        if (ok)
            cost = eval(&s, pos);
    }
    if (pos)
        search_free(&s);
    free(pos);
    traffic_free(&tr);
    return cost;
}

/* Exact search for small nodes: depth-first in task order (so the first
 * optimum found is the lexicographically smallest), pruned by the partial
 * cost against the heuristic's answer. */
#define EXACT_MAX_LEAVES 40320 /* 8 tasks on 8 GPUs */

static void branch(const struct search *s, int k, int *pos, int *used, int *best, double *bcost)
{
    if (k > 0) {
        double part = eval_partial(s, pos, k);
        if (better(*bcost, part))
            return;
        if (k == s->n) {
            if (better_pos(part, pos, *bcost, best, s->n)) {
                *bcost = part;
                memcpy(best, pos, sizeof(int) * (size_t)s->n);
            }
            return;
        }
    }
    for (int f = 0; f < s->m; f++) {
        if (used[f])
            continue;
        int twin = 0;
        for (int g = 0; g < f && !twin; g++)
            twin = !used[g] && s->cls[g] == s->cls[f];
        if (twin)
            continue;
        used[f] = 1;
        pos[k] = f;
        branch(s, k + 1, pos, used, best, bcost);
        used[f] = 0;
    }
}

static int exact_feasible(int n, int m)
{
    long leaves = 1;
    for (int k = 0; k < n; k++) {
        leaves *= m - k;
        if (leaves > EXACT_MAX_LEAVES)
            return 0;
    }
    return 1;
}

/* The best of block order and greedy, each improved by local search. */
static int choose_gpus(const plait_node_job_t *job, const struct traffic *tr, int *pos,
                       double *cost)
{
    struct search s;
    int n = job->nlocal, m = job->ngpus, rc = -1;
    int *p2 = malloc(sizeof(int) * (size_t)n);
    int *used = calloc((size_t)m, sizeof(int));
    int *used2 = calloc((size_t)m, sizeof(int));
    if (!p2 || !used || !used2 || search_init(&s, job, tr))
        goto out;
    for (int i = 0; i < n; i++) {
        pos[i] = i;
        used[i] = 1;
    }
    if (job->placement == PLAIT_PLACE_BLOCK) {
        *cost = eval(&s, pos);
    } else {
        double c1 = local_search(&s, pos, used);
        greedy(&s, p2, used2);
        double c2 = local_search(&s, p2, used2);
        if (better_pos(c2, p2, c1, pos, n)) {
            memcpy(pos, p2, sizeof(int) * (size_t)n);
            c1 = c2;
        }
        if (exact_feasible(n, m)) {
            int *scratch = malloc(sizeof(int) * (size_t)n);
            int *free_gpus = calloc((size_t)m, sizeof(int));
            if (scratch && free_gpus)
                branch(&s, 0, scratch, free_gpus, pos, &c1);
            free(scratch);
            free(free_gpus);
        }
        *cost = c1;
    }
    rc = 0;
out:
    if (p2 && used && used2)
        search_free(&s);
    free(p2);
    free(used);
    free(used2);
    return rc;
}

static int place_with_traffic(const plait_node_job_t *job, const struct traffic *tr,
                              plait_task_t *tasks, double *cost, char *err, size_t errlen)
{
    double c = 0;
    fill_coords(job, tasks);
    if (job->placement == PLAIT_PLACE_NONE) {
        if (cost)
            *cost = 0;
        return 0;
    }
    if (job->ngpus > 0) {
        int *pos = malloc(sizeof(int) * (size_t)job->nlocal);
        if (!pos || choose_gpus(job, tr, pos, &c)) {
            free(pos);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int i = 0; i < job->nlocal; i++) {
            tasks[i].gpu = job->gpus[pos[i]];
            tasks[i].nic = job->topo->gpu[tasks[i].gpu].nic;
        }
        free(pos);
    }
    if (assign_cpus(job, tasks)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (job->ngpus == 0) {
        assign_cpu_nics(job->topo, tasks, job->nlocal);
        c = cpu_cost(job, tr, tasks);
    }
    if (cost)
        *cost = c;
    return 0;
}

int plait_place_node(const plait_node_job_t *job, plait_task_t *tasks, double *cost, char *err,
                     size_t errlen)
{
    if (check_job(job, err, errlen))
        return -1;
    struct traffic tr;
    if (build_traffic(job, &tr)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = place_with_traffic(job, &tr, tasks, cost, err, errlen);
    traffic_free(&tr);
    return rc;
}

static void exhaust(const struct search *s, int depth, int *pos, int *used, int *best,
                    double *bcost, long *evals, long max)
{
    if (*evals > max)
        return;
    if (depth == s->n) {
        (*evals)++;
        double c = eval(s, pos);
        if (*bcost < 0 || better_pos(c, pos, *bcost, best, s->n)) {
            *bcost = c;
            memcpy(best, pos, sizeof(int) * (size_t)s->n);
        }
        return;
    }
    for (int f = 0; f < s->m; f++) {
        if (used[f])
            continue;
        used[f] = 1;
        pos[depth] = f;
        exhaust(s, depth + 1, pos, used, best, bcost, evals, max);
        used[f] = 0;
    }
}

int plait_place_node_exhaustive(const plait_node_job_t *job, long max_evals, int *gpu_of,
                                double *cost)
{
    long need = 1;
    for (int k = 0; k < job->nlocal; k++) {
        need *= job->ngpus - k;
        if (need > max_evals || need <= 0)
            return -1;
    }
    struct traffic tr;
    struct search s;
    if (build_traffic(&(*job), &tr))
        return -1;
    int n = job->nlocal, rc = -1;
    int *pos = malloc(sizeof(int) * (size_t)n), *best = malloc(sizeof(int) * (size_t)n);
    int *used = calloc((size_t)job->ngpus, sizeof(int));
    if (pos && best && used && !search_init(&s, job, &tr)) {
        long evals = 0;
        double bcost = -1;
        exhaust(&s, 0, pos, used, best, &bcost, &evals, max_evals);
        for (int i = 0; i < n; i++)
            gpu_of[i] = job->gpus[best[i]];
        *cost = bcost;
        rc = 0;
        search_free(&s);
    }
    free(pos);
    free(best);
    free(used);
    traffic_free(&tr);
    return rc;
}

/* ---- A whole job ------------------------------------------------------- */

struct leaf_ctx {
    const int *leaf_of_node;
    int tasks_per_node;
};

static int job_same_leaf(void *ctx, int a, int b)
{
    const struct leaf_ctx *l = ctx;
    return l->leaf_of_node[a / l->tasks_per_node] == l->leaf_of_node[b / l->tasks_per_node];
}

struct cached {
    struct traffic tr;
    plait_task_t *tasks;
    double cost;
};

static int same_traffic(const struct traffic *a, const struct traffic *b)
{
    size_t n = (size_t)a->n;
    return a->n == b->n && !memcmp(a->w, b->w, sizeof(double) * n * n) &&
           !memcmp(a->ext_leaf, b->ext_leaf, sizeof(double) * n) &&
           !memcmp(a->ext_spine, b->ext_spine, sizeof(double) * n);
}

int plait_place_job(const plait_job_t *job, plait_task_t *tasks, double *cost, char *err,
                    size_t errlen)
{
    const plait_layout_t *l = &job->layout;
    long world = (long)l->dp * l->tp * l->pp;
    int tpn = job->tasks_per_node;
    if (job->nnodes < 1 || tpn < 1 || (long)job->nnodes * tpn != world) {
        snprintf(err, errlen,
                 "%d nodes x %d tasks = %ld tasks but dp*tp*pp = %ld (expected them equal)",
                 job->nnodes, tpn, (long)job->nnodes * tpn, world);
        return -1;
    }
    if (job->ngpus < 0 || job->ngpus > job->topo->ngpus) {
        snprintf(err, errlen, "%d GPUs per node but the topology %s has %d", job->ngpus,
                 job->topo->source, job->topo->ngpus);
        return -1;
    }
    int *ranks = malloc(sizeof(int) * (size_t)tpn);
    int *gpus = malloc(sizeof(int) * (size_t)(job->ngpus ? job->ngpus : 1));
    /* Distinct traffic patterns: a handful whatever the node count. */
    int ncache = 0, cap = 16;
    struct cached *cache = calloc((size_t)cap, sizeof(*cache));
    int rc = -1;
    double total = 0;
    if (!ranks || !gpus || !cache) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int g = 0; g < job->ngpus; g++)
        gpus[g] = g;
    struct leaf_ctx lc = {job->leaf_of_node, tpn};
    plait_node_job_t nj = {
        .topo = job->topo,
        .layout = *l,
        .nlocal = tpn,
        .ranks = ranks,
        .ngpus = job->ngpus,
        .gpus = gpus,
        .allowed = NULL,
        .cost = job->cost,
        .placement = job->placement,
        .same_leaf = job->leaf_of_node ? job_same_leaf : NULL,
        .leaf_ctx = &lc,
    };
    for (int node = 0; node < job->nnodes; node++) {
        for (int i = 0; i < tpn; i++)
            ranks[i] = node * tpn + i;
        if (node == 0 && check_job(&nj, err, errlen))
            goto out;
        struct traffic tr;
        if (build_traffic(&nj, &tr)) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        int hit = -1;
        for (int k = 0; k < ncache && hit < 0; k++)
            if (same_traffic(&cache[k].tr, &tr))
                hit = k;
        plait_task_t *out = tasks + (size_t)node * (size_t)tpn;
        if (hit >= 0) {
            traffic_free(&tr);
            memcpy(out, cache[hit].tasks, sizeof(plait_task_t) * (size_t)tpn);
            for (int i = 0; i < tpn; i++) {
                out[i].rank = ranks[i];
                plait_rank_coords(l, ranks[i], &out[i].dp, &out[i].tp, &out[i].pp);
            }
            total += cache[hit].cost;
            continue;
        }
        double c;
        if (place_with_traffic(&nj, &tr, out, &c, err, errlen)) {
            traffic_free(&tr);
            goto out;
        }
        total += c;
        if (ncache == cap) {
            struct cached *bigger = realloc(cache, sizeof(*cache) * (size_t)cap * 2);
            if (!bigger) {
                traffic_free(&tr);
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            memset(bigger + cap, 0, sizeof(*cache) * (size_t)cap);
            cache = bigger;
            cap *= 2;
        }
        cache[ncache].tasks = malloc(sizeof(plait_task_t) * (size_t)tpn);
        if (!cache[ncache].tasks) {
            traffic_free(&tr);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(cache[ncache].tasks, out, sizeof(plait_task_t) * (size_t)tpn);
        cache[ncache].tr = tr;
        cache[ncache].cost = c;
        ncache++;
    }
    if (cost)
        *cost = total;
    rc = 0;
out:
    for (int k = 0; k < ncache; k++) {
        traffic_free(&cache[k].tr);
        free(cache[k].tasks);
    }
    free(cache);
    free(ranks);
    free(gpus);
    return rc;
}

int plait_placement_parse(const char *text, enum plait_placement *out)
{
    if (!strcmp(text, "topo"))
        *out = PLAIT_PLACE_TOPO;
    else if (!strcmp(text, "block"))
        *out = PLAIT_PLACE_BLOCK;
    else if (!strcmp(text, "none"))
        *out = PLAIT_PLACE_NONE;
    else
        return -1;
    return 0;
}

const char *plait_placement_name(enum plait_placement p)
{
    return p == PLAIT_PLACE_TOPO ? "topo" : p == PLAIT_PLACE_BLOCK ? "block" : "none";
}
