/* Layouts (layout.h): the one parser of dp=D,tp=T,pp=P, and rank coordinates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define LAYOUT_EXPECTED                                                                            \
    "expected dp=D,tp=T,pp=P (positive integers, any order; one left out is inferred from the "    \
    "task count, and of two left out tp or pp is 1)"

int plait_layout_parse(const char *text, plait_layout_t *out, char *err, size_t errlen)
{
    plait_layout_t l = {0, 0, 0};
    const char *p = text;
    if (!text || !*text) {
        snprintf(err, errlen, "empty; %s", LAYOUT_EXPECTED);
        return -1;
    }
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            snprintf(err, errlen, "contains a control character; %s", LAYOUT_EXPECTED);
            return -1;
        }
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!eq || (comma && comma < eq)) {
            snprintf(err, errlen, "'%.*s' has no value; %s",
                     (int)(comma ? (size_t)(comma - p) : strlen(p)), p, LAYOUT_EXPECTED);
            return -1;
        }
        size_t klen = (size_t)(eq - p);
        int *slot = NULL;
        if (klen == 2 && !strncmp(p, "dp", 2))
            slot = &l.dp;
        else if (klen == 2 && !strncmp(p, "tp", 2))
            slot = &l.tp;
        else if (klen == 2 && !strncmp(p, "pp", 2))
            slot = &l.pp;
        if (!slot) {
            snprintf(err, errlen, "unknown dimension '%.*s'; %s", (int)klen, p, LAYOUT_EXPECTED);
            return -1;
        }
        if (*slot) {
            snprintf(err, errlen, "%.*s given twice; %s", (int)klen, p, LAYOUT_EXPECTED);
            return -1;
        }
        const char *v = eq + 1;
        char *end;
        errno = 0;
        long n = (*v >= '0' && *v <= '9') ? strtol(v, &end, 10) : (end = (char *)v, -1);
        if (end == v || (*end && *end != ',') || errno || n < 1 || n > PLAIT_MAX_DIM) {
            size_t vlen = strcspn(v, ",");
            snprintf(err, errlen, "%.*s='%.*s' is not a positive integer (at most %d); %s",
                     (int)klen, p, (int)vlen, v, PLAIT_MAX_DIM, LAYOUT_EXPECTED);
            return -1;
        }
        *slot = (int)n;
        p = end;
        if (*p == ',') {
            p++;
            if (!*p) {
                snprintf(err, errlen, "trailing ','; %s", LAYOUT_EXPECTED);
                return -1;
            }
        }
    }
    if ((!l.dp + !l.tp + !l.pp) > 1) {
        l.tp = l.tp ? l.tp : 1;
        l.pp = l.pp ? l.pp : 1;
    }
    *out = l;
    return 0;
}

int plait_layout_resolve(plait_layout_t *l, long ntasks, char *err, size_t errlen)
{
    long known = (long)(l->dp ? l->dp : 1) * (l->tp ? l->tp : 1);
    if (known > PLAIT_MAX_WORLD || known * (l->pp ? l->pp : 1) > PLAIT_MAX_WORLD) {
        snprintf(err, errlen, "dp*tp*pp exceeds %d ranks", PLAIT_MAX_WORLD);
        return -1;
    }
    known *= l->pp ? l->pp : 1;
    int *missing = !l->dp ? &l->dp : !l->tp ? &l->tp : !l->pp ? &l->pp : NULL;
    if (missing) {
        const char *name = missing == &l->dp ? "dp" : missing == &l->tp ? "tp" : "pp";
        if (ntasks <= 0) {
            snprintf(err, errlen,
                     "%s is left out but the number of tasks is not known (give all of "
                     "dp, tp and pp, or the task count)",
                     name);
            return -1;
        }
        if (ntasks % known) {
            snprintf(err, errlen,
                     "%ld tasks are not a multiple of %ld, so %s cannot be inferred (expected "
                     "the given dimensions to divide the number of tasks)",
                     ntasks, known, name);
            return -1;
        }
        *missing = (int)(ntasks / known);
        return 0;
    }
    if (ntasks > 0 && known != ntasks) {
        snprintf(err, errlen,
                 "dp*tp*pp = %ld but the job has %ld tasks (expected a product equal to the "
                 "number of tasks)",
                 known, ntasks);
        return -1;
    }
    return 0;
}

int plait_layout_format(const plait_layout_t *l, char *buf, size_t len)
{
    return snprintf(buf, len, "dp=%d,tp=%d,pp=%d", l->dp, l->tp, l->pp);
}

void plait_rank_coords(const plait_layout_t *l, int rank, int *dp, int *tp, int *pp)
{
    *tp = rank % l->tp;
    *pp = (rank / l->tp) % l->pp;
    *dp = rank / (l->tp * l->pp);
}

int plait_coords_rank(const plait_layout_t *l, int dp, int tp, int pp)
{
    return (dp * l->pp + pp) * l->tp + tp;
}
