/* CPU sets: a fixed bitmap of OS CPU numbers, cheap to copy and compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"

void plait_cpus_zero(plait_cpus_t *s)
{
    memset(s, 0, sizeof(*s));
}

void plait_cpus_set(plait_cpus_t *s, int cpu)
{
    if (cpu >= 0 && cpu < PLAIT_MAX_CPUS)
        s->w[cpu / 64] |= (uint64_t)1 << (cpu % 64);
}

int plait_cpus_isset(const plait_cpus_t *s, int cpu)
{
    return cpu >= 0 && cpu < PLAIT_MAX_CPUS && ((s->w[cpu / 64] >> (cpu % 64)) & 1);
}

int plait_cpus_count(const plait_cpus_t *s)
{
    int n = 0;
    for (size_t i = 0; i < sizeof(s->w) / sizeof(s->w[0]); i++)
        n += __builtin_popcountll(s->w[i]);
    return n;
}

int plait_cpus_empty(const plait_cpus_t *s)
{
    for (size_t i = 0; i < sizeof(s->w) / sizeof(s->w[0]); i++)
        if (s->w[i])
            return 0;
    return 1;
}

void plait_cpus_and(plait_cpus_t *dst, const plait_cpus_t *a, const plait_cpus_t *b)
{
    for (size_t i = 0; i < sizeof(dst->w) / sizeof(dst->w[0]); i++)
        dst->w[i] = a->w[i] & b->w[i];
}

void plait_cpus_or(plait_cpus_t *dst, const plait_cpus_t *a, const plait_cpus_t *b)
{
    for (size_t i = 0; i < sizeof(dst->w) / sizeof(dst->w[0]); i++)
        dst->w[i] = a->w[i] | b->w[i];
}

int plait_cpus_equal(const plait_cpus_t *a, const plait_cpus_t *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

int plait_cpus_format(const plait_cpus_t *s, char *buf, size_t len)
{
    size_t used = 0;
    int first = 1;
    if (len)
        buf[0] = '\0';
    for (int c = 0; c < PLAIT_MAX_CPUS; c++) {
        if (!plait_cpus_isset(s, c))
            continue;
        int end = c;
        while (end + 1 < PLAIT_MAX_CPUS && plait_cpus_isset(s, end + 1))
            end++;
        char part[32];
        int n = end == c ? snprintf(part, sizeof(part), "%s%d", first ? "" : ",", c)
                         : snprintf(part, sizeof(part), "%s%d-%d", first ? "" : ",", c, end);
        if (used < len)
            snprintf(buf + used, len - used, "%s", part);
        used += (size_t)n;
        first = 0;
        c = end;
    }
    return (int)used;
}

static int parse_num(const char **p, long *out)
{
    char *end;
    if (**p < '0' || **p > '9')
        return -1;
    long v = strtol(*p, &end, 10);
    if (v < 0 || v >= PLAIT_MAX_CPUS)
        return -1;
    *out = v;
    *p = end;
    return 0;
}

int plait_cpus_parse(const char *text, plait_cpus_t *s)
{
    plait_cpus_zero(s);
    const char *p = text;
    if (!*p)
        return 0;
    for (;;) {
        long a, b;
        if (parse_num(&p, &a))
            return -1;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_num(&p, &b) || b < a)
                return -1;
        }
        for (long c = a; c <= b; c++)
            plait_cpus_set(s, (int)c);
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return -1;
        p++;
    }
}
