/* A rank that dies or never answers must not hang the others: killed with
 * SIGKILL (mid-allreduce, or before a reduce-scatter or a barrier), the
 * survivors fail naming it (plait-run tells them); silent, the
 * one waiting for it fails after PLAIT_TIMEOUT naming its rank and host;
 * gone before joining, the others' plait_init fails naming it; a peer's memory
 * that cannot be mapped (no descriptor left) names the system's reason. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/plait.h"
#include "tests/check.h"
#include "tests/runtime/launch.h"

static int run_rank(const char *mode)
{
    if (strcmp(mode, "early") == 0 && getenv("PLAIT_RANK") &&
        strcmp(getenv("PLAIT_RANK"), "1") == 0)
        return 0; /* leaves before joining: the others must not wait for it */
    if (strcmp(mode, "never_joins") == 0) {
        /* Every rank puts off plait-run's SIGTERM (plait-train stops at a
         * step's end); rank 1 never joins, and only a second interrupt ends
         * it. */
        signal(SIGTERM, SIG_IGN);
        while (getenv("PLAIT_RANK") && strcmp(getenv("PLAIT_RANK"), "1") == 0)
            pause();
    }
    plait_context_t *ctx;
    char err[512];
    if (plait_init(NULL, &ctx, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "plait_init: %s\n", err);
        return 1;
    }
    int rank = plait_placement(ctx)->rank;
    plait_comm_t *world = plait_comm(ctx, PLAIT_GROUP_WORLD);
    plait_status_t st = plait_barrier(world);
    if (strcmp(mode, "kill") == 0 && st == PLAIT_OK) {
        if (rank == 2)
            raise(SIGKILL);
        static float buf[1 << 16];
        for (int i = 0; i < 100000 && st == PLAIT_OK; i++)
            st = plait_allreduce(world, buf, buf, sizeof buf / sizeof buf[0], PLAIT_FLOAT32,
                                 PLAIT_SUM);
    } else if (strcmp(mode, "kill_reduce_scatter") == 0 && st == PLAIT_OK) {
        float *send = calloc(4000, sizeof *send), recv[1000];
        if (rank == 2)
            raise(SIGKILL);
        st = plait_reduce_scatter(world, send, recv, 1000, PLAIT_FLOAT32, PLAIT_SUM);
        free(send);
    } else if (strcmp(mode, "kill_barrier") == 0 && st == PLAIT_OK) {
        if (rank == 2)
            raise(SIGKILL);
        st = plait_barrier(world);
    } else if (strcmp(mode, "silent_allreduce") == 0 && st == PLAIT_OK) {
        float buf[1000] = {0};
        if (rank == 1)
            sleep(4);
        else
            st = plait_allreduce(world, buf, buf, 1000, PLAIT_FLOAT32, PLAIT_SUM);
    } else if (strcmp(mode, "silent_reduce_scatter") == 0 && st == PLAIT_OK) {
        float send[3000] = {0}, recv[1000];
        if (rank == 1)
            sleep(4);
        else
            st = plait_reduce_scatter(world, send, recv, 1000, PLAIT_FLOAT32, PLAIT_AVG);
    } else if (strcmp(mode, "silent_barrier") == 0 && st == PLAIT_OK) {
        if (rank == 1)
            sleep(4);
        else
            st = plait_barrier(world);
    } else if (strcmp(mode, "silent_allgather") == 0 && st == PLAIT_OK) {
        float mine[1000] = {0}, *all = calloc(3000, sizeof *all);
        if (rank == 1)
            sleep(4);
        else if ((st = plait_allgather(world, mine, all, 1000, PLAIT_FLOAT32)) == PLAIT_OK)
            st = plait_broadcast(world, mine, 1000, PLAIT_FLOAT32, 1);
        free(all);
    } else if (strcmp(mode, "silent_leader") == 0 && st == PLAIT_OK) {
        size_t count = 1u << 20; /* 4 MiB: several chunks of the hierarchical allreduce */
        float *buf = calloc(count, sizeof *buf);
        if (rank == 2)
            sleep(4);
        else
            st = plait_allreduce(world, buf, buf, count, PLAIT_FLOAT32, PLAIT_SUM);
        free(buf);
    } else if (strcmp(mode, "fd_limit") == 0 && st == PLAIT_OK) {
        size_t count = 1u << 16;
        float *buf = NULL;
        st = plait_mem_alloc(ctx, count * sizeof *buf, (void **)&buf);
        /* Rank 0 can open no more descriptors, so not its peer's memory. */
        int lowest = fcntl(0, F_DUPFD, 0);
        struct rlimit lim;
        if (rank == 0 && lowest >= 0 && getrlimit(RLIMIT_NOFILE, &lim) == 0) {
            close(lowest);
            lim.rlim_cur = (rlim_t)lowest;
            setrlimit(RLIMIT_NOFILE, &lim);
        } else if (lowest >= 0) {
            close(lowest);
        }
        if (st == PLAIT_OK)
            st = plait_allreduce(world, buf, buf, count, PLAIT_FLOAT32, PLAIT_SUM);
        plait_mem_free(ctx, buf);
    } else if (st == PLAIT_OK) {
        float x = 0;
        if (rank == 1)
            sleep(4);
        else
            st = plait_recv(world, &x, sizeof x, 1, 5);
    }
    if (st != PLAIT_OK)
        fprintf(stderr, "rank %d: %s\n", rank, plait_error(ctx));
    plait_finalize(ctx);
    return st == PLAIT_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (launch_is_rank())
        return run_rank(argc > 1 ? argv[1] : "");
    static char out[1 << 16];
    char want[64];

    int status = launch_ranks(4, "dp=4", "kill", "PLAIT_TIMEOUT=60", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL,
              "plait-run should exit with the killed rank's status, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "plait-run: rank 2 (pid ");
    for (int r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        snprintf(want, sizeof want, "rank %d: peer rank 2 (host ", r);
        CHECK_STR_CONTAINS(out, want);
    }
    CHECK_STR_CONTAINS(out, "died: killed by signal 9");

    /* Killed before a node-local reduce-scatter, and before a node-local
     * barrier: the survivors, waiting for its counters, fail naming it. */
    static const char *const before[] = {"kill_reduce_scatter", "kill_barrier"};
    for (int m = 0; m < 2; m++) {
        status = launch_ranks(4, "dp=4", before[m], "PLAIT_TIMEOUT=60", out, sizeof out);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL,
                  "%s: plait-run should exit with the killed rank's status, got wait status %d",
                  before[m], status);
        for (int r = 0; r < 4; r++) {
            snprintf(want, sizeof want, "rank %d: peer rank 2 (host ", r);
            if (r != 2)
                CHECK_STR_CONTAINS(out, want);
        }
    }

    status = launch_ranks(2, "dp=2", "silent", "PLAIT_TIMEOUT=1", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the rank that timed out, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "rank 0: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "no answer within 1 s (PLAIT_TIMEOUT)");

    /* The same in the node-local allreduce: its waits are bounded too. */
    status = launch_ranks(3, "dp=3", "silent_allreduce", "PLAIT_TIMEOUT=1", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the ranks that timed out, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "rank 0: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "rank 2: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "no answer within 1 s (PLAIT_TIMEOUT)");

    /* And in the node-local reduce-scatter and barrier. */
    static const char *const silent[] = {"silent_reduce_scatter", "silent_barrier"};
    for (int m = 0; m < 2; m++) {
        status = launch_ranks(3, "dp=3", silent[m], "PLAIT_TIMEOUT=1", out, sizeof out);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "%s: plait-run should exit 1 like the ranks that timed out, got wait status %d",
                  silent[m], status);
        CHECK_STR_CONTAINS(out, "rank 0: peer rank 1 (host ");
        CHECK_STR_CONTAINS(out, "rank 2: peer rank 1 (host ");
        CHECK_STR_CONTAINS(out, "no answer within 1 s (PLAIT_TIMEOUT)");
    }

    /* And in the node-local allgather (and broadcast). */
    status = launch_ranks(3, "dp=3", "silent_allgather", "PLAIT_TIMEOUT=1", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the ranks that timed out, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "rank 0: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "rank 2: peer rank 1 (host ");

    /* And in the hierarchical allreduce, 2 fake nodes of 2, the second
     * node's leader silent: its node peer names it within the timeout
     * (waiting in shared memory). The first node's leader, waiting for it
     * over UCX while its node's reduction runs on, and that leader's node
     * peer fail too, each with a line naming a peer: the silent rank, or the
     * first to give up when plait-run's notice of that comes first (under
     * srun there are no such notices, and srun_test.sh sees all three name
     * the silent rank). */
    status = launch_ranks(4, "dp=4", "silent_leader", "PLAIT_TIMEOUT=1 PLAIT_TEST_NODES=2,2", out,
                          sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the ranks that timed out, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "rank 3: peer rank 2 (host ");
    CHECK_STR_CONTAINS(out, "no answer within 1 s (PLAIT_TIMEOUT)");
    CHECK_STR_CONTAINS(out, "rank 0: peer rank ");
    CHECK_STR_CONTAINS(out, "rank 1: peer rank ");

    /* A peer's memory that cannot be mapped here says why. */
    status = launch_ranks(2, "dp=2", "fd_limit", "PLAIT_TIMEOUT=60", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the rank that failed, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "rank 0: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "cannot map its plait_mem_alloc memory here: Too many open files");

    status = launch_ranks(3, "dp=3", "early", "PLAIT_TIMEOUT=60", out, sizeof out);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "plait-run should exit 1 like the ranks left behind, got wait status %d", status);
    CHECK_STR_CONTAINS(out, "plait_init: peer rank 1 (host ");
    CHECK_STR_CONTAINS(out, "exited with status 0 before joining the job");
    return check_status("runtime_failure_test");
}
