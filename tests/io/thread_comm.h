/* Ranks as threads of one process: a plait_io_comm for tests and drivers,
 * so multi-rank checkpoints run without the runtime. */
#ifndef PLAIT_TESTS_IO_THREAD_COMM_H
#define PLAIT_TESTS_IO_THREAD_COMM_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "io/plait_io.h"

#define THREAD_COMM_MAX_VALUES 4096

struct thread_world {
    int size;
    pthread_barrier_t barrier;
    int64_t values[64][THREAD_COMM_MAX_VALUES];
    unsigned char bcast[4096];
};

struct thread_rank {
    struct thread_world *world;
    int rank;
};

static int thread_barrier(void *ctx)
{
    struct thread_rank *r = ctx;
    pthread_barrier_wait(&r->world->barrier);
    return 0;
}

static int thread_allreduce_max(void *ctx, int64_t *v, int n)
{
    struct thread_rank *r = ctx;
    struct thread_world *w = r->world;
    if (n > THREAD_COMM_MAX_VALUES)
        return -1;
    memcpy(w->values[r->rank], v, (size_t)n * sizeof *v);
    pthread_barrier_wait(&w->barrier);
    for (int k = 0; k < w->size; k++)
        for (int i = 0; i < n; i++)
            if (w->values[k][i] > v[i])
                v[i] = w->values[k][i];
    pthread_barrier_wait(&w->barrier);
    return 0;
}

static int thread_broadcast(void *ctx, void *buf, size_t bytes, int root)
{
    struct thread_rank *r = ctx;
    struct thread_world *w = r->world;
    if (bytes > sizeof w->bcast)
        return -1;
    if (r->rank == root)
        memcpy(w->bcast, buf, bytes);
    pthread_barrier_wait(&w->barrier);
    if (r->rank != root)
        memcpy(buf, w->bcast, bytes);
    pthread_barrier_wait(&w->barrier);
    return 0;
}

static inline struct plait_io_comm thread_comm(struct thread_rank *r)
{
    return (struct plait_io_comm){.rank = r->rank,
                                  .size = r->world->size,
                                  .ctx = r,
                                  .barrier = thread_barrier,
                                  .allreduce_max_i64 = thread_allreduce_max,
                                  .broadcast = thread_broadcast};
}

struct thread_job {
    int (*fn)(struct thread_rank *, void *);
    struct thread_rank rank;
    void *arg;
    int rc;
};

static void *thread_job_main(void *p)
{
    struct thread_job *j = p;
    j->rc = j->fn(&j->rank, j->arg);
    return NULL;
}

/* Runs fn on `size` threads, one per rank; returns how many failed. */
static inline int thread_run(int size, int (*fn)(struct thread_rank *, void *), void *arg)
{
    struct thread_world *w = calloc(1, sizeof *w);
    struct thread_job *jobs = calloc((size_t)size, sizeof *jobs);
    pthread_t *tids = calloc((size_t)size, sizeof *tids);
    if (!w || !jobs || !tids || size > 64)
        abort();
    w->size = size;
    pthread_barrier_init(&w->barrier, NULL, (unsigned)size);
    for (int i = 0; i < size; i++) {
        jobs[i] = (struct thread_job){fn, {w, i}, arg, 0};
        pthread_create(&tids[i], NULL, thread_job_main, &jobs[i]);
    }
    int failed = 0;
    for (int i = 0; i < size; i++) {
        pthread_join(tids[i], NULL);
        failed += jobs[i].rc != 0;
    }
    pthread_barrier_destroy(&w->barrier);
    free(tids);
    free(jobs);
    free(w);
    return failed;
}

#endif
