/* I/O benchmarks, each against an anchor measured in the same run:
 *   checkpoint write bandwidth  vs raw sequential write + fsync (goal >= 0.9)
 *   async checkpoint stall      as a fraction of a simulated step (goal < 0.05)
 *   restore bandwidth           vs raw sequential read (goal >= 0.9); plait_ckpt_load_into,
 *                               verifying and reading in one pass
 *   dataset read throughput     vs raw pread of the same samples
 * Each anchor run is paired with a plait run next to it, the two in alternating order,
 * and a ratio is the median of the pairs' ratios: the machine's load drifts between
 * pairs, less within one.
 * Appends one JSON line per figure to build/bench/results.jsonl.
 * PLAIT_IO_BENCH_MB sets the checkpoint size (default 256). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "io/plait_io.h"

#define REPS    3 /* asynchronous checkpoints (each spans several steps) */
#define IO_REPS 7 /* synchronous saves and restores, against their anchors */
#define WARMUP  2
#define TENSORS 8

static const char *bench_dir = "build/bench/io";
static FILE *results;

static void emit(const char *metric, double value, const char *unit, const char *anchor,
                 double anchor_value, double ratio, const char *goal)
{
    bench_emit(results, "io", metric, value, unit, anchor, anchor_value, ratio, goal);
    bench_emit(stdout, "io", metric, value, unit, anchor, anchor_value, ratio, goal);
}

/* Drops a file's clean pages so the next read comes from the disk. */
static void evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static void evict_dir(const char *dir, int nshards)
{
    char p[512];
    for (int i = 0; i < nshards; i++) {
        snprintf(p, sizeof p, "%s/shard-%05d.h5", dir, i);
        evict(p);
    }
    snprintf(p, sizeof p, "%s/manifest.h5", dir);
    evict(p);
}

/* Writes of 8 MiB, then fsync: 1 MiB pieces measured the same, 32 MiB slower. */
static double raw_write(const char *path, const char *buf, size_t bytes)
{
    double t0 = bench_now();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off < ((size_t)8 << 20) ? bytes - off : (size_t)8 << 20;
        ssize_t w = write(fd, buf + off, n);
        if (w <= 0)
            exit(1);
        off += (size_t)w;
    }
    fsync(fd);
    close(fd);
    return bench_now() - t0;
}

/* One read of the whole file: of the plain ways tried (pieces of 1-64 MiB,
 * posix_fadvise SEQUENTIAL or WILLNEED), the fastest here. */
static double raw_read(const char *path, char *buf, size_t bytes)
{
    evict(path);
    double t0 = bench_now();
    int fd = open(path, O_RDONLY);
    size_t off = 0;
    for (ssize_t r; off < bytes && (r = read(fd, buf + off, bytes - off)) > 0;)
        off += (size_t)r;
    close(fd);
    return bench_now() - t0;
}

struct model {
    float *t[TENSORS];
    size_t elems;
    plait_ckpt_writer *w;
};

static void register_model(struct model *m, const char *dir, size_t total_bytes, int deferred)
{
    char err[PLAIT_IO_ERRLEN];
    struct plait_ckpt_config cfg = {.dir = dir, .keep = 2, .deferred_snapshot = deferred};
    m->w = plait_ckpt_writer_open(&cfg, err);
    if (!m->w) {
        fprintf(stderr, "io_bench: %s\n", err);
        exit(1);
    }
    m->elems = total_bytes / TENSORS / sizeof(float);
    for (int i = 0; i < TENSORS; i++) {
        m->t[i] = malloc(m->elems * sizeof(float));
        for (size_t k = 0; k < m->elems; k++)
            m->t[i][k] = (float)(k * 7 + (size_t)i);
        char name[32];
        snprintf(name, sizeof name, "layer%d/w", i);
        struct plait_tensor_slice s = {.name = name,
                                       .dtype = PLAIT_F32,
                                       .ndim = 1,
                                       .global_shape = {(int64_t)m->elems},
                                       .extent = {(int64_t)m->elems},
                                       .data = m->t[i]};
        if (plait_ckpt_register(m->w, &s) != 0) {
            fprintf(stderr, "io_bench: %s\n", plait_ckpt_writer_error(m->w));
            exit(1);
        }
    }
}

static void load_latest(const char *dir, struct plait_tensor_slice *want)
{
    plait_ckpt_reader *rd;
    char err[PLAIT_IO_ERRLEN];
    if (plait_ckpt_load_into(dir, NULL, want, TENSORS, &rd, err) != 1) {
        fprintf(stderr, "io_bench: load: %s\n", err);
        exit(1);
    }
    plait_ckpt_reader_close(rd);
}

static void bench_write_and_restore(size_t bytes)
{
    char dir[256], raw[256];
    snprintf(dir, sizeof dir, "%s/ckpt", bench_dir);
    snprintf(raw, sizeof raw, "%s/raw.bin", bench_dir);
    struct model m;
    register_model(&m, dir, bytes, 0);
    size_t total = m.elems * sizeof(float) * TENSORS;
    char *buf = malloc(total);
    memset(buf, 1, total);
    double tw[IO_REPS], tr[IO_REPS], tc[IO_REPS], tl[IO_REPS], wratio[IO_REPS], rratio[IO_REPS];
    /* Steady state, as in training: retention frees the page cache of old
     * checkpoints as new ones are written, and the raw file is rewritten. */
    for (int r = -WARMUP; r < IO_REPS; r++) {
        double t_raw = 0, t_ck = 0;
        for (int k = 0; k < 2; k++) {
            if ((k + r) % 2 == 0) {
                t_raw = raw_write(raw, buf, total);
                continue;
            }
            struct plait_ckpt_meta meta = {.step = r + WARMUP + 1, .dp = 1, .tp = 1, .pp = 1};
            double t0 = bench_now();
            if (plait_ckpt_save(m.w, &meta) != 0) {
                fprintf(stderr, "io_bench: %s\n", plait_ckpt_writer_error(m.w));
                exit(1);
            }
            t_ck = bench_now() - t0;
        }
        if (r >= 0) {
            tc[r] = t_ck;
            tr[r] = t_raw;
            wratio[r] = t_raw / t_ck;
        }
    }
    struct plait_tensor_slice want[TENSORS];
    char names[TENSORS][32], step[300];
    for (int i = 0; i < TENSORS; i++) {
        snprintf(names[i], sizeof names[i], "layer%d/w", i);
        want[i] = (struct plait_tensor_slice){.name = names[i],
                                              .dtype = PLAIT_F32,
                                              .ndim = 1,
                                              .global_shape = {(int64_t)m.elems},
                                              .extent = {(int64_t)m.elems},
                                              .data = buf + (size_t)i * m.elems * sizeof(float)};
    }
    snprintf(step, sizeof step, "%s/step-%08d", dir, IO_REPS + WARMUP);
    for (int r = 0; r < IO_REPS; r++) {
        for (int k = 0; k < 2; k++) {
            if ((k + r) % 2 == 0) {
                tw[r] = raw_read(raw, buf, total);
                continue;
            }
            evict_dir(step, 1);
            double t0 = bench_now();
            load_latest(dir, want);
            tl[r] = bench_now() - t0;
        }
        rratio[r] = tw[r] / tl[r];
    }
    double mb = (double)total / 1e6;
    double w_raw = mb / bench_median(tr, IO_REPS), w_ck = mb / bench_median(tc, IO_REPS);
    double r_raw = mb / bench_median(tw, IO_REPS), r_ck = mb / bench_median(tl, IO_REPS);
    emit("ckpt_write_bandwidth", w_ck, "MB/s", "raw write+fsync", w_raw,
         bench_median(wratio, IO_REPS), ">=0.9");
    emit("ckpt_restore_bandwidth", r_ck, "MB/s", "raw read (cold page cache)", r_raw,
         bench_median(rratio, IO_REPS), ">=0.9");
    plait_ckpt_writer_close(m.w);
    for (int i = 0; i < TENSORS; i++)
        free(m.t[i]);
    free(buf);
    unlink(raw);
}

/* A training step: a fixed amount of arithmetic on a cache-resident array. */
static double compute_step(float *a, size_t n, int iters)
{
    double t0 = bench_now();
    for (int it = 0; it < iters; it++)
        for (size_t i = 0; i < n; i++)
            a[i] = a[i] * 0.999f + 0.001f;
    return bench_now() - t0;
}

static void bench_async_stall(size_t bytes)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/async", bench_dir);
    struct model m;
    register_model(&m, dir, bytes, 1);
    enum { N = 4096, BASE = 8 };
    static float a[N];
    int iters = 1;
    while (compute_step(a, N, iters) < 0.5) /* about half a second per step */
        iters *= 2;
    double base[BASE];
    for (int i = 0; i < BASE; i++)
        base[i] = compute_step(a, N, iters);
    double step = bench_median(base, BASE);
    double blocked[REPS], slowdown[REPS];
    for (int r = -WARMUP; r < REPS; r++) {
        /* The machine is shared: the baseline is the steps right before
         * and after each checkpoint window, not one figure for the run. */
        double plain = 0;
        for (int i = 0; i < 2; i++)
            plain += compute_step(a, N, iters);
        struct plait_ckpt_meta meta = {.step = r + WARMUP + 1, .dp = 1, .tp = 1, .pp = 1};
        double t0 = bench_now();
        if (plait_ckpt_save_async(m.w, &meta) != 0)
            exit(1);
        double in_calls = bench_now() - t0, computing = 0;
        int steps = 0, c;
        do {
            /* Forward and backward overlap the snapshot; the optimizer
             * update must wait for it. */
            computing += compute_step(a, N, iters);
            steps++;
            double tc = bench_now();
            if (plait_ckpt_wait_snapshot(m.w) != 0)
                exit(1);
            c = plait_ckpt_commit(m.w, 0);
            in_calls += bench_now() - tc;
        } while (c == 0);
        if (c < 0)
            exit(1);
        for (int i = 0; i < 2; i++)
            plain += compute_step(a, N, iters);
        if (r >= 0) {
            blocked[r] = in_calls;
            slowdown[r] = computing / steps - plain / 4;
        }
    }
    double stall = bench_median(blocked, REPS);
    emit("async_ckpt_stall", stall, "s per checkpoint", "step time (s)", step, stall / step,
         "<0.05");
    double slow = bench_median(slowdown, REPS);
    /* The writer thread's copy and CRC share the compute loop's two cores:
     * reported, with no goal (the goal is the stall above). */
    emit("async_ckpt_step_slowdown", slow, "s per step while writing", "step time (s)", step,
         slow / step, "as low as possible (no goal)");
    printf(
        "# async: %.0f MB per checkpoint, deferred snapshot; stall = time in save_async, "
        "wait_snapshot and commit; slowdown = extra compute time per step while the writer runs\n",
        (double)bytes / 1e6);
    plait_ckpt_writer_close(m.w);
    for (int i = 0; i < TENSORS; i++)
        free(m.t[i]);
}

static void bench_dataset(void)
{
    enum { T = 1024, B = 8, STEPS = 400 };
    size_t ntok = (size_t)64 << 20; /* 128 MiB of uint16 tokens */
    char raw[256], h5[256], err[PLAIT_IO_ERRLEN];
    snprintf(raw, sizeof raw, "%s/tokens.u16", bench_dir);
    snprintf(h5, sizeof h5, "%s/tokens.h5", bench_dir);
    uint16_t *tok = malloc(ntok * 2);
    for (size_t i = 0; i < ntok; i++)
        tok[i] = (uint16_t)(i * 2654435761u >> 16);
    raw_write(raw, (const char *)tok, ntok * 2);
    free(tok);
    const char *inputs[] = {raw};
    struct plait_data_build_config bc = {
        .out_path = h5, .inputs = inputs, .n_inputs = 1, .format = PLAIT_TOKENS_U16};
    if (plait_data_build(&bc, err) != 0) {
        fprintf(stderr, "io_bench: %s\n", err);
        exit(1);
    }
    struct plait_loader_config lc = {
        .path = h5, .seq_len = T, .batch = B, .dp_size = 1, .seed = 1, .prefetch = 4};
    plait_loader *l = plait_loader_open(&lc, err);
    if (!l) {
        fprintf(stderr, "io_bench: %s\n", err);
        exit(1);
    }
    int32_t *in = malloc(sizeof(int32_t) * B * T), *tg = malloc(sizeof(int32_t) * B * T);
    int32_t *rows = malloc(sizeof(int32_t) * B * (T + 1));
    uint16_t *row16 = malloc(2 * (T + 1));
    /* Warm the page cache for both: a dataset that fits in memory. */
    for (int s = 0; s < STEPS; s++)
        plait_loader_next(l, in, tg);
    double t0 = bench_now();
    for (int s = 0; s < STEPS; s++)
        plait_loader_next(l, in, tg);
    double tl = bench_now() - t0;
    /* Raw: the same number of random samples with pread, widened. */
    int fd = open(raw, O_RDONLY);
    uint64_t nsamples = (ntok - 1) / T, x = 88172645463325252ull;
    t0 = bench_now();
    for (int s = 0; s < STEPS; s++)
        for (int b = 0; b < B; b++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            off_t off = (off_t)((x % nsamples) * T * 2);
            if (pread(fd, row16, 2 * (T + 1), off) != 2 * (T + 1))
                exit(1);
            for (int k = 0; k <= T; k++)
                rows[b * (T + 1) + k] = row16[k];
        }
    double tr = bench_now() - t0;
    close(fd);
    double toks = (double)STEPS * B * (T + 1);
    emit("dataset_read_throughput", toks / tl / 1e6, "Mtokens/s",
         "raw pread of the same samples (warm page cache)", toks / tr / 1e6, tr / tl,
         "near 1 (no goal)");
    printf("# loader stall over %d steps: %.3f s\n", 2 * STEPS, plait_loader_stats(l).stall_s);
    plait_loader_close(l);
    free(in);
    free(tg);
    free(rows);
    free(row16);
    unlink(raw);
    unlink(h5);
}

int main(void)
{
    const char *mb_env = getenv("PLAIT_IO_BENCH_MB");
    size_t bytes = (size_t)(mb_env ? atol(mb_env) : 256) << 20;
    if (bytes == 0) {
        fprintf(stderr, "io_bench: PLAIT_IO_BENCH_MB='%s': expected a positive integer\n", mb_env);
        return 2;
    }
    mkdir("build/bench", 0755);
    mkdir(bench_dir, 0755);
    results = bench_results_open("io_bench");
    if (!results)
        return 1;
    double load[3];
    if (getloadavg(load, 3) == 3)
        printf("# load average before: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    bench_write_and_restore(bytes);
    bench_async_stall(bytes);
    bench_dataset();
    if (getloadavg(load, 3) == 3)
        printf("# load average after: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    fclose(results);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_dir);
    return system(cmd) == 0 ? 0 : 1;
}
