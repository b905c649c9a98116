/* The --plait-* values and the checks at submission: every refusal is one
 * line naming the option, the value and what is expected. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugin/request.h"
#include "../check.h"
#include "fixtures.h"

static struct plait_config cfg;

static void set_opts(const char *layout, const char *placement, const char *topology,
                     const char *dir, const char *every)
{
    free(plait_opts.layout);
    free(plait_opts.placement);
    free(plait_opts.topology);
    free(plait_opts.ckpt_dir);
    free(plait_opts.ckpt_every);
    plait_opts.layout = layout ? strdup(layout) : NULL;
    plait_opts.placement = placement ? strdup(placement) : NULL;
    plait_opts.topology = topology ? strdup(topology) : NULL;
    plait_opts.ckpt_dir = dir ? strdup(dir) : NULL;
    plait_opts.ckpt_every = every ? strdup(every) : NULL;
    plait_opts.given = 1;
}

static void parse_bad(const char *what)
{
    struct plait_request r;
    char err[1024] = "";
    CHECK_MSG(plait_request_parse(&cfg, &r, err, sizeof(err)) == -1, "accepted (%s)", what);
    CHECK_STR_CONTAINS(err, what);
    CHECK_STR_CONTAINS(err, "expected");
    CHECK(strchr(err, '\n') == NULL);
}

static int check(long ntasks, long nodes, long tpn, long gpn, const plait_topology_t *topo,
                 struct plait_request *r, char *err, size_t len)
{
    struct plait_counts c = {ntasks, nodes, tpn, gpn};
    if (plait_request_parse(&cfg, r, err, len))
        return -2;
    return plait_request_check(r, &c, topo, err, len);
}

static void check_bad(long ntasks, long nodes, long tpn, long gpn, const plait_topology_t *topo,
                      const char *why)
{
    struct plait_request r;
    char err[1024] = "";
    CHECK_MSG(check(ntasks, nodes, tpn, gpn, topo, &r, err, sizeof(err)) == -1, "accepted: %s",
              why);
    CHECK_STR_CONTAINS(err, why);
    CHECK_STR_CONTAINS(err, "expected");
}

int main(void)
{
    struct plait_request r;
    char err[1024] = "";
    plait_config_init(&cfg);

    set_opts("dp=2,tp=4,pp=2", "block", NULL, "/scratch/run1", "500");
    CHECK_MSG(plait_request_parse(&cfg, &r, err, sizeof(err)) == 0, "%s", err);
    CHECK(r.placement == PLAIT_PLACE_BLOCK && r.layout.tp == 4);
    CHECK_STR_EQ(r.ckpt_dir, "/scratch/run1");
    CHECK_STR_EQ(r.ckpt_every, "500");
    CHECK(r.topology == NULL);

    /* Defaults: the admin's placement and topology; no layout = pure DP. */
    cfg.placement = PLAIT_PLACE_NONE;
    strcpy(cfg.topology, "/etc/plait/node.xml");
    set_opts(NULL, NULL, NULL, "ckpt", "30min");
    CHECK(plait_request_parse(&cfg, &r, err, sizeof(err)) == 0);
    CHECK(r.placement == PLAIT_PLACE_NONE && r.layout.tp == 1 && r.layout.pp == 1);
    CHECK_STR_EQ(r.topology, "/etc/plait/node.xml");
    CHECK(!r.topology_from_user);
    set_opts(NULL, NULL, "mine.xml", NULL, NULL);
    CHECK(plait_request_parse(&cfg, &r, err, sizeof(err)) == 0);
    CHECK_STR_EQ(r.topology, "mine.xml");
    CHECK(r.topology_from_user);
    plait_config_init(&cfg);

    set_opts("dp=2,tp=4,pp=2,ep=2", NULL, NULL, NULL, NULL);
    parse_bad("--plait-layout=dp=2,tp=4,pp=2,ep=2: unknown dimension 'ep'");
    set_opts(NULL, "random", NULL, NULL, NULL);
    parse_bad("--plait-placement=random: expected topo, block or none");
    set_opts(NULL, NULL, "", NULL, NULL);
    parse_bad("--plait-topology=: expected the path of an hwloc XML file");
    set_opts(NULL, NULL, NULL, "a\nb", NULL);
    parse_bad("--plait-ckpt-dir=a?b: expected a directory path");
    set_opts(NULL, NULL, NULL, "", NULL);
    parse_bad("--plait-ckpt-dir=: expected a directory path");
    const char *bad_every[] = {"0",   "-5",  "10m",        "10 min", "min",
                               "1.5", "010", "1234567890", "",       "5minutes"};
    for (size_t i = 0; i < sizeof(bad_every) / sizeof(bad_every[0]); i++) {
        set_opts(NULL, NULL, NULL, NULL, bad_every[i]);
        char what[64];
        snprintf(what, sizeof(what), "--plait-ckpt-every=%s: expected N (steps) or Tmin",
                 bad_every[i]);
        parse_bad(what);
    }
    const char *good_every[] = {"1", "500", "30min", "999999999", "1min"};
    for (size_t i = 0; i < sizeof(good_every) / sizeof(good_every[0]); i++) {
        set_opts(NULL, NULL, NULL, NULL, good_every[i]);
        CHECK_MSG(plait_request_parse(&cfg, &r, err, sizeof(err)) == 0, "%s: %s", good_every[i],
                  err);
    }

    /* What sbatch knows. */
    set_opts("dp=2,tp=4,pp=2", NULL, NULL, NULL, NULL);
    CHECK(check(16, 2, 8, 8, NULL, &r, err, sizeof(err)) == 0);
    CHECK(check(-1, -1, -1, -1, NULL, &r, err, sizeof(err)) == 0);
    check_bad(12, 2, 6, 8, NULL, "--plait-layout=dp=2,tp=4,pp=2: dp*tp*pp = 16 but the job has 12");
    set_opts("tp=4,pp=2", NULL, NULL, NULL, NULL);
    CHECK(check(32, 4, 8, 8, NULL, &r, err, sizeof(err)) == 0 && r.layout.dp == 4);
    CHECK(check(-1, -1, -1, -1, NULL, &r, err, sizeof(err)) == 0 && r.layout.dp == 0);
    check_bad(12, -1, -1, -1, NULL, "12 tasks are not a multiple of 8");
    /* tp alone, as plait-run and PLAIT_LAYOUT take it: pp=1, dp inferred. */
    set_opts("tp=4", NULL, NULL, NULL, NULL);
    CHECK(check(32, 4, 8, 8, NULL, &r, err, sizeof(err)) == 0 && r.layout.dp == 8 &&
          r.layout.pp == 1);
    check_bad(10, -1, -1, -1, NULL, "--plait-layout=tp=4: 10 tasks are not a multiple of 4");
    set_opts("dp=4,tp=3", NULL, NULL, NULL, NULL);
    check_bad(24, 3, 8, 0, NULL, "tp=3 but the job has 8 tasks per node");
    CHECK(check(24, 4, 6, 0, NULL, &r, err, sizeof(err)) == 0 && r.layout.pp == 2);
    set_opts("dp=2,tp=4,pp=1", NULL, NULL, NULL, NULL);
    check_bad(16, 4, 4, 8, NULL, "dp*tp*pp = 8 but the job has 16");
    set_opts("dp=4,tp=2", NULL, NULL, NULL, NULL);
    check_bad(8, 4, 2, 1, NULL, "tp=2 but the job has 1 GPUs per node");
    set_opts("dp=2,tp=3,pp=2", NULL, NULL, NULL, NULL);
    check_bad(12, 3, 4, 8, NULL,
              "tp=3 but the job has 4 tasks per node (expected a multiple of tp");
    set_opts("dp=8,tp=2", NULL, NULL, NULL, NULL);
    check_bad(16, 1, 16, 8, NULL,
              "--plait-placement=topo: 16 tasks per node but 8 GPUs per node (expected at most");
    set_opts("dp=8,tp=2", "none", NULL, NULL, NULL);
    CHECK(check(16, 1, 16, 8, NULL, &r, err, sizeof(err)) == 0);

    /* The user's topology against the GPUs asked for. */
    const char *dgx = fixture("dgx-h100.xml", 0);
    plait_topology_t *t = NULL;
    CHECK(plait_topology_load_file(&t, dgx, err, sizeof(err)) == 0);
    set_opts("dp=2,tp=8", NULL, dgx, NULL, NULL);
    CHECK(check(16, 2, 8, 8, t, &r, err, sizeof(err)) == 0);
    set_opts("dp=2,tp=8", NULL, dgx, NULL, NULL);
    check_bad(32, 2, 16, 16, t, "describes nodes with 8 GPUs but the job asks for 16 per node");
    plait_topology_free(t);

    /* A checkpoint path that exists must be a directory. */
    set_opts(NULL, NULL, NULL, "/etc/hostname", NULL);
    check_bad(4, 1, 4, 0, NULL, "--plait-ckpt-dir=/etc/hostname: exists and is not a directory");
    set_opts(NULL, NULL, NULL, "/tmp/plait-no-such-dir/run", NULL);
    CHECK(check(4, 1, 4, 0, NULL, &r, err, sizeof(err)) == 0);

    set_opts(NULL, NULL, NULL, NULL, NULL);
    free(plait_opts.layout);
    return check_status("test_request");
}
