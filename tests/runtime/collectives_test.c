/* Every host collective and point-to-point against a serial reference, for
 * many lengths, both dtypes and every group kind, with 2, 3, 4 and 8 ranks
 * under plait-run (or as many as srun starts, see srun_test.sh), and on fake
 * nodes (PLAIT_TEST_NODES) for the hierarchical allreduce. Inputs are small
 * integers, so every sum is exact and results must match bit for bit. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/internal.h"
#include "runtime/shm.h"
#include "tests/check.h"
#include "tests/runtime/launch.h"

static const size_t lengths[] = {0, 1, 2, 3, 7, 64, 1000, 16383, 16385, 40001};
#define NLEN (sizeof lengths / sizeof lengths[0])

/* Rank r's i-th input: an integer in [-5, 5]. */
static float input(int r, size_t i, int salt)
{
    return (float)((int)(((size_t)r * 7 + i * 3 + (size_t)salt) % 11) - 5);
}

static void accumulate(float *sum, int n, size_t i, int salt)
{
    for (int r = 0; r < n; r++)
        *sum += input(r, i, salt);
}

static void put(void *buf, size_t i, float v, plait_dtype_t dt)
{
    if (dt == PLAIT_FLOAT32)
        ((float *)buf)[i] = v;
    else
        ((uint16_t *)buf)[i] = plait_float_to_bf16(v);
}

static float get(const void *buf, size_t i, plait_dtype_t dt)
{
    return dt == PLAIT_FLOAT32 ? ((const float *)buf)[i]
                               : plait_bf16_to_float(((const uint16_t *)buf)[i]);
}

static float rounded(float v, plait_dtype_t dt)
{
    return dt == PLAIT_FLOAT32 ? v : plait_bf16_to_float(plait_float_to_bf16(v));
}

static const char *gname(plait_group_t g)
{
    static const char *const names[] = {"world", "dp", "tp", "pp"};
    return names[g];
}

/* Compare n elements of got with want(i); report the first mismatch only. */
#define EXPECT_ALL(what, n, got_expr, want_expr)                                                   \
    do {                                                                                           \
        size_t bad_ = (size_t)-1;                                                                  \
        for (size_t i = 0; i < (n) && bad_ == (size_t)-1; i++)                                     \
            if ((got_expr) != (want_expr))                                                         \
                bad_ = i;                                                                          \
        CHECK_MSG(bad_ == (size_t)-1, "%s %s dt=%d len=%zu: element %zu", what, gname(g), (int)dt, \
                  len, bad_);                                                                      \
    } while (0)

static void test_allreduce(plait_comm_t *comm, plait_group_t g, plait_dtype_t dt, size_t len)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    size_t es = plait_dtype_size(dt);
    char *src = malloc(len * es + 1), *dst = malloc(len * es + 1);
    float *sum = malloc(len * sizeof *sum + 1);
    for (size_t i = 0; i < len; i++) {
        put(src, i, input(me, i, 0), dt);
        sum[i] = 0;
        for (int r = 0; r < n; r++)
            sum[i] += input(r, i, 0);
    }
    CHECK_INT_EQ(plait_allreduce(comm, src, dst, len, dt, PLAIT_SUM), PLAIT_OK);
    EXPECT_ALL("allreduce sum", len, get(dst, i, dt), sum[i]);
    CHECK_INT_EQ(plait_allreduce(comm, src, src, len, dt, PLAIT_AVG), PLAIT_OK);
    EXPECT_ALL("allreduce avg in place", len, get(src, i, dt), rounded(sum[i] / (float)n, dt));

    for (size_t i = 0; i < len; i++)
        put(src, i, input(me, i, 0), dt);
    plait_request_t *req;
    CHECK_INT_EQ(plait_iallreduce(comm, src, dst, len, dt, PLAIT_SUM, &req), PLAIT_OK);
    int done = 0;
    plait_status_t st = PLAIT_OK;
    while (!done && st == PLAIT_OK)
        st = plait_test(req, &done);
    CHECK_INT_EQ(st, PLAIT_OK);
    EXPECT_ALL("iallreduce", len, get(dst, i, dt), sum[i]);
    free(src);
    free(dst);
    free(sum);
}

/* Buffers from plait_mem_alloc: every rank's in place (on a node-local
 * communicator, the zero-copy path with the whole buffer as one chunk), then
 * a mix, even ranks reading from registered memory into a plain buffer and
 * odd ones the other way round, so registered and staged ranks meet in one
 * allreduce. */
static void test_registered(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g,
                            plait_dtype_t dt, size_t len)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    size_t es = plait_dtype_size(dt);
    void *reg = NULL, *reg2 = NULL;
    CHECK_INT_EQ(plait_mem_alloc(ctx, len * es + 1, &reg), PLAIT_OK);
    CHECK_INT_EQ(plait_mem_alloc(ctx, len * es + 1, &reg2), PLAIT_OK);
    char *plain = malloc(len * es + 1);
    float *sum = malloc(len * sizeof *sum + 1);
    for (size_t i = 0; i < len; i++) {
        put(reg, i, input(me, i, 5), dt);
        sum[i] = 0;
        accumulate(&sum[i], n, i, 5);
    }
    CHECK_INT_EQ(plait_allreduce(comm, reg, reg, len, dt, PLAIT_SUM), PLAIT_OK);
    EXPECT_ALL("registered allreduce in place", len, get(reg, i, dt), sum[i]);
    char *src = me % 2 ? plain : reg2, *dst = me % 2 ? reg2 : plain;
    for (size_t i = 0; i < len; i++)
        put(src, i, input(me, i, 5), dt);
    CHECK_INT_EQ(plait_allreduce(comm, src, dst, len, dt, PLAIT_AVG), PLAIT_OK);
    EXPECT_ALL("mixed registered allreduce avg", len, get(dst, i, dt),
               rounded(sum[i] / (float)n, dt));
    CHECK_INT_EQ(plait_mem_free(ctx, reg), PLAIT_OK);
    CHECK_INT_EQ(plait_mem_free(ctx, reg2), PLAIT_OK);
    free(plain);
    free(sum);
}

/* Rank r's i-th input to test_order: a fraction, so that sums round. */
static float inexact(int r, size_t i)
{
    return 1.0f / (float)(1 + (i * 7 + (size_t)r * 13) % 97);
}

/* Sums that round: each element is summed in one order whatever the path
 * within a node cuts the buffer into (4 MiB chunks through the staging
 * slots, or all of it at once when registered), so a plain and a registered
 * allreduce give the same bits; on a node-local group, those of a serial
 * sum in group rank order (in float, bf16 rounded once, divided once). */
static void test_order(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g, plait_dtype_t dt)
{
    size_t len = 2500001, es = plait_dtype_size(dt);
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    void *reg = NULL;
    CHECK_INT_EQ(plait_mem_alloc(ctx, len * es, &reg), PLAIT_OK);
    char *plain = malloc(len * es), *want = malloc(len * es);
    for (size_t i = 0; i < len; i++) {
        put(plain, i, inexact(me, i), dt);
        float sum = rounded(inexact(0, i), dt);
        for (int r = 1; r < n; r++)
            sum += rounded(inexact(r, i), dt);
        put(want, i, sum / (float)n, dt);
    }
    memcpy(reg, plain, len * es);
    CHECK_INT_EQ(plait_allreduce(comm, plain, plain, len, dt, PLAIT_AVG), PLAIT_OK);
    CHECK_INT_EQ(plait_allreduce(comm, reg, reg, len, dt, PLAIT_AVG), PLAIT_OK);
    EXPECT_ALL("registered against plain, inexact sums", len,
               memcmp((char *)reg + i * es, plain + i * es, es), 0);
    if (comm->shm)
        EXPECT_ALL("node-local against a serial sum in rank order", len,
                   memcmp(plain + i * es, want + i * es, es), 0);
    CHECK_INT_EQ(plait_mem_free(ctx, reg), PLAIT_OK);
    free(plain);
    free(want);
}

/* An inexact value that follows no period in i, so that a chunk of the
 * hierarchical allreduce landing in the wrong place cannot match. */
static float scattered(int r, size_t i)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(r + 1) * 40503u;
    h ^= h >> 15;
    return (float)(h % 20001) / 997.0f - 10.0f;
}

/* a + b as the runtime adds two elements of dtype dt. */
static float add(float a, float b, plait_dtype_t dt)
{
    return rounded(a + b, dt);
}

/* The hierarchical allreduce's documented order (docs/runtime.md) for two or
 * three nodes: each node's values summed left to right in group rank order
 * (in float, rounded once), the node sums combined as the leaders' UCX
 * algorithm does for the whole buffer (two: added once; three, >= 64 KiB:
 * the ring, whose block b starts at leader b and collects the next leaders'
 * sums in turn), the average divided once. Checked bit for bit for a length
 * of several chunks and a remainder, plain and registered, so that any
 * chunk's data, result or order gone astray shows. */
static void test_hier_order(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g,
                            plait_dtype_t dt)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm), node[n], nodes = 0;
    for (int i = 0; i < n; i++) {
        node[i] = -1;
        for (int j = 0; j < i && node[i] < 0; j++)
            if (strcmp(ctx->peers[plait_comm_world_rank(comm, i)].host,
                       ctx->peers[plait_comm_world_rank(comm, j)].host) == 0)
                node[i] = node[j];
        if (node[i] < 0)
            node[i] = nodes++;
    }
    if (nodes > 3)
        return;
    size_t es = plait_dtype_size(dt), len = 3 * (PLAIT_HIER_CHUNK / es) + 5;
    char *plain = malloc(len * es), *want = malloc(len * es);
    void *reg = NULL;
    CHECK_INT_EQ(plait_mem_alloc(ctx, len * es, &reg), PLAIT_OK);
    for (size_t i = 0; i < len; i++) {
        float sum[3] = {0}, total;
        bool first[3] = {true, true, true};
        for (int r = 0; r < n; r++) {
            float v = rounded(scattered(r, i), dt);
            sum[node[r]] = first[node[r]] ? v : sum[node[r]] + v;
            first[node[r]] = false;
        }
        for (int k = 0; k < nodes; k++)
            sum[k] = rounded(sum[k], dt);
        if (nodes == 2) {
            total = add(sum[0], sum[1], dt);
        } else {
            /* Its block among three, as the runtime cuts them. */
            size_t base = len / 3, extra = len % 3;
            size_t b =
                i < extra * (base + 1) ? i / (base + 1) : extra + (i - extra * (base + 1)) / base;
            total = sum[b];
            for (int k = 1; k < 3; k++)
                total = add(sum[(b + (size_t)k) % 3], total, dt);
        }
        put(want, i, rounded(total / (float)n, dt), dt);
        put(plain, i, scattered(me, i), dt);
        put(reg, i, scattered(me, i), dt);
    }
    CHECK_INT_EQ(plait_allreduce(comm, plain, plain, len, dt, PLAIT_AVG), PLAIT_OK);
    EXPECT_ALL("hierarchical order, plain", len, memcmp(plain + i * es, want + i * es, es), 0);
    CHECK_INT_EQ(plait_allreduce(comm, reg, reg, len, dt, PLAIT_AVG), PLAIT_OK);
    EXPECT_ALL("hierarchical order, registered", len,
               memcmp((char *)reg + i * es, want + i * es, es), 0);
    CHECK_INT_EQ(plait_mem_free(ctx, reg), PLAIT_OK);
    free(plain);
    free(want);
}

static void test_allgather_reduce_scatter(plait_comm_t *comm, plait_group_t g, plait_dtype_t dt,
                                          size_t len)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    size_t es = plait_dtype_size(dt), total = len * (size_t)n;
    char *src = malloc(total * es + 1), *dst = malloc(total * es + 1);
    for (size_t i = 0; i < len; i++)
        put(src, i, input(me, i, 1), dt);
    CHECK_INT_EQ(plait_allgather(comm, src, dst, len, dt), PLAIT_OK);
    EXPECT_ALL("allgather", total, get(dst, i, dt), input((int)(i / len), i % len, 1));

    for (size_t i = 0; i < total; i++)
        put(src, i, input(me, i, 2), dt);
    CHECK_INT_EQ(plait_reduce_scatter(comm, src, dst, len, dt, PLAIT_SUM), PLAIT_OK);
    float *want = calloc(len + 1, sizeof *want);
    for (size_t i = 0; i < len; i++)
        for (int r = 0; r < n; r++)
            want[i] += input(r, (size_t)me * len + i, 2);
    EXPECT_ALL("reduce_scatter", len, get(dst, i, dt), want[i]);
    free(want);
    free(src);
    free(dst);
}

/* The node-local reduce-scatter's order: every element of a block summed
 * over the ranks in group rank order (in float, bf16 rounded once, the
 * average divided once), however the blocks are cut into chunks (a slot
 * holds a chunk of every block) and whichever ranks' sendbufs are
 * registered. Lengths 0, 1, odd, and two chunks and a ragged remainder;
 * plain, all registered, and even ranks registered with odd ones plain. */
static void test_reduce_scatter_order(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g,
                                      plait_dtype_t dt)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    size_t es = plait_dtype_size(dt), chunk = PLAIT_SHM_CHUNK / es / (size_t)n;
    const size_t lens[] = {0, 1, 1001, 2 * chunk + 77};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        size_t len = lens[l], total = len * (size_t)n;
        void *reg = NULL;
        CHECK_INT_EQ(plait_mem_alloc(ctx, total * es + 1, &reg), PLAIT_OK);
        char *plain = malloc(total * es + 1), *got = malloc(len * es + 1);
        char *want[2] = {malloc(len * es + 1), malloc(len * es + 1)};
        for (size_t i = 0; i < total; i++) {
            put(plain, i, inexact(me, i), dt);
            put(reg, i, inexact(me, i), dt);
        }
        for (size_t i = 0; i < len; i++) {
            float sum = rounded(inexact(0, (size_t)me * len + i), dt);
            for (int r = 1; r < n; r++)
                sum += rounded(inexact(r, (size_t)me * len + i), dt);
            put(want[0], i, sum, dt);
            put(want[1], i, sum / (float)n, dt);
        }
        static const char *const mems[] = {"plain", "registered", "mixed"};
        for (int m = 0; m < 3; m++)
            for (int avg = 0; avg < 2; avg++) {
                const char *src = m == 0 || (m == 2 && me % 2) ? plain : reg;
                memset(got, 0xff, len * es);
                CHECK_INT_EQ(
                    plait_reduce_scatter(comm, src, got, len, dt, avg ? PLAIT_AVG : PLAIT_SUM),
                    PLAIT_OK);
                char what[96];
                snprintf(what, sizeof what, "reduce-scatter %s %s against a serial sum", mems[m],
                         avg ? "avg" : "sum");
                if (comm->shm)
                    EXPECT_ALL(what, len, memcmp(got + i * es, want[avg] + i * es, es), 0);
            }
        CHECK_INT_EQ(plait_mem_free(ctx, reg), PLAIT_OK);
        free(plain);
        free(got);
        free(want[0]);
        free(want[1]);
    }
}

/* A barrier holds every rank until the last arrives: the rank that comes
 * late (each in turn, after a nap, so that a barrier that does not wait
 * lets the others through first) notes the time it enters, every rank the
 * time it leaves, and no rank may leave before any has entered. Times are
 * compared among ranks of one host only: one monotonic clock serves its
 * processes, not those of other nodes under srun. */
static void test_barrier_waits(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g)
{
    const char *host = ctx->peers[plait_placement(ctx)->rank].host;
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    for (int late = 0; late < n; late++) {
        if (me == late)
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT_EQ(plait_barrier(comm), PLAIT_OK);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t entered = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec, all[n];
        /* Two four-byte elements per rank: the allgather only copies them. */
        CHECK_INT_EQ(plait_allgather(comm, &entered, all, 2, PLAIT_FLOAT32), PLAIT_OK);
        int64_t left = (int64_t)t1.tv_sec * 1000000000 + t1.tv_nsec, last = all[me];
        for (int r = 0; r < n; r++)
            if (strcmp(ctx->peers[plait_comm_world_rank(comm, r)].host, host) == 0)
                last = all[r] > last ? all[r] : last;
        CHECK_MSG(left >= last, "barrier %s: rank %d left %lld ns before rank %d (late) entered",
                  gname(g), me, (long long)(last - left), late);
    }
}

static void test_broadcast(plait_comm_t *comm, plait_group_t g, plait_dtype_t dt, size_t len)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    char *buf = malloc(len * plait_dtype_size(dt) + 1);
    for (int root = 0; root<n; root += n> 2 ? n - 2 : 1) {
        for (size_t i = 0; i < len; i++)
            put(buf, i, me == root ? input(root, i, 3) : 99.0f, dt);
        CHECK_INT_EQ(plait_broadcast(comm, buf, len, dt, root), PLAIT_OK);
        EXPECT_ALL("broadcast", len, get(buf, i, dt), input(root, i, 3));
    }
    free(buf);
}

/* The node-local allgather and broadcast past one staging chunk (4 MiB),
 * from plain and registered memory mixed (even ranks give from
 * plait_mem_alloc memory, odd ones from malloc'd; the broadcast from every
 * root), and all three node-local collectives back to back on one group, so
 * that each starts while peers may still be reading the last one's slots. */
static void test_copy_chunks(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g,
                             plait_dtype_t dt)
{
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    size_t es = plait_dtype_size(dt), len = PLAIT_SHM_CHUNK / es + 3, total = len * (size_t)n;
    void *reg = NULL;
    CHECK_INT_EQ(plait_mem_alloc(ctx, total * es, &reg), PLAIT_OK);
    char *plain = malloc(total * es), *out = malloc(total * es);
    char *mine = me % 2 ? plain : reg;
    for (size_t i = 0; i < len; i++)
        put(mine, i, input(me, i, 6), dt);
    CHECK_INT_EQ(plait_allgather(comm, mine, out, len, dt), PLAIT_OK);
    EXPECT_ALL("allgather past a chunk", total, get(out, i, dt), input((int)(i / len), i % len, 6));
    for (int root = 0; root < n; root++) {
        char *buf = (me + root) % 2 ? plain : reg;
        for (size_t i = 0; i < len; i++)
            put(buf, i, me == root ? input(root, i, 7) : 99.0f, dt);
        CHECK_INT_EQ(plait_broadcast(comm, buf, len, dt, root), PLAIT_OK);
        EXPECT_ALL("broadcast past a chunk", len, get(buf, i, dt), input(root, i, 7));
    }
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < len; i++)
            put(plain, i, input(me, i, round), dt);
        CHECK_INT_EQ(plait_allreduce(comm, plain, plain, len, dt, PLAIT_SUM), PLAIT_OK);
        float want;
        EXPECT_ALL("allreduce back to back", len, get(plain, i, dt),
                   (want = 0, accumulate(&want, n, i, round), want));
        /* A non-blocking allreduce still running when a reduce-scatter and
         * a barrier start behind it, the reduce-scatter over two chunks of
         * its slots (one rank: what the buffers hold), from registered
         * memory on even ranks. */
        size_t rs = PLAIT_SHM_CHUNK / es / (size_t)n + 5;
        rs = rs < len ? rs : len;
        char *rs_src = me % 2 ? plain : reg;
        for (size_t i = 0; i < rs * (size_t)n; i++)
            put(rs_src, i, input(me, i, 14 + round), dt);
        float *bucket = malloc(1001 * sizeof *bucket);
        for (size_t i = 0; i < 1001; i++)
            bucket[i] = input(me, i, 17 + round);
        plait_request_t *req;
        CHECK_INT_EQ(plait_iallreduce(comm, bucket, bucket, 1001, PLAIT_FLOAT32, PLAIT_SUM, &req),
                     PLAIT_OK);
        CHECK_INT_EQ(plait_reduce_scatter(comm, rs_src, out, rs, dt, PLAIT_SUM), PLAIT_OK);
        CHECK_INT_EQ(plait_barrier(comm), PLAIT_OK);
        CHECK_INT_EQ(plait_wait(req), PLAIT_OK);
        EXPECT_ALL("reduce-scatter back to back", rs, get(out, i, dt),
                   (want = 0, accumulate(&want, n, (size_t)me * rs + i, 14 + round), want));
        EXPECT_ALL("iallreduce before a reduce-scatter", (size_t)1001, bucket[i],
                   (want = 0, accumulate(&want, n, i, 17 + round), want));
        free(bucket);
        int root = round % n;
        for (size_t i = 0; me == root && i < len; i++)
            put(plain, i, input(root, i, 8 + round), dt);
        CHECK_INT_EQ(plait_broadcast(comm, plain, len, dt, root), PLAIT_OK);
        EXPECT_ALL("broadcast back to back", len, get(plain, i, dt), input(root, i, 8 + round));
        for (size_t i = 0; i < 1000; i++)
            put(plain, i, input(me, i, 11 + round), dt);
        CHECK_INT_EQ(plait_allgather(comm, plain, out, 1000, dt), PLAIT_OK);
        EXPECT_ALL("allgather back to back", (size_t)1000 * (size_t)n, get(out, i, dt),
                   input((int)(i / 1000), i % 1000, 11 + round));
    }
    CHECK_INT_EQ(plait_mem_free(ctx, reg), PLAIT_OK);
    free(plain);
    free(out);
}

/* A ring exchange on comm, both directions posted before waiting. */
static void test_p2p(plait_comm_t *comm, plait_group_t g, size_t len)
{
    plait_dtype_t dt = PLAIT_FLOAT32;
    int n = plait_comm_size(comm), me = plait_comm_rank(comm);
    int right = (me + 1) % n, left = (me + n - 1) % n;
    float *out = malloc(len * 4 + 1), *in = malloc(len * 4 + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = input(me, i, 4);
    plait_request_t *rs, *rr;
    CHECK_INT_EQ(plait_irecv(comm, in, len * 4, left, 7, &rr), PLAIT_OK);
    CHECK_INT_EQ(plait_isend(comm, out, len * 4, right, 7, &rs), PLAIT_OK);
    CHECK_INT_EQ(plait_wait(rs), PLAIT_OK);
    CHECK_INT_EQ(plait_wait(rr), PLAIT_OK);
    EXPECT_ALL("p2p ring", len, in[i], input(left, i, 4));
    free(out);
    free(in);
}

/* The trainer's pattern: several gradient buckets all-reduced at once on the
 * DP group while pipeline messages flow on the PP group, progress made by
 * plait_progress, the buckets waited for in reverse order. */
static void test_overlap(plait_context_t *ctx)
{
    plait_comm_t *dp = plait_comm(ctx, PLAIT_GROUP_DP), *pp = plait_comm(ctx, PLAIT_GROUP_PP);
    plait_group_t g = PLAIT_GROUP_DP;
    plait_dtype_t dt = PLAIT_FLOAT32;
    int n = plait_comm_size(dp), me = plait_comm_rank(dp);
    static const size_t sizes[3] = {5, 70001, 300000};
    float *bucket[3];
    plait_request_t *req[3];
    for (int b = 0; b < 3; b++) {
        bucket[b] = malloc(sizes[b] * sizeof(float));
        for (size_t i = 0; i < sizes[b]; i++)
            bucket[b][i] = input(me, i, b);
        CHECK_INT_EQ(plait_iallreduce(dp, bucket[b], bucket[b], sizes[b], dt, PLAIT_SUM, &req[b]),
                     PLAIT_OK);
    }
    int stages = plait_comm_size(pp), stage = plait_comm_rank(pp);
    float act[256], got[256];
    for (int i = 0; i < 256; i++)
        act[i] = input(stage, (size_t)i, 9);
    plait_request_t *rs = NULL, *rr = NULL;
    if (stage + 1 < stages)
        CHECK_INT_EQ(plait_isend(pp, act, sizeof act, stage + 1, 1, &rs), PLAIT_OK);
    if (stage > 0)
        CHECK_INT_EQ(plait_irecv(pp, got, sizeof got, stage - 1, 1, &rr), PLAIT_OK);
    for (int i = 0; i < 100; i++)
        CHECK_INT_EQ(plait_progress(ctx), PLAIT_OK);
    if (rs)
        CHECK_INT_EQ(plait_wait(rs), PLAIT_OK);
    if (rr) {
        CHECK_INT_EQ(plait_wait(rr), PLAIT_OK);
        size_t len = 256;
        EXPECT_ALL("pipeline message", len, got[i], input(stage - 1, i, 9));
    }
    for (int b = 2; b >= 0; b--) {
        CHECK_INT_EQ(plait_wait(req[b]), PLAIT_OK);
        size_t len = sizes[b];
        float want;
        EXPECT_ALL("overlapped bucket", len, bucket[b][i],
                   (want = 0, accumulate(&want, n, i, b), want));
        free(bucket[b]);
    }
}

/* A group takes the hierarchical allreduce exactly when its ranks span
 * nodes, two of them share one and the node-local path is on. */
static void check_path(plait_context_t *ctx, plait_comm_t *comm, plait_group_t g)
{
    int n = plait_comm_size(comm), spans = 0, shared = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int same = strcmp(ctx->peers[plait_comm_world_rank(comm, i)].host,
                              ctx->peers[plait_comm_world_rank(comm, j)].host) == 0;
            spans |= !same;
            shared |= same && i != j;
        }
    const char *shm = getenv("PLAIT_SHM");
    int on = !shm || strcmp(shm, "0") != 0;
    CHECK_MSG((comm->hier != NULL) == (spans && shared && on), "%s: hierarchical %d, expected %d",
              gname(g), comm->hier != NULL, spans && shared && on);
}

static int run_rank(void)
{
    plait_context_t *ctx;
    char err[512];
    plait_status_t st = plait_init(NULL, &ctx, err, sizeof err);
    if (st != PLAIT_OK) {
        fprintf(stderr, "plait_init: %s\n", err);
        return 1;
    }
    const plait_placement_t *p = plait_placement(ctx);
    printf("bootstrap: %s host %s placement %s\n", plait_bootstrap_name(ctx), p->host,
           getenv("PLAIT_RANK") ? "PLAIT_*" : "SLURM_*");
    plait_comm_t *world = plait_comm(ctx, PLAIT_GROUP_WORLD);
    CHECK_INT_EQ(plait_comm_size(world), p->world_size);
    CHECK_INT_EQ(plait_comm_size(plait_comm(ctx, PLAIT_GROUP_DP)), p->dp_size);
    CHECK_INT_EQ(plait_comm_size(plait_comm(ctx, PLAIT_GROUP_TP)), p->tp_size);
    CHECK_INT_EQ(plait_comm_size(plait_comm(ctx, PLAIT_GROUP_PP)), p->pp_size);
    /* Each group's members share the other two coordinates: tensor-parallel
     * peers are consecutive, pipeline stages TP apart, replicas TP*PP apart. */
    plait_comm_t *tp = plait_comm(ctx, PLAIT_GROUP_TP), *pp = plait_comm(ctx, PLAIT_GROUP_PP);
    plait_comm_t *dp = plait_comm(ctx, PLAIT_GROUP_DP);
    CHECK_INT_EQ(plait_comm_world_rank(tp, p->tp_rank), p->rank);
    CHECK_INT_EQ(plait_comm_world_rank(pp, p->pp_rank), p->rank);
    CHECK_INT_EQ(plait_comm_world_rank(dp, p->dp_rank), p->rank);
    CHECK_INT_EQ(plait_comm_world_rank(tp, 0), p->rank - p->tp_rank);
    CHECK_INT_EQ(plait_comm_world_rank(pp, 0), p->rank - p->pp_rank * p->tp_size);
    CHECK_INT_EQ(plait_comm_world_rank(dp, 0), p->rank - p->dp_rank * p->tp_size * p->pp_size);

    for (plait_group_t g = PLAIT_GROUP_WORLD; g <= PLAIT_GROUP_PP; g++) {
        plait_comm_t *comm = plait_comm(ctx, g);
        check_path(ctx, comm, g);
        for (size_t l = 0; l < NLEN; l++) {
            size_t len = lengths[l];
            for (plait_dtype_t dt = PLAIT_FLOAT32; dt <= PLAIT_BFLOAT16; dt++) {
                test_allreduce(comm, g, dt, len);
                test_allgather_reduce_scatter(comm, g, dt, len);
                test_broadcast(comm, g, dt, len);
            }
            test_p2p(comm, g, len);
        }
        /* Large enough that blocks travel in several segments (256 KiB:
         * 65536 fp32 or 131072 bf16 elements), with a short last one, and
         * 786432 = 12 fp32 segments, so that halves (2 ranks) and quarters (4)
         * end exactly on a segment boundary, and one element past it. */
        test_allreduce(comm, g, PLAIT_FLOAT32, 2000003);
        test_allreduce(comm, g, PLAIT_BFLOAT16, 2000003);
        test_allreduce(comm, g, PLAIT_FLOAT32, 786432);
        test_allreduce(comm, g, PLAIT_FLOAT32, 786433);
        /* 1, 1000 and 2500001 elements: one chunk, and several chunks of
         * the node-local path's staging slots (4 MiB). */
        static const size_t reg_lengths[] = {1, 1000, 2500001};
        for (plait_dtype_t dt = PLAIT_FLOAT32; dt <= PLAIT_BFLOAT16; dt++) {
            for (size_t l = 0; l < 3; l++)
                test_registered(ctx, comm, g, dt, reg_lengths[l]);
            test_order(ctx, comm, g, dt);
        }
        for (plait_dtype_t dt = PLAIT_FLOAT32; dt <= PLAIT_BFLOAT16; dt++) {
            test_copy_chunks(ctx, comm, g, dt);
            test_reduce_scatter_order(ctx, comm, g, dt);
        }
        test_barrier_waits(ctx, comm, g);
        /* The hierarchical allreduce's chunks: one short of one, exactly
         * one, several and a remainder, and its summation order. */
        for (plait_dtype_t dt = PLAIT_FLOAT32; comm->hier && dt <= PLAIT_BFLOAT16; dt++) {
            size_t chunk = PLAIT_HIER_CHUNK / plait_dtype_size(dt);
            test_allreduce(comm, g, dt, chunk - 1);
            test_allreduce(comm, g, dt, chunk);
            test_allreduce(comm, g, dt, 3 * chunk + 1);
            test_hier_order(ctx, comm, g, dt);
        }
        /* Either side of libplait's 256 KiB rendezvous threshold: eager
         * below, zero-copy at and above. */
        test_p2p(comm, g, 65535);
        test_p2p(comm, g, 65536);
        test_p2p(comm, g, 65537);
        CHECK_INT_EQ(plait_barrier(comm), PLAIT_OK);
    }
    test_overlap(ctx);
    /* A receive shorter than the message is an error, not a silent cut. */
    if (p->world_size > 1) {
        float big[64] = {0}, small[8];
        int right = (p->rank + 1) % p->world_size,
            left = (p->rank + p->world_size - 1) % p->world_size;
        plait_request_t *rs;
        CHECK_INT_EQ(plait_isend(world, big, sizeof big, right, 9, &rs), PLAIT_OK);
        CHECK_INT_EQ(plait_recv(world, small, sizeof small, left, 9), PLAIT_ERR_INVALID);
        CHECK_STR_CONTAINS(plait_error(ctx), "larger than the 32-byte receive buffer");
        CHECK_INT_EQ(plait_wait(rs), PLAIT_OK);
        CHECK_INT_EQ(plait_barrier(world), PLAIT_OK);
    }
    CHECK_INT_EQ(plait_send(world, NULL, 0, 0, PLAIT_TAG_MAX + 1u), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(plait_error(ctx), "expected a peer from 0 to");
    void *mem;
    CHECK_INT_EQ(plait_mem_alloc(ctx, 0, &mem), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(plait_error(ctx), "plait_mem_alloc of 0 bytes: expected a size above 0");
    CHECK_INT_EQ(plait_mem_free(ctx, &mem), PLAIT_ERR_INVALID);
    CHECK_STR_CONTAINS(plait_error(ctx), "expected a pointer from plait_mem_alloc");
    CHECK_INT_EQ(plait_mem_free(ctx, NULL), PLAIT_OK);
    /* Left for plait_finalize to free. */
    CHECK_INT_EQ(plait_mem_alloc(ctx, 100, &mem), PLAIT_OK);
    char name[64];
    snprintf(name, sizeof name, "collectives rank %d", p->rank);
    plait_finalize(ctx);
    return check_status(name);
}

int main(void)
{
    if (launch_is_rank())
        return run_rank();
    /* The first four jobs' ranks share this node, so every group takes the
     * node-local allreduce; two jobs again with it switched off cover the UCX
     * algorithms (recursive doubling, halving for 4 ranks, the ring for 3).
     * The last four split the ranks over fake nodes, evenly and not, a rank
     * alone on the first node or the last, and three nodes (the leaders'
     * ring): world, DP and PP take the hierarchical allreduce where a node
     * holds two of their ranks. */
    static const struct {
        int n;
        const char *layout, *env;
    } jobs[] = {{2, "dp=2", NULL},
                {3, "pp=3", NULL},
                {4, "dp=2,tp=2", NULL},
                {8, "dp=2,tp=2,pp=2", NULL},
                {3, "pp=3", "PLAIT_SHM=0"},
                {4, "dp=2,tp=2", "PLAIT_SHM=0"},
                {4, "dp=2,tp=2", "PLAIT_TEST_NODES=2,2"},
                {4, "dp=4", "PLAIT_TEST_NODES=3,1"},
                {3, "pp=3", "PLAIT_TEST_NODES=1,2"},
                {4, "dp=4", "PLAIT_TEST_NODES=2,1,1"}};
    static char out[1 << 16];
    for (size_t j = 0; j < sizeof jobs / sizeof jobs[0]; j++) {
        int status = launch_ranks(jobs[j].n, jobs[j].layout, NULL, jobs[j].env, out, sizeof out);
        CHECK_MSG(status == 0, "%s plait-run -n %d --layout %s: wait status %d",
                  jobs[j].env ? jobs[j].env : "", jobs[j].n, jobs[j].layout, status);
    }
    return check_status("runtime_collectives_test");
}
