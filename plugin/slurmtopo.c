/* Slurm's topology.conf (topology/tree): which leaf switch each node is under,
 * and Slurm's host list and tasks-per-node notations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "placement.h"

struct plait_leaves {
    int n;
    char **node;
    int *leaf;
};

#define MAX_HOSTS (1 << 20)

static int push(char ***names, int *n, int *cap, const char *name)
{
    if (*n == MAX_HOSTS)
        return -1;
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 16;
        char **bigger = realloc(*names, sizeof(char *) * (size_t)ncap);
        if (!bigger)
            return -1;
        *names = bigger;
        *cap = ncap;
    }
    if (!((*names)[*n] = strdup(name)))
        return -1;
    (*n)++;
    return 0;
}

void plait_hostlist_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* "n[1-3,7],gpu05,r[01-02]x": one bracket group per item, zero padding kept. */
int plait_hostlist_expand(const char *list, char ***names, int *n, char *err, size_t errlen)
{
    int cap = 0;
    *names = NULL;
    *n = 0;
    const char *p = list;
    while (*p) {
        const char *open = NULL, *end = p;
        while (*end && (*end != ',' || open)) {
            if (*end == '[') {
                if (open)
                    goto bad;
                open = end;
            } else if (*end == ']') {
                if (!open)
                    goto bad;
                open = NULL;
            }
            end++;
        }
        if (open || end == p)
            goto bad;
        char item[512];
        if ((size_t)(end - p) >= sizeof(item))
            goto bad;
        memcpy(item, p, (size_t)(end - p));
        item[end - p] = '\0';
        char *lb = strchr(item, '[');
        if (!lb) {
            if (push(names, n, &cap, item))
                goto bad;
        } else {
            char *rb = strchr(lb, ']');
            *lb = '\0';
            *rb = '\0';
            const char *suffix = rb + 1;
            for (char *r = lb + 1; *r;) {
                char *comma = strchr(r, ',');
                if (comma)
                    *comma = '\0';
                char *dash = strchr(r, '-');
                int width = (int)(dash ? (size_t)(dash - r) : strlen(r));
                char *e1, *e2;
                errno = 0;
                long a = strtol(r, &e1, 10), b = a;
                if (e1 == r || a < 0 || errno)
                    goto bad;
                if (dash) {
                    b = strtol(dash + 1, &e2, 10);
                    if (e2 == dash + 1 || *e2 || errno || b < a || b - a >= MAX_HOSTS)
                        goto bad;
                } else if (*e1) {
                    goto bad;
                }
                /* Counted from a: v++ past b would overflow at LONG_MAX. */
                for (long k = 0; k <= b - a; k++) {
                    char name[600];
                    snprintf(name, sizeof(name), "%s%0*ld%s", item, width, a + k, suffix);
                    if (push(names, n, &cap, name))
                        goto bad;
                }
                if (!comma)
                    break;
                r = comma + 1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
bad:
    snprintf(err, errlen, "'%s' is not a Slurm host list (expected e.g. n[1-4,7],gpu05)", list);
    plait_hostlist_free(*names, *n);
    *names = NULL;
    *n = 0;
    return -1;
}

/* "8(x2),4" -> 8,8,4 */
int plait_tasks_per_node(const char *text, int *counts, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long c = strtol(p, &end, 10), rep = 1;
        if (end == p || c < 0)
            return -1;
        p = end;
        if (!strncmp(p, "(x", 2)) {
            rep = strtol(p + 2, &end, 10);
            if (end == p + 2 || *end != ')' || rep < 1)
                return -1;
            p = end + 1;
        }
        for (long r = 0; r < rep; r++) {
            if (n == max)
                return -1;
            counts[n++] = (int)c;
        }
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

void plait_leaves_free(plait_leaves_t *l)
{
    if (!l)
        return;
    plait_hostlist_free(l->node, l->n);
    free(l->leaf);
    free(l);
}

int plait_leaves_load(plait_leaves_t **out, const char *path, char *err, size_t errlen)
{
    char *data;
    size_t len;
    *out = NULL;
    if (plait_read_file(path, 16 << 20, &data, &len, err, errlen))
        return -1;
    plait_leaves_t *l = calloc(1, sizeof(*l));
    int cap = 0, nleaf = 0, lineno = 0, rc = -1;
    if (!l) {
        snprintf(err, errlen, "out of memory");
        free(data);
        return -1;
    }
    for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *nodes = NULL;
        int is_switch = 0;
        for (char *s2 = NULL, *tok = strtok_r(line, " \t\r", &s2); tok;
             tok = strtok_r(NULL, " \t\r", &s2)) {
            if (!strncasecmp(tok, "SwitchName=", 11))
                is_switch = 1;
            else if (!strncasecmp(tok, "Nodes=", 6))
                nodes = tok + 6;
        }
        if (!is_switch || !nodes)
            continue; /* a switch of switches, or another kind of line */
        char **names;
        int n;
        char why[512];
        if (plait_hostlist_expand(nodes, &names, &n, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (l->n == cap) {
                int ncap = cap ? cap * 2 : 64;
                char **nn = realloc(l->node, sizeof(char *) * (size_t)ncap);
                int *nl = nn ? realloc(l->leaf, sizeof(int) * (size_t)ncap) : NULL;
                if (nn)
                    l->node = nn;
                if (!nn || !nl) {
                    snprintf(err, errlen, "out of memory");
                    plait_hostlist_free(names + i, n - i);
                    goto out;
                }
                l->leaf = nl;
                cap = ncap;
            }
            l->node[l->n] = names[i];
            l->leaf[l->n++] = nleaf;
        }
        free(names);
        nleaf++;
    }
    rc = 0;
    *out = l;
out:
    free(data);
    if (rc)
        plait_leaves_free(l);
    return rc;
}

int plait_leaf_of(const plait_leaves_t *l, const char *node)
{
    for (int i = 0; l && i < l->n; i++)
        if (!strcmp(l->node[i], node))
            return l->leaf[i];
    return -1;
}

static long gcd(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Units of g consecutive nodes hold whole pipelines; better orders have more
 * units under one leaf, then fewer leaf changes between neighbours (the
 * data-parallel ring runs along the pipelines). */
static void score(const int *order, const int *leaf, int nnodes, int g, long *whole, long *changes)
{
    *whole = *changes = 0;
    for (int u = 0; u < nnodes; u += g) {
        int same = 1;
        for (int k = u + 1; k < u + g; k++)
            same &= leaf[order[k]] == leaf[order[u]];
        *whole += same;
    }
    for (int k = 1; k < nnodes; k++)
        *changes += leaf[order[k]] != leaf[order[k - 1]];
}

/* qsort_r's context is not const. */
struct by_leaf {
    const int *leaf;
};

/* Node indices grouped by leaf, each group in Slurm's order. */
static int cmp_leaf(const void *a, const void *b, void *ctx)
{
    const int *leaf = ((const struct by_leaf *)ctx)->leaf;
    int x = *(const int *)a, y = *(const int *)b;
    if (leaf[x] != leaf[y])
        return leaf[x] < leaf[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Groups' starts in `sorted`, by their first node in Slurm's order. */
static int cmp_start(const void *a, const void *b, void *ctx)
{
    const int *sorted = ctx;
    int x = sorted[*(const int *)a], y = sorted[*(const int *)b];
    return (x > y) - (x < y);
}

int plait_leaf_order(const plait_layout_t *l, int nnodes, const int *tasks, const int *leaf,
                     int *order)
{
    for (int k = 0; k < nnodes; k++)
        order[k] = k;
    long pipeline = (long)l->tp * l->pp;
    if (nnodes < 2 || tasks[0] < 1 || pipeline < 1)
        return 0;
    for (int k = 0; k < nnodes; k++)
        if (leaf[k] < 0 || tasks[k] != tasks[0])
            return 0;
    long g = pipeline / gcd(pipeline, tasks[0]);
    if (g > nnodes || nnodes % g)
        return 0;
    size_t n = (size_t)nnodes;
    int *sorted = malloc(sizeof(int) * n), *start = malloc(sizeof(int) * (n + 1));
    int *cand = malloc(sizeof(int) * n);
    int better = 0;
    if (!sorted || !start || !cand)
        goto out;
    memcpy(sorted, order, sizeof(int) * n);
    struct by_leaf bl = {leaf};
    qsort_r(sorted, n, sizeof(int), cmp_leaf, &bl);
    int ngroups = 0;
    for (int k = 0; k < nnodes; k++)
        if (!k || leaf[sorted[k]] != leaf[sorted[k - 1]])
            start[ngroups++] = k;
    qsort_r(start, (size_t)ngroups, sizeof(int), cmp_start, sorted);
    /* Each leaf fills whole units with its nodes; the nodes left over follow,
     * leaf by leaf. */
    int m = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ngroups; i++) {
            int from = start[i], to = from;
            while (to < nnodes && leaf[sorted[to]] == leaf[sorted[from]])
                to++;
            int whole = (int)((to - from) / g * g);
            for (int k = pass ? from + whole : from; k < (pass ? to : from + whole); k++)
                cand[m++] = sorted[k];
        }
    long w0, c0, w1, c1;
    score(order, leaf, nnodes, (int)g, &w0, &c0);
    score(cand, leaf, nnodes, (int)g, &w1, &c1);
    better = w1 > w0 || (w1 == w0 && c1 < c0);
    if (better)
        memcpy(order, cand, sizeof(int) * n);
out:
    free(sorted);
    free(start);
    free(cand);
    return better;
}

void plait_order_first_rank(int nnodes, const int *tasks, const int *order, long *first)
{
    long r = 0;
    for (int k = 0; k < nnodes; k++) {
        first[order[k]] = r;
        r += tasks[order[k]];
    }
}
