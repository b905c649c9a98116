/* Layout, placement and CPU-list parsing, rank coordinates. */
#include <string.h>

#include "../../plugin/placement.h"
#include "../check.h"

static void layout_ok(const char *text, int dp, int tp, int pp)
{
    plait_layout_t l;
    char err[256] = "";
    int rc = plait_layout_parse(text, &l, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s: %s", text, err);
    if (!rc)
        CHECK_MSG(l.dp == dp && l.tp == tp && l.pp == pp, "%s -> %d,%d,%d", text, l.dp, l.tp, l.pp);
}

static void layout_bad(const char *text, const char *why)
{
    plait_layout_t l;
    char err[256] = "";
    CHECK_MSG(plait_layout_parse(text, &l, err, sizeof(err)) == -1, "%s accepted", text);
    CHECK_STR_CONTAINS(err, why);
    CHECK_STR_CONTAINS(err, "expected dp=D,tp=T,pp=P");
}

static void resolve(const char *text, long ntasks, int dp, int tp, int pp, const char *why)
{
    plait_layout_t l;
    char err[256] = "";
    CHECK(plait_layout_parse(text, &l, err, sizeof(err)) == 0);
    int rc = plait_layout_resolve(&l, ntasks, err, sizeof(err));
    if (why) {
        CHECK_MSG(rc == -1, "%s with %ld tasks resolved", text, ntasks);
        CHECK_STR_CONTAINS(err, why);
    } else {
        CHECK_MSG(rc == 0 && l.dp == dp && l.tp == tp && l.pp == pp, "%s / %ld: %s", text, ntasks,
                  err);
    }
}

int main(void)
{
    layout_ok("dp=2,tp=4,pp=2", 2, 4, 2);
    layout_ok("pp=2,dp=3,tp=1", 3, 1, 2);
    layout_ok("tp=8,pp=2", 0, 8, 2);
    layout_ok("dp=4,tp=2", 4, 2, 0);
    layout_ok("dp=1048576,tp=1,pp=1", 1048576, 1, 1);
    layout_bad("", "empty");
    /* Of two left out, tp or pp is 1 (the one still left out, dp, is inferred). */
    layout_ok("tp=8", 0, 8, 1);
    layout_ok("pp=4", 0, 1, 4);
    layout_ok("dp=4", 4, 1, 1);
    layout_bad("dp=2,dp=3,tp=1", "dp given twice");
    layout_bad("xp=2,tp=2", "unknown dimension 'xp'");
    layout_bad("dp=0,tp=2", "dp='0' is not a positive integer");
    layout_bad("dp=-1,tp=2", "is not a positive integer");
    layout_bad("dp=two,tp=2", "dp='two'");
    layout_bad("dp=2,tp=", "tp='' is not a positive integer");
    layout_bad("dp=2,tp=4,", "trailing ','");
    layout_bad("dp=2;tp=4", "is not a positive integer");
    layout_bad("dp=99999999999,tp=1", "is not a positive integer");
    layout_bad("dp,tp=2", "'dp' has no value");
    layout_bad("dp=2,tp=2\n", "control character");
    layout_bad("dp=2, tp=2", "unknown dimension ' tp'");

    resolve("dp=2,tp=4,pp=2", 16, 2, 4, 2, NULL);
    resolve("dp=2,tp=4,pp=2", -1, 2, 4, 2, NULL);
    resolve("tp=4,pp=2", 16, 2, 4, 2, NULL);
    resolve("dp=2,pp=2", 16, 2, 4, 2, NULL);
    resolve("dp=2,tp=4", 16, 2, 4, 2, NULL);
    resolve("dp=3,tp=2,pp=1", 8, 0, 0, 0, "dp*tp*pp = 6 but the job has 8 tasks");
    resolve("tp=3,pp=1", 8, 0, 0, 0, "8 tasks are not a multiple of 3");
    resolve("tp=4,pp=2", -1, 0, 0, 0, "dp is left out but the number of tasks is not known");
    resolve("tp=4", 16, 4, 4, 1, NULL);
    resolve("dp=4", 16, 0, 0, 0, "dp*tp*pp = 4 but the job has 16 tasks");

    plait_layout_t l = {2, 4, 3};
    int ok = 1;
    for (int r = 0; r < 24; r++) {
        int d, t, p;
        plait_rank_coords(&l, r, &d, &t, &p);
        ok &= r == (d * 3 + p) * 4 + t && plait_coords_rank(&l, d, t, p) == r;
    }
    CHECK(ok);
    char buf[64];
    plait_layout_format(&l, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "dp=2,tp=4,pp=3");

    enum plait_placement p;
    CHECK(plait_placement_parse("topo", &p) == 0 && p == PLAIT_PLACE_TOPO);
    CHECK(plait_placement_parse("block", &p) == 0 && p == PLAIT_PLACE_BLOCK);
    CHECK(plait_placement_parse("none", &p) == 0 && p == PLAIT_PLACE_NONE);
    CHECK(plait_placement_parse("Topo", &p) == -1);
    CHECK(plait_placement_parse("", &p) == -1);

    plait_cpus_t s, s2;
    CHECK(plait_cpus_parse("0-3,8,10-11", &s) == 0);
    CHECK_INT_EQ(plait_cpus_count(&s), 7);
    plait_cpus_format(&s, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0-3,8,10-11");
    CHECK(plait_cpus_parse("", &s2) == 0 && plait_cpus_empty(&s2));
    plait_cpus_format(&s2, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "");
    CHECK(plait_cpus_parse("3-1", &s2) == -1);
    CHECK(plait_cpus_parse("1,,2", &s2) == -1);
    CHECK(plait_cpus_parse("a", &s2) == -1);
    CHECK(plait_cpus_parse("99999", &s2) == -1);
    CHECK(plait_cpus_parse("2047", &s2) == 0 && plait_cpus_isset(&s2, 2047));
    /* Truncation never overflows and reports the length needed. */
    char tiny[4];
    int need = plait_cpus_format(&s, tiny, sizeof(tiny));
    CHECK_INT_EQ(need, 11);
    CHECK_INT_EQ(strlen(tiny), 3);
    return check_status("test_layout");
}
