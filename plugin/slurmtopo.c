/* Slurm's topology.conf (topology/tree): which leaf switch each node is under,
 * and Slurm's host list and tasks-per-node notations. */
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
                long a = strtol(r, &e1, 10), b = a;
                if (e1 == r || a < 0)
                    goto bad;
                if (dash) {
                    b = strtol(dash + 1, &e2, 10);
                    if (e2 == dash + 1 || *e2 || b < a || b - a >= MAX_HOSTS)
                        goto bad;
                } else if (*e1) {
                    goto bad;
                }
                for (long v = a; v <= b; v++) {
                    char name[600];
                    snprintf(name, sizeof(name), "%s%0*ld%s", item, width, v, suffix);
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
