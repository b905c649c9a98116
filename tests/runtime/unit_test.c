/* Single-process pieces of the runtime: layouts, placement from the
 * environment, bf16 rounding, reductions, and a job of one. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "tests/check.h"

static void test_layout(void)
{
    int dp, tp, pp;
    char err[256];
    CHECK_INT_EQ(plait_layout_for_world("dp=2,tp=2,pp=2", 8, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_OK);
    CHECK(dp == 2 && tp == 2 && pp == 2);
    CHECK_INT_EQ(plait_layout_for_world(NULL, 6, &dp, &tp, &pp, err, sizeof err), PLAIT_OK);
    CHECK(dp == 6 && tp == 1 && pp == 1);
    CHECK_INT_EQ(plait_layout_for_world("tp=4", 8, &dp, &tp, &pp, err, sizeof err), PLAIT_OK);
    CHECK(dp == 2 && tp == 4 && pp == 1);
    CHECK_INT_EQ(plait_layout_for_world("pp=2,dp=3", 12, &dp, &tp, &pp, err, sizeof err), PLAIT_OK);
    CHECK(dp == 3 && tp == 2 && pp == 2);
    /* The plugin's rules (plugin/layout.h): of two left out, tp or pp is 1. */
    CHECK_INT_EQ(plait_layout_for_world("pp=2", 8, &dp, &tp, &pp, err, sizeof err), PLAIT_OK);
    CHECK(dp == 4 && tp == 1 && pp == 2);
    CHECK_INT_EQ(plait_layout_for_world("dp=2", 8, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "layout 'dp=2': dp*tp*pp = 2 but the job has 8 tasks");
    CHECK_INT_EQ(plait_layout_for_world("tp=3", 8, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "layout 'tp=3': 8 tasks are not a multiple of 3");
    CHECK_INT_EQ(plait_layout_for_world("dp=2,xx=1", 2, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "layout 'dp=2,xx=1': unknown dimension 'xx'; expected dp=D,tp=T,pp=P");
    CHECK_INT_EQ(plait_layout_for_world("dp=0", 2, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_ERR_INVALID);
    /* Found by fuzz_env: two sizes of 2^20 overflowed an int product. */
    CHECK_INT_EQ(plait_layout_for_world("dp=1048576,pp=1048576", 4, &dp, &tp, &pp, err, sizeof err),
                 PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "dp*tp*pp exceeds 16777216 ranks");
}

static void clear_env(void)
{
    static const char *const vars[] = {"PLAIT_RANK",
                                       "PLAIT_WORLD_SIZE",
                                       "PLAIT_LOCAL_RANK",
                                       "PLAIT_LOCAL_SIZE",
                                       "PLAIT_DP_RANK",
                                       "PLAIT_DP_SIZE",
                                       "PLAIT_TP_RANK",
                                       "PLAIT_TP_SIZE",
                                       "PLAIT_PP_RANK",
                                       "PLAIT_PP_SIZE",
                                       "SLURM_PROCID",
                                       "SLURM_STEP_ID",
                                       "SLURM_NTASKS",
                                       "SLURM_STEP_NUM_TASKS",
                                       "SLURM_LOCALID",
                                       "SLURM_NODEID",
                                       "SLURM_STEP_TASKS_PER_NODE",
                                       "SLURM_TASKS_PER_NODE",
                                       "PLAIT_LAYOUT",
                                       "PLAIT_TIMEOUT",
                                       "PLAIT_RUN_SOCKET",
                                       "PLAIT_TEST_NODES"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static void test_placement(void)
{
    plait_placement_t p;
    char err[256];
    clear_env();
    /* Slurm without the plugin: block placement, the layout from PLAIT_LAYOUT. */
    setenv("SLURM_PROCID", "13", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "16", 1);
    setenv("SLURM_LOCALID", "5", 1);
    setenv("SLURM_NODEID", "1", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "8(x2)", 1);
    setenv("PLAIT_LAYOUT", "dp=2,tp=4,pp=2", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_OK);
    CHECK(p.rank == 13 && p.world_size == 16 && p.local_rank == 5 && p.local_size == 8);
    /* 13 = (dp * 2 + pp) * 4 + tp: dp 1, pp 1, tp 1 */
    CHECK(p.dp_rank == 1 && p.pp_rank == 1 && p.tp_rank == 1);
    CHECK(p.dp_size == 2 && p.pp_size == 2 && p.tp_size == 4);
    /* An explicit layout wins over PLAIT_LAYOUT. */
    CHECK_INT_EQ(plait_placement_from_env(&p, "tp=2", err, sizeof err), PLAIT_OK);
    CHECK(p.dp_size == 8 && p.tp_size == 2 && p.tp_rank == 1 && p.dp_rank == 6);
    setenv("SLURM_STEP_TASKS_PER_NODE", "3,6", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_OK);
    CHECK_INT_EQ(p.local_size, 6);
    /* A refused layout is named by where it came from. */
    setenv("PLAIT_LAYOUT", "tp=3", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "PLAIT_LAYOUT: layout 'tp=3': 16 tasks are not a multiple of 3");
    CHECK_INT_EQ(plait_placement_from_env(&p, "tp=3", err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "layout 'tp=3': 16 tasks are not a multiple of 3");
    setenv("PLAIT_LAYOUT", "dp=2,tp=4,pp=2", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "8", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "SLURM_STEP_TASKS_PER_NODE='8': expected a task count for node 1");

    /* The contract wins over Slurm's variables and is checked for consistency. */
    const char *contract[][2] = {{"PLAIT_RANK", "6"},       {"PLAIT_WORLD_SIZE", "8"},
                                 {"PLAIT_LOCAL_RANK", "2"}, {"PLAIT_LOCAL_SIZE", "4"},
                                 {"PLAIT_DP_RANK", "1"},    {"PLAIT_DP_SIZE", "2"},
                                 {"PLAIT_TP_RANK", "0"},    {"PLAIT_TP_SIZE", "2"},
                                 {"PLAIT_PP_RANK", "1"},    {"PLAIT_PP_SIZE", "2"}};
    for (size_t i = 0; i < sizeof contract / sizeof contract[0]; i++)
        setenv(contract[i][0], contract[i][1], 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_OK);
    CHECK(p.rank == 6 && p.dp_rank == 1 && p.pp_rank == 1 && p.tp_rank == 0 && p.local_rank == 2);
    setenv("PLAIT_TP_RANK", "1", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "expected rank = (dp*PP+pp)*TP+tp");
    setenv("PLAIT_DP_SIZE", "two", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "PLAIT_DP_SIZE='two': expected an integer from 1");
    /* Found by fuzz_env: sizes of 2^20 overflowed the int products checked. */
    setenv("PLAIT_TP_RANK", "0", 1);
    setenv("PLAIT_DP_SIZE", "1048576", 1);
    setenv("PLAIT_TP_SIZE", "1048576", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "DP*TP*PP = world size");
    clear_env();

    /* Found by fuzz_env: a negative repeat count overflowed the node count. */
    setenv("SLURM_PROCID", "4", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "8", 1);
    setenv("SLURM_LOCALID", "0", 1);
    setenv("SLURM_NODEID", "1", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "4(x-2147483648),4", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "expected a task count for node 1");
    clear_env();

    /* Fake nodes for tests: rank 13 of 16 lies on the third of 8,4,4. */
    setenv("SLURM_PROCID", "13", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "16", 1);
    setenv("SLURM_LOCALID", "5", 1);
    setenv("SLURM_NODEID", "1", 1);
    setenv("SLURM_STEP_TASKS_PER_NODE", "8(x2)", 1);
    setenv("SLURMD_NODENAME", "n1", 1);
    setenv("PLAIT_TEST_NODES", "8,4,4", 1);
    CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_OK);
    CHECK_STR_CONTAINS(p.host, "n1-node2");
    static const char *const bad[] = {"8,4", "8,4,4,", "8,x,4", "16,0", "17", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("PLAIT_TEST_NODES", bad[i], 1);
        CHECK_INT_EQ(plait_placement_from_env(&p, NULL, err, sizeof err), PLAIT_ERR_INVALID);
        CHECK_STR_CONTAINS(err,
                           "expected ranks per node, e.g. 3,1, adding up to the world size 16");
    }
    unsetenv("SLURMD_NODENAME");
    clear_env();
}

static void test_bf16(void)
{
    CHECK(plait_float_to_bf16(1.0f) == 0x3f80);
    CHECK(plait_bf16_to_float(0x3f80) == 1.0f);
    /* 1 + 2^-8 lies halfway between two bf16 values: ties go to even. */
    CHECK(plait_float_to_bf16(1.00390625f) == 0x3f80);
    CHECK(plait_float_to_bf16(1.01171875f) == 0x3f82);
    CHECK(plait_float_to_bf16(-2.0f) == 0xc000);
    uint16_t nan = plait_float_to_bf16(__builtin_nanf(""));
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f));
    uint16_t a[3] = {plait_float_to_bf16(1), plait_float_to_bf16(2.5f), plait_float_to_bf16(-3)};
    uint16_t b[3] = {plait_float_to_bf16(2), plait_float_to_bf16(0.5f), plait_float_to_bf16(3)};
    plait_reduce_sum(a, b, 3, PLAIT_BFLOAT16);
    CHECK(plait_bf16_to_float(a[0]) == 3 && plait_bf16_to_float(a[1]) == 3 &&
          plait_bf16_to_float(a[2]) == 0);
    float f[2] = {3, 9}, g[2] = {1, -1};
    plait_reduce_sum(f, g, 2, PLAIT_FLOAT32);
    plait_scale(f, 2, PLAIT_FLOAT32, 4);
    CHECK(f[0] == 1.0f && f[1] == 2.0f);
}

/* Ranks that share CPUs count against them; ranks bound elsewhere or on
 * another host do not. */
static void test_crowded(void)
{
    plait_peer_t p[4] = {{.host = "a"}, {.host = "a"}, {.host = "a"}, {.host = "b"}};
    for (int r = 0; r < 4; r++) {
        CPU_SET(0, &p[r].cpus);
        CPU_SET(1, &p[r].cpus);
    }
    CHECK(!plait_crowded(p, 2, 0));     /* 2 ranks on 2 CPUs */
    CHECK(plait_crowded(p, 3, 0));      /* 3 ranks on 2 CPUs */
    CHECK(!plait_crowded(p + 2, 2, 0)); /* the other on host b */
    for (int r = 0; r < 3; r++) {
        CPU_ZERO(&p[r].cpus);
        CPU_SET(r % 2, &p[r].cpus);
    }
    CHECK(plait_crowded(p, 3, 0));  /* ranks 0 and 2 on CPU 0 */
    CHECK(!plait_crowded(p, 3, 1)); /* rank 1 alone on CPU 1 */
    CHECK(!plait_crowded(p, 2, 0)); /* bound, one rank a core */
    CPU_ZERO(&p[0].cpus);
    CHECK(!plait_crowded(p, 3, 0)); /* its affinity unknown */
}

/* With no launcher and no Slurm, a process is a job of one. */
static void test_single(void)
{
    clear_env();
    plait_context_t *ctx;
    char err[256];
    setenv("PLAIT_TIMEOUT", "soon", 1);
    CHECK_INT_EQ(plait_init(NULL, &ctx, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "PLAIT_TIMEOUT='soon': expected seconds");
    CHECK(ctx == NULL);
    /* Very large is refused naming the bound it passed. */
    setenv("PLAIT_TIMEOUT", "3600000", 1);
    CHECK_INT_EQ(plait_init(NULL, &ctx, err, sizeof err), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(err, "PLAIT_TIMEOUT='3600000': expected seconds, above 0 and below 1e6");
    unsetenv("PLAIT_TIMEOUT");
    plait_config_t cfg = {.layout = "dp=1", .timeout_s = 5};
    CHECK_INT_EQ(plait_init(&cfg, &ctx, err, sizeof err), PLAIT_OK);
    if (!ctx)
        return;
    CHECK_STR_EQ(plait_bootstrap_name(ctx), "single");
    /* Debian's UCX is built without CUDA: the answer must say so. */
    CHECK_INT_EQ(plait_ucx_device_memory(ctx),
                 access("/usr/lib/x86_64-linux-gnu/ucx/libuct_cuda.so.0", F_OK) == 0);
    plait_comm_t *w = plait_comm(ctx, PLAIT_GROUP_WORLD);
    CHECK_INT_EQ(plait_comm_size(w), 1);
    float x[5] = {1, 2, 3, 4, 5}, y[5];
    CHECK_INT_EQ(plait_allreduce(w, x, y, 5, PLAIT_FLOAT32, PLAIT_AVG), PLAIT_OK);
    CHECK(y[4] == 5.0f);
    CHECK_INT_EQ(plait_allgather(w, x, y, 5, PLAIT_FLOAT32), PLAIT_OK);
    CHECK(y[2] == 3.0f);
    /* A message to oneself goes through UCX like any other. */
    plait_request_t *r;
    CHECK_INT_EQ(plait_irecv(w, y, sizeof y, 0, 3, &r), PLAIT_OK);
    CHECK_INT_EQ(plait_send(w, x, sizeof x, 0, 3), PLAIT_OK);
    CHECK_INT_EQ(plait_wait(r), PLAIT_OK);
    CHECK(y[0] == 1.0f && y[4] == 5.0f);
    /* Nobody sends tag 4: the wait gives up after the timeout, naming the peer. */
    cfg.timeout_s = 0.2;
    plait_finalize(ctx);
    CHECK_INT_EQ(plait_init(&cfg, &ctx, err, sizeof err), PLAIT_OK);
    if (!ctx)
        return;
    w = plait_comm(ctx, PLAIT_GROUP_WORLD);
    CHECK_INT_EQ(plait_recv(w, y, sizeof y, 0, 4), PLAIT_ERR_TIMEOUT);
    CHECK_STR_CONTAINS(plait_error(ctx), "peer rank 0 (host ");
    CHECK_STR_CONTAINS(plait_error(ctx), "no answer within 0.2 s");
    CHECK_INT_EQ(plait_barrier(w), PLAIT_ERR_TIMEOUT);
    plait_finalize(ctx);
}

int main(void)
{
    test_layout();
    test_placement();
    test_bf16();
    test_crowded();
    test_single();
    return check_status("runtime_unit_test");
}
