/* A small checkpointing program for the script tests: ranks are threads.
 *
 *   io_ckpt_driver write DIR RANKS FIRST LAST ROWS COLS KEEP
 *       saves steps FIRST..LAST of a ROWS x COLS matrix "w" split by rows
 *       (asynchronously, committed before the next step), printing each.
 *   io_ckpt_driver check DIR RANKS ROWS COLS
 *       loads the newest valid checkpoint as RANKS column blocks and checks
 *       every element; prints "loaded step S". Exit 2: none found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/io/thread_comm.h"

struct args {
    const char *dir;
    long long first, last;
    long rows, cols;
    int keep;
    int none;
};

static float value(long long step, long i, long j, long cols)
{
    return (float)((step * 131 + i * cols + j) % 16777216);
}

static int write_rank(struct thread_rank *tr, void *p)
{
    struct args *a = p;
    struct plait_io_comm comm = thread_comm(tr);
    long r0 = comm.rank * a->rows / comm.size, r1 = (comm.rank + 1) * a->rows / comm.size;
    float *m = malloc((size_t)(r1 - r0) * (size_t)a->cols * sizeof *m + 1);
    char err[PLAIT_IO_ERRLEN];
    struct plait_ckpt_config cfg = {.dir = a->dir, .keep = a->keep, .comm = &comm};
    plait_ckpt_writer *w = plait_ckpt_writer_open(&cfg, err);
    if (!w || !m) {
        fprintf(stderr, "io_ckpt_driver: %s\n", w ? "out of memory" : err);
        return 1;
    }
    struct plait_tensor_slice t = {.name = "w",
                                   .dtype = PLAIT_F32,
                                   .ndim = 2,
                                   .global_shape = {a->rows, a->cols},
                                   .offset = {r0, 0},
                                   .extent = {r1 - r0, a->cols},
                                   .data = m};
    int rc = plait_ckpt_register(w, &t);
    for (long long s = a->first; rc == 0 && s <= a->last; s++) {
        for (long i = r0; i < r1; i++)
            for (long j = 0; j < a->cols; j++)
                m[(i - r0) * a->cols + j] = value(s, i, j, a->cols);
        struct plait_ckpt_meta meta = {.step = s, .dp = comm.size, .tp = 1, .pp = 1};
        rc = plait_ckpt_save_async(w, &meta) || plait_ckpt_commit(w, 1) != 1;
        if (rc == 0 && comm.rank == 0) {
            printf("committed step %lld\n", s);
            fflush(stdout);
        }
    }
    if (rc)
        fprintf(stderr, "io_ckpt_driver: rank %d: %s\n", comm.rank, plait_ckpt_writer_error(w));
    plait_ckpt_writer_close(w);
    free(m);
    return rc;
}

static int check_rank(struct thread_rank *tr, void *p)
{
    struct args *a = p;
    struct plait_io_comm comm = thread_comm(tr);
    plait_ckpt_reader *r;
    char err[PLAIT_IO_ERRLEN];
    int found = plait_ckpt_load(a->dir, &comm, &r, err);
    if (found != 1) {
        if (found == 0)
            a->none = 1;
        else
            fprintf(stderr, "io_ckpt_driver: %s\n", err);
        return 1;
    }
    long c0 = comm.rank * a->cols / comm.size, c1 = (comm.rank + 1) * a->cols / comm.size;
    float *m = malloc((size_t)a->rows * (size_t)(c1 - c0) * sizeof *m + 1);
    struct plait_tensor_slice t = {.name = "w",
                                   .dtype = PLAIT_F32,
                                   .ndim = 2,
                                   .global_shape = {a->rows, a->cols},
                                   .offset = {0, c0},
                                   .extent = {a->rows, c1 - c0},
                                   .data = m};
    long long step = plait_ckpt_reader_meta(r)->step;
    int rc = plait_ckpt_read(r, &t);
    if (rc)
        fprintf(stderr, "io_ckpt_driver: %s\n", plait_ckpt_reader_error(r));
    for (long i = 0; rc == 0 && i < a->rows; i++)
        for (long j = c0; j < c1 && rc == 0; j++)
            if (m[i * (c1 - c0) + (j - c0)] != value(step, i, j, a->cols)) {
                fprintf(stderr, "io_ckpt_driver: step %lld w[%ld][%ld] is wrong\n", step, i, j);
                rc = 1;
            }
    if (rc == 0 && comm.rank == 0)
        printf("loaded step %lld\n", step);
    plait_ckpt_reader_close(r);
    free(m);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    int ranks = argc > 3 ? atoi(argv[3]) : 0;
    if (argc == 9 && !strcmp(argv[1], "write")) {
        a = (struct args){
            argv[2], atoll(argv[4]), atoll(argv[5]), atol(argv[6]), atol(argv[7]), atoi(argv[8]),
            0};
    } else if (argc == 6 && !strcmp(argv[1], "check")) {
        a = (struct args){argv[2], 0, 0, atol(argv[4]), atol(argv[5]), 0, 0};
    } else {
        fprintf(stderr, "usage: io_ckpt_driver write DIR RANKS FIRST LAST ROWS COLS KEEP | "
                        "check DIR RANKS ROWS COLS\n");
        return 2;
    }
    if (ranks < 1 || ranks > 64 || a.rows < ranks || a.cols < ranks) {
        fprintf(stderr, "io_ckpt_driver: %d ranks for %ld x %ld (expected 1-64, <= rows, cols)\n",
                ranks, a.rows, a.cols);
        return 2;
    }
    int failed = thread_run(ranks, argv[1][0] == 'w' ? write_rank : check_rank, &a);
    if (a.none) {
        printf("no checkpoint\n");
        return 2;
    }
    return failed ? 1 : 0;
}
