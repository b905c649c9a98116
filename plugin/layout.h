/* plait layouts: the dp=D,tp=T,pp=P text of --plait-layout, plait-run's
 * --layout and PLAIT_LAYOUT, and the rank order they imply. libc only: the
 * plugin, plait-topo and libplait (without the plugin) read layouts with
 * this one parser, so a layout means the same everywhere.
 *
 * Rank order (docs/contract.md): rank = (dp * PP + pp) * TP + tp. */
#ifndef PLAIT_LAYOUT_H
#define PLAIT_LAYOUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of ranks in one layout dimension and in a job. */
#define PLAIT_MAX_DIM   (1 << 20)
#define PLAIT_MAX_WORLD (1 << 24)

typedef struct plait_layout {
    int dp, tp, pp; /* 0: left out, to be inferred */
} plait_layout_t;

/* "dp=D,tp=T,pp=P" in any order. With two left out, a left-out tp or pp is
 * 1 (Megatron's defaults: "tp=8" is tp=8,pp=1 and data parallel over the
 * rest); the one still left out is inferred by plait_layout_resolve. Returns
 * 0, or -1 with a message saying what is expected. */
int plait_layout_parse(const char *text, plait_layout_t *out, char *err, size_t errlen);
/* Infers a left-out dimension from the task count and checks dp*tp*pp equals
 * it. ntasks <= 0 means unknown: only a complete layout passes then. */
int plait_layout_resolve(plait_layout_t *l, long ntasks, char *err, size_t errlen);
/* "dp=2,tp=4,pp=1" */
int plait_layout_format(const plait_layout_t *l, char *buf, size_t len);
void plait_rank_coords(const plait_layout_t *l, int rank, int *dp, int *tp, int *pp);
int plait_coords_rank(const plait_layout_t *l, int dp, int tp, int pp);

#ifdef __cplusplus
}
#endif

#endif
