/* Checkpoints: round trip, async snapshot, resharding, corruption and
 * fallback, retention, leftovers of killed writers, bad input. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/ckpt_internal.h"
#include "tests/check.h"
#include "tests/io/thread_comm.h"

#define ROWS 6
#define COLS 10

static char root[256];

static float value(int64_t step, int i, int j)
{
    return (float)(step * 100 + i * COLS + j);
}

static int exists(const char *fmt, const char *a)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, fmt, a);
    return stat(p, &st) == 0;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static struct plait_tensor_slice matrix_slice(float *data, int row0, int rows)
{
    return (struct plait_tensor_slice){.name = "layer0/w",
                                       .dtype = PLAIT_F32,
                                       .ndim = 2,
                                       .global_shape = {ROWS, COLS},
                                       .offset = {row0, 0},
                                       .extent = {rows, COLS},
                                       .data = data};
}

/* One rank's save: rows split evenly, a replicated vector, a blob. */
struct save_args {
    const char *dir;
    int64_t step;
    int keep;
    int fail_rank; /* this rank's copy_to_host fails; -1: none */
    int async;     /* 0 save, 1 save_async, 2 save_async with a deferred snapshot */
    int rc[8];
};

static int failing_copy(void *dst, const void *src, size_t bytes, void *ctx)
{
    (void)dst, (void)src, (void)bytes, (void)ctx;
    return -1;
}

static int save_rank(struct thread_rank *tr, void *p)
{
    struct save_args *a = p;
    struct plait_io_comm comm = thread_comm(tr);
    int rank = comm.rank, rows = ROWS / comm.size;
    char err[PLAIT_IO_ERRLEN];
    struct plait_ckpt_config cfg = {.dir = a->dir, .keep = a->keep, .comm = &comm};
    if (rank == a->fail_rank)
        cfg.copy_to_host = failing_copy;
    cfg.deferred_snapshot = a->async == 2;
    plait_ckpt_writer *w = plait_ckpt_writer_open(&cfg, err);
    if (!w) {
        fprintf(stderr, "writer_open: %s\n", err);
        return 1;
    }
    float m[ROWS * COLS];
    int32_t vec[4];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < COLS; j++)
            m[i * COLS + j] = value(a->step, rank * rows + i, j);
    for (int i = 0; i < 4; i++)
        vec[i] = (int32_t)(a->step + i);
    struct plait_tensor_slice ms = matrix_slice(m, rank * rows, rows);
    struct plait_tensor_slice vs = {.name = "bias",
                                    .dtype = PLAIT_I32,
                                    .ndim = 1,
                                    .global_shape = {4},
                                    .extent = {4},
                                    .data = vec};
    char rng[32];
    snprintf(rng, sizeof rng, "rng-of-rank-%d", rank);
    int rc = plait_ckpt_register(w, &ms) || plait_ckpt_register(w, &vs) ||
             plait_ckpt_set_blob(w, "rng", rng, strlen(rng) + 1);
    struct plait_ckpt_meta meta = {
        .step = a->step, .dp = comm.size, .tp = 1, .pp = 1, .loader = {2, (uint64_t)a->step * 8}};
    if (!rc && a->async) {
        rc = plait_ckpt_save_async(w, &meta);
        if (!rc && plait_ckpt_wait_snapshot(w) != 0) {
            CHECK_INT_EQ(rank, a->fail_rank);
            CHECK_STR_CONTAINS(plait_ckpt_writer_error(w), "copy_to_host");
        }
        /* Training goes on: the snapshot must not see this. */
        for (int i = 0; i < rows * COLS; i++)
            m[i] = -1;
        int c;
        while (!rc && (c = plait_ckpt_commit(w, 0)) == 0)
            usleep(1000);
        rc = rc || c != 1;
    } else if (!rc) {
        rc = plait_ckpt_save(w, &meta);
    }
    a->rc[rank] = rc;
    if (rc && a->fail_rank < 0)
        fprintf(stderr, "rank %d save: %s\n", rank, plait_ckpt_writer_error(w));
    if (rc && a->fail_rank >= 0) {
        char why[80];
        snprintf(why, sizeof why, "rank %d failed to write its shard: copy_to_host", a->fail_rank);
        CHECK_STR_CONTAINS(plait_ckpt_writer_error(w), rank == a->fail_rank ? "copy_to_host" : why);
    }
    plait_ckpt_writer_close(w);
    return rc;
}

static int save(const char *dir, int ranks, int64_t step, int keep, int async)
{
    struct save_args a = {.dir = dir, .step = step, .keep = keep, .fail_rank = -1, .async = async};
    return thread_run(ranks, save_rank, &a);
}

/* Reads a column block of the matrix as rank r of `size` and checks it. */
struct load_args {
    const char *dir;
    int64_t want_step;
    int bad;
};

static int load_rank(struct thread_rank *tr, void *p)
{
    struct load_args *a = p;
    struct plait_io_comm comm = thread_comm(tr);
    plait_ckpt_reader *r;
    char err[PLAIT_IO_ERRLEN];
    int found = plait_ckpt_load(a->dir, &comm, &r, err);
    if (found != 1) {
        fprintf(stderr, "rank %d: load returned %d: %s\n", comm.rank, found, err);
        a->bad++;
        return 1;
    }
    const struct plait_ckpt_meta *m = plait_ckpt_reader_meta(r);
    int ok = m->step == a->want_step && m->loader.epoch == 2 &&
             m->loader.index == (uint64_t)a->want_step * 8;
    int c0 = comm.rank * COLS / comm.size, c1 = (comm.rank + 1) * COLS / comm.size;
    float got[ROWS * COLS];
    struct plait_tensor_slice want = {.name = "layer0/w",
                                      .dtype = PLAIT_F32,
                                      .ndim = 2,
                                      .global_shape = {ROWS, COLS},
                                      .offset = {0, c0},
                                      .extent = {ROWS, c1 - c0},
                                      .data = got};
    if (plait_ckpt_read(r, &want) != 0) {
        fprintf(stderr, "read: %s\n", plait_ckpt_reader_error(r));
        ok = 0;
    }
    for (int i = 0; ok && i < ROWS; i++)
        for (int j = c0; j < c1; j++)
            ok = got[i * (c1 - c0) + (j - c0)] == value(a->want_step, i, j);
    int32_t vec[4] = {0};
    struct plait_tensor_slice vs = {.name = "bias",
                                    .dtype = PLAIT_I32,
                                    .ndim = 1,
                                    .global_shape = {4},
                                    .extent = {4},
                                    .data = vec};
    ok = ok && plait_ckpt_read(r, &vs) == 0 && vec[3] == a->want_step + 3;
    char rng[32] = "";
    int shard = comm.rank % plait_ckpt_reader_nshards(r);
    long n = plait_ckpt_read_blob(r, "rng", shard, rng, sizeof rng);
    char expect[32];
    snprintf(expect, sizeof expect, "rng-of-rank-%d", shard);
    ok = ok && n == (long)strlen(expect) + 1 && !strcmp(rng, expect);
    plait_ckpt_reader_close(r);
    if (!ok) {
        fprintf(stderr, "rank %d of %d: wrong content for step %lld\n", comm.rank, comm.size,
                (long long)a->want_step);
        a->bad++;
    }
    return !ok;
}

static int load_as(const char *dir, int ranks, int64_t want_step)
{
    struct load_args a = {.dir = dir, .want_step = want_step};
    return thread_run(ranks, load_rank, &a);
}

/* load_into with this rank's own row block (the saving layout): the
 * verification comes from the blocks read. */
static int load_into_rank(struct thread_rank *tr, void *p)
{
    struct load_args *a = p;
    struct plait_io_comm comm = thread_comm(tr);
    int rows = ROWS / comm.size;
    float got[ROWS * COLS];
    int32_t vec[4];
    struct plait_tensor_slice want[2] = {matrix_slice(got, comm.rank * rows, rows),
                                         {.name = "bias",
                                          .dtype = PLAIT_I32,
                                          .ndim = 1,
                                          .global_shape = {4},
                                          .extent = {4},
                                          .data = vec}};
    plait_ckpt_reader *r;
    char err[PLAIT_IO_ERRLEN];
    if (plait_ckpt_load_into(a->dir, &comm, want, 2, &r, err) != 1) {
        fprintf(stderr, "rank %d: load_into: %s\n", comm.rank, err);
        a->bad++;
        return 1;
    }
    int ok = plait_ckpt_reader_meta(r)->step == a->want_step && vec[2] == a->want_step + 2;
    for (int i = 0; ok && i < rows; i++)
        for (int j = 0; j < COLS; j++)
            ok = ok && got[i * COLS + j] == value(a->want_step, comm.rank * rows + i, j);
    plait_ckpt_reader_close(r);
    return !ok;
}

static void flip_byte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    struct stat st;
    fstat(fd, &st);
    if (at < 0)
        at = st.st_size / 2;
    CHECK(pread(fd, &b, 1, at) == 1);
    b ^= 0x10;
    CHECK(pwrite(fd, &b, 1, at) == 1);
    close(fd);
}

static void test_round_trip_and_resharding(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/reshard", root);
    CHECK_INT_EQ(save(dir, 2, 7, 3, 0), 0);
    CHECK(exists("%s/step-00000007/manifest.h5", dir));
    CHECK(exists("%s/step-00000007/shard-00001.h5", dir));
    char err[PLAIT_IO_ERRLEN];
    CHECK_INT_EQ(plait_ckpt_verify(strcat(strcpy((char[400]){0}, dir), "/step-00000007"), err), 0);
    CHECK_INT_EQ(load_as(dir, 1, 7), 0); /* written as 2 row blocks, read whole */
    CHECK_INT_EQ(load_as(dir, 3, 7), 0); /* read as 3 column blocks */
    CHECK_INT_EQ(load_as(dir, 2, 7), 0);
}

static void test_async_snapshot(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/async", root);
    CHECK_INT_EQ(save(dir, 2, 3, 3, 1), 0);
    CHECK_INT_EQ(load_as(dir, 1, 3), 0);
    CHECK_INT_EQ(save(dir, 2, 4, 3, 2), 0);
    CHECK_INT_EQ(load_as(dir, 2, 4), 0);
    /* A deferred snapshot that fails fails the save on every rank. */
    struct save_args a = {.dir = dir, .step = 5, .keep = 3, .fail_rank = 0, .async = 2};
    CHECK_INT_EQ(thread_run(2, save_rank, &a), 2);
    CHECK_INT_EQ(load_as(dir, 3, 4), 0);
}

static void test_corruption_falls_back(void)
{
    char dir[300], step[400], shard[500], err[PLAIT_IO_ERRLEN];
    snprintf(dir, sizeof dir, "%s/corrupt", root);
    CHECK_INT_EQ(save(dir, 2, 10, 3, 0), 0);
    CHECK_INT_EQ(save(dir, 2, 20, 3, 0), 0);
    snprintf(step, sizeof step, "%s/step-00000020", dir);
    snprintf(shard, sizeof shard, "%s/shard-00001.h5", step);
    flip_byte(shard, -1);
    CHECK_INT_EQ(plait_ckpt_verify(step, err), -1);
    CHECK_STR_CONTAINS(err, "shard-00001.h5");
    CHECK_STR_CONTAINS(err, "CRC32C");
    CHECK_INT_EQ(load_as(dir, 2, 10), 0);
    CHECK_INT_EQ(load_as(dir, 1, 10), 0);

    /* A missing shard and a missing manifest are just as unusable. */
    CHECK_INT_EQ(save(dir, 2, 30, 5, 0), 0);
    snprintf(shard, sizeof shard, "%s/step-00000030/shard-00000.h5", dir);
    unlink(shard);
    CHECK_INT_EQ(plait_ckpt_verify(strcat(strcpy(step, dir), "/step-00000030"), err), -1);
    CHECK_STR_CONTAINS(err, "shard-00000.h5 is missing");
    CHECK_INT_EQ(save(dir, 1, 40, 5, 0), 0);
    snprintf(shard, sizeof shard, "%s/step-00000040/manifest.h5", dir);
    unlink(shard);
    /* A manifest is checked against its seal before it is parsed. */
    CHECK_INT_EQ(save(dir, 2, 50, 6, 0), 0);
    snprintf(shard, sizeof shard, "%s/step-00000050/manifest.h5", dir);
    flip_byte(shard, -1);
    CHECK_INT_EQ(plait_ckpt_verify(strcat(strcpy(step, dir), "/step-00000050"), err), -1);
    CHECK_STR_CONTAINS(err, "manifest.h5 has CRC32C");
    CHECK_INT_EQ(load_as(dir, 3, 10), 0);
}

static void test_load_into(void)
{
    char dir[300], shard[500];
    snprintf(dir, sizeof dir, "%s/into", root);
    CHECK_INT_EQ(save(dir, 2, 10, 3, 0), 0);
    CHECK_INT_EQ(save(dir, 2, 20, 3, 1), 0);
    struct load_args a = {.dir = dir, .want_step = 20};
    CHECK_INT_EQ(thread_run(2, load_into_rank, &a), 0);
    /* Damage in tensor bytes and in HDF5 metadata is found either way. */
    snprintf(shard, sizeof shard, "%s/step-00000020/shard-00000.h5", dir);
    flip_byte(shard, -1);
    a.want_step = 10;
    CHECK_INT_EQ(thread_run(2, load_into_rank, &a), 0);
    CHECK_INT_EQ(save(dir, 2, 30, 3, 0), 0);
    snprintf(shard, sizeof shard, "%s/step-00000030/shard-00001.h5", dir);
    hid_t f = H5Fopen(shard, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "tensors/layer0/w", H5P_DEFAULT);
    haddr_t at = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    CHECK(at != HADDR_UNDEF);
    flip_byte(shard, (long)at + 5); /* a tensor byte, seen only in the blocks read */
    CHECK_INT_EQ(thread_run(2, load_into_rank, &a), 0);
    CHECK_INT_EQ(thread_run(1, load_into_rank, &a), 0); /* another layout */
}

static int count_steps(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, "step-", 5);
    if (d)
        closedir(d);
    return n;
}

static void test_retention(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/retain", root);
    for (int s = 1; s <= 5; s++)
        CHECK_INT_EQ(save(dir, 1, s, 2, 0), 0);
    CHECK_INT_EQ(count_steps(dir), 2);
    CHECK(exists("%s/step-00000004", dir) && exists("%s/step-00000005", dir));
    char latest[400], line[64] = "";
    snprintf(latest, sizeof latest, "%s/latest", dir);
    FILE *f = fopen(latest, "r");
    CHECK(f && fgets(line, sizeof line, f));
    if (f)
        fclose(f);
    CHECK_STR_EQ(line, "step-00000005\n");

    /* Resumed from step 4 (say 5 was bad), the run saves step 5 again and
     * then 6: the old 5 is replaced, never both lost. */
    CHECK_INT_EQ(save(dir, 1, 5, 2, 0), 0);
    CHECK_INT_EQ(load_as(dir, 1, 5), 0);
    CHECK_INT_EQ(save(dir, 1, 3, 2, 0), 0); /* steps beyond 3 are abandoned */
    CHECK_INT_EQ(count_steps(dir), 1);
    CHECK_INT_EQ(load_as(dir, 1, 3), 0);

    /* keep=1 still keeps the one just committed. */
    CHECK_INT_EQ(save(dir, 1, 9, 1, 0), 0);
    CHECK_INT_EQ(count_steps(dir), 1);
    CHECK_INT_EQ(load_as(dir, 1, 9), 0);
}

static void test_leftovers_and_failed_rank(void)
{
    char dir[300], junk[400];
    snprintf(dir, sizeof dir, "%s/leftover", root);
    CHECK_INT_EQ(save(dir, 2, 1, 3, 0), 0);
    /* A writer killed mid-save leaves a temporary directory: never loaded,
     * removed by the next writer. */
    snprintf(junk, sizeof junk, "%s/.tmp-step-00000002", dir);
    CHECK(mkdir(junk, 0755) == 0);
    CHECK_INT_EQ(load_as(dir, 2, 1), 0);
    struct save_args a = {.dir = dir, .step = 2, .keep = 3, .fail_rank = 1};
    CHECK_INT_EQ(thread_run(2, save_rank, &a), 2); /* both ranks report the failure */
    CHECK(!exists("%s/.tmp-step-00000002", dir));
    CHECK(!exists("%s/step-00000002", dir));
    CHECK_INT_EQ(load_as(dir, 2, 1), 0);
}

static void test_bad_input(void)
{
    char dir[300], err[PLAIT_IO_ERRLEN];
    snprintf(dir, sizeof dir, "%s/bad", root);
    plait_ckpt_reader *r = NULL;
    CHECK_INT_EQ(plait_ckpt_load(dir, NULL, &r, err), 0); /* nothing there */
    CHECK(r == NULL);
    struct plait_ckpt_config cfg = {.dir = dir};
    plait_ckpt_writer *w = plait_ckpt_writer_open(&cfg, err);
    CHECK(w != NULL);
    float x[4] = {1, 2, 3, 4};
    struct plait_tensor_slice t = {.name = "h/../w",
                                   .dtype = PLAIT_F32,
                                   .ndim = 1,
                                   .global_shape = {4},
                                   .extent = {4},
                                   .data = x};
    CHECK_INT_EQ(plait_ckpt_register(w, &t), -1);
    CHECK_STR_CONTAINS(plait_ckpt_writer_error(w), "h/../w");
    t.name = "h//w";
    CHECK_INT_EQ(plait_ckpt_register(w, &t), -1);
    t.name = "h/";
    CHECK_INT_EQ(plait_ckpt_register(w, &t), -1);
    t.name = "h\nw";
    CHECK_INT_EQ(plait_ckpt_register(w, &t), -1);
    t.name = "h.0.attn.weight";
    t.extent[0] = 5;
    CHECK_INT_EQ(plait_ckpt_register(w, &t), -1);
    CHECK_STR_CONTAINS(plait_ckpt_writer_error(w), "extent 5");
    t.extent[0] = 2; /* covers half the tensor: the commit must refuse it */
    CHECK_INT_EQ(plait_ckpt_register(w, &t), 0);
    struct plait_ckpt_meta meta = {.step = 1, .dp = 1, .tp = 1, .pp = 1};
    CHECK_INT_EQ(plait_ckpt_save(w, &meta), -1);
    CHECK_STR_CONTAINS(plait_ckpt_writer_error(w), "hold 2 of its 4 elements");
    plait_ckpt_writer_close(w);
    CHECK_INT_EQ(plait_ckpt_load(dir, NULL, &r, err), 0);

    CHECK_INT_EQ(save(dir, 1, 2, 3, 0), 0);
    CHECK_INT_EQ(plait_ckpt_load(dir, NULL, &r, err), 1);
    float m[ROWS * COLS];
    struct plait_tensor_slice want = matrix_slice(m, 0, ROWS);
    want.global_shape[1] = COLS + 1;
    CHECK_INT_EQ(plait_ckpt_read(r, &want), -1);
    CHECK_STR_CONTAINS(plait_ckpt_reader_error(r), "layer0/w");
    want = matrix_slice(m, 0, ROWS);
    want.name = "nope";
    CHECK_INT_EQ(plait_ckpt_read(r, &want), -1);
    CHECK_STR_CONTAINS(plait_ckpt_reader_error(r), "no tensor 'nope'");
    CHECK_INT_EQ(plait_ckpt_read_blob(r, "nope", 0, m, sizeof m), -1);
    plait_ckpt_reader_close(r);
}

static int open_unwritable(struct thread_rank *tr, void *dir)
{
    struct plait_io_comm comm = thread_comm(tr);
    char err[PLAIT_IO_ERRLEN], want[400];
    struct plait_ckpt_config cfg = {.dir = dir, .comm = &comm};
    plait_ckpt_writer *w = plait_ckpt_writer_open(&cfg, err);
    snprintf(want, sizeof want, "checkpoint directory '%s' is not writable: Permission denied",
             (const char *)dir);
    if (!w && strcmp(err, want) == 0)
        return 0;
    fprintf(stderr, "rank %d, unwritable directory: %s\n", comm.rank, w ? "accepted" : err);
    return 1;
}

/* A checkpoint directory that exists but cannot be written is refused when
 * the writer opens, before any training, not at the first save, and every
 * rank has rank 0's reason. Root writes anywhere: the writer then runs as
 * nobody in a child. */
static void test_unwritable_dir(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/readonly", root);
    CHECK(mkdir(dir, 0755) == 0 && chmod(dir, 0555) == 0 && chmod(root, 0755) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        _exit(thread_run(2, open_unwritable, dir));
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK(chmod(dir, 0755) == 0);
}

static int save_too_large(struct thread_rank *tr, void *dir)
{
    struct plait_io_comm comm = thread_comm(tr);
    char err[PLAIT_IO_ERRLEN];
    struct plait_ckpt_config cfg = {.dir = dir, .comm = &comm};
    plait_ckpt_writer *w = plait_ckpt_writer_open(&cfg, err);
    float m[ROWS * COLS] = {0};
    struct plait_tensor_slice ms = matrix_slice(m, 0, ROWS);
    struct plait_ckpt_meta meta = {.step = 1, .dp = 1, .tp = 1, .pp = 1};
    int rc = !w || plait_ckpt_register(w, &ms) != 0 || plait_ckpt_save(w, &meta) != -1;
    if (!rc && !strstr(plait_ckpt_writer_error(w), "File too large")) {
        fprintf(stderr, "save past the file-size limit: '%s'\n", plait_ckpt_writer_error(w));
        rc = 1;
    }
    plait_ckpt_writer_close(w);
    return rc;
}

/* A save whose files cannot be written (here past RLIMIT_FSIZE; a full disk
 * fails the same calls) fails with the system's reason, leaves no
 * checkpoint, and the process still exits normally: HDF5 1.10's exit
 * handler crashed on a file whose close had failed. */
static void test_file_size_limit(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/too-large", root);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit one_page = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &one_page) != 0)
            _exit(3);
        exit(thread_run(1, save_too_large, dir)); /* exit, not _exit: the handlers run */
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    CHECK(!exists("%s/latest", dir));
}

/* Replaces the table `name` of step_dir's manifest by a rank-1 or rank-2
 * one of type from data (NULL: none written, read back as zeros: a hostile
 * manifest needs no bytes to claim any length) and reseals it. */
static void forge_table(const char *step_dir, const char *name, hid_t type, int rank,
                        const hsize_t *dims, const void *data)
{
    char path[600], err[PLAIT_IO_ERRLEN];
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, step_dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    CHECK(f >= 0 && H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && (!data || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0));
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
    CHECK_INT_EQ(ckpt_manifest_seal(step_dir, err), 0);
}

/* Found by fuzz_manifest: manifests whose tables, sealed as the writer
 * would, claim what the file cannot hold. */
static void test_hostile_manifest(void)
{
    char dir[300], step[400], err[PLAIT_IO_ERRLEN];
    snprintf(dir, sizeof dir, "%s/hostile", root);
    snprintf(step, sizeof step, "%s/step-00000001", dir);
    /* 2^40 regions: were allocated (4 TiB each table) before any check. */
    CHECK_INT_EQ(save(dir, 2, 1, 3, 0), 0);
    hsize_t huge = (hsize_t)1 << 40, two = 2;
    forge_table(step, "regions/shard", H5T_NATIVE_INT32, 1, &huge, NULL);
    CHECK(plait_ckpt_open(step, err) == NULL);
    CHECK_STR_CONTAINS(err, "is damaged");
    rm_rf(dir);
    /* A shard named out of the directory (and with a newline, which went
     * into plait_ckpt_verify's message). */
    CHECK_INT_EQ(save(dir, 2, 1, 3, 0), 0);
    char names[2][IO_NAME_LEN] = {"shard-00000.h5", "../x\n"};
    hid_t type = io_name_type();
    forge_table(step, "shards/file", type, 1, &two, names);
    CHECK(plait_ckpt_open(step, err) == NULL);
    CHECK_STR_CONTAINS(err, "is damaged");
    rm_rf(dir);
    /* A tensor name the writer would refuse (a newline went into messages). */
    CHECK_INT_EQ(save(dir, 2, 1, 3, 0), 0);
    char tensors[2][IO_NAME_LEN] = {"layer0/w\n", "bias"};
    forge_table(step, "tensors/name", type, 1, &two, tensors);
    H5Tclose(type);
    CHECK(plait_ckpt_open(step, err) == NULL);
    CHECK_STR_CONTAINS(err, "is damaged");
    rm_rf(dir);
    /* A slice from 2^62 for 2^62 rows: its end overflowed int64_t in the
     * reader (UBSan); slices must lie inside their tensor. */
    CHECK_INT_EQ(save(dir, 2, 1, 3, 0), 0);
    struct ckpt_manifest m;
    CHECK_INT_EQ(ckpt_manifest_read(&m, step, err), 0);
    int nslices = m.nslices;
    ckpt_manifest_free(&m);
    int64_t(*wide)[PLAIT_IO_MAX_DIMS] = calloc((size_t)nslices + 1, sizeof *wide);
    wide[0][0] = (int64_t)1 << 62;
    hsize_t dims[2] = {(hsize_t)nslices, PLAIT_IO_MAX_DIMS};
    forge_table(step, "slices/offset", H5T_NATIVE_INT64, 2, dims, wide);
    forge_table(step, "slices/extent", H5T_NATIVE_INT64, 2, dims, wide);
    free(wide);
    CHECK(plait_ckpt_open(step, err) == NULL);
    CHECK_STR_CONTAINS(err, "is damaged");
    rm_rf(dir);
}

/* The checksum itself: the standard check value, and the chaining of
 * pieces and combination of parts (blocks, tensor regions) equal to one
 * pass. */
static void test_crc32c(void)
{
    CHECK_INT_EQ(io_crc32c(0, "123456789", 9), 0xe3069283u);
    CHECK_INT_EQ(io_crc32c(io_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    size_t n = ((size_t)20 << 20) + 13;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    uint32_t whole = io_crc32c(0, buf, n);
    uint32_t chained = 0;
    for (size_t at = 0; at < n; at += (size_t)1 << 20)
        chained =
            io_crc32c(chained, buf + at, n - at < ((size_t)1 << 20) ? n - at : (size_t)1 << 20);
    CHECK_INT_EQ(chained, whole);
    size_t cut = 7777777;
    CHECK_INT_EQ(
        io_crc32c_combine(io_crc32c(0, buf, cut), io_crc32c(0, buf + cut, n - cut), n - cut),
        whole);
    buf[n / 2] ^= 4;
    CHECK(io_crc32c(0, buf, n) != whole);
    free(buf);
}

int main(void)
{
    test_crc32c();
    snprintf(root, sizeof root, "%s/plait-io-ckpt-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip_and_resharding();
    test_async_snapshot();
    test_corruption_falls_back();
    test_load_into();
    test_retention();
    test_leftovers_and_failed_rank();
    test_bad_input();
    test_unwritable_dir();
    test_file_size_limit();
    test_hostile_manifest();
    rm_rf(root);
    return check_status("test_io_ckpt");
}
