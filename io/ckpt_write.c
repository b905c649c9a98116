/* The checkpoint writer: snapshot, background shard write, and the
 * collective commit (manifest, fsync, rename, latest, retention). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ckpt_internal.h"

struct pending {
    int active;
    pthread_t thread;
    atomic_int done;
    int failed;
    int direct;
    int deferred; /* the thread takes the snapshot (under mu) */
    int snapped;  /* under mu */
    int snap_failed;
    struct plait_ckpt_meta meta;
    char tmpdir[4096];
    char shard_path[4200];
    struct ckpt_blob *blobs;
    int n_blobs;
    uint32_t crc;
    uint64_t bytes;
    char err[PLAIT_IO_ERRLEN];
};

struct plait_ckpt_writer {
    char *dir;
    int keep;
    struct plait_io_comm comm; /* size 1 when the caller gave none */
    int have_comm;
    int (*copy_to_host)(void *dst, const void *src, size_t bytes, void *ctx);
    void *copy_ctx;
    int deferred_snapshot;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ckpt_entry *entries;
    int n_entries;
    struct ckpt_blob *blobs;
    int n_blobs;
    struct pending job;
    long long prune_after; /* committed step whose retention is still to do; -1: none */
    char err[PLAIT_IO_ERRLEN];
};

static int c_barrier(plait_ckpt_writer *w)
{
    return w->have_comm ? w->comm.barrier(w->comm.ctx) : 0;
}

static int c_max(plait_ckpt_writer *w, int64_t *v, int n)
{
    return w->have_comm ? w->comm.allreduce_max_i64(w->comm.ctx, v, n) : 0;
}

static int c_bcast(plait_ckpt_writer *w, void *buf, size_t bytes, int root)
{
    return w->have_comm ? w->comm.broadcast(w->comm.ctx, buf, bytes, root) : 0;
}

static int mkdir_p(const char *dir, char *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            break;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        io_errf(err, "cannot create checkpoint directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A directory that exists but cannot be written (read-only, another user's)
 * would fail only at the first save, after the training before it was done:
 * try now. The probe is a temporary, removed by the next writer if
 * this one dies. */
static int check_writable(const char *dir, char *err)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.tmp-probe-XXXXXX", dir);
    if (!mkdtemp(probe)) {
        io_errf(err, "checkpoint directory '%s' is not writable: %s", dir, strerror(errno));
        return -1;
    }
    rmdir(probe);
    return 0;
}

/* Leftovers of a writer killed mid-save: never loadable, removed at start. */
static void remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".tmp-", 5) && strncmp(e->d_name, ".trash-", 7) &&
            strcmp(e->d_name, "latest.tmp"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        io_rm_rf(path);
    }
    closedir(d);
}

plait_ckpt_writer *plait_ckpt_writer_open(const struct plait_ckpt_config *cfg,
                                          char err[PLAIT_IO_ERRLEN])
{
    if (!cfg->dir || !*cfg->dir || cfg->keep < 0) {
        io_errf(err, "checkpoint writer: dir '%s', keep %d (expected a directory and keep >= 0)",
                cfg->dir ? cfg->dir : "", cfg->keep);
        return NULL;
    }
    const struct plait_io_comm *c = cfg->comm;
    if (c && (c->size < 1 || c->rank < 0 || c->rank >= c->size || !c->barrier ||
              !c->allreduce_max_i64 || !c->broadcast)) {
        io_errf(err,
                "checkpoint writer: rank %d of %d without barrier/allreduce/broadcast "
                "(expected all three and 0 <= rank < size)",
                c->rank, c->size);
        return NULL;
    }
    plait_ckpt_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(cfg->dir))) {
        io_errf(err, "out of memory opening checkpoint writer for '%s'", cfg->dir);
        free(w);
        return NULL;
    }
    w->keep = cfg->keep ? cfg->keep : 3;
    w->have_comm = c != NULL;
    w->comm = c ? *c : (struct plait_io_comm){.rank = 0, .size = 1};
    w->copy_to_host = cfg->copy_to_host;
    w->copy_ctx = cfg->copy_ctx;
    w->deferred_snapshot = cfg->deferred_snapshot;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->prune_after = -1;
    int64_t failed = 0;
    if (w->comm.rank == 0) {
        failed = mkdir_p(w->dir, err) != 0 || check_writable(w->dir, err) != 0;
        if (!failed)
            remove_temporaries(w->dir);
    }
    int agreed = c_max(w, &failed, 1) == 0;
    if (!agreed || failed) {
        /* Every rank gives rank 0's reason, so that a job can say it once. */
        if ((!agreed || c_bcast(w, err, PLAIT_IO_ERRLEN, 0) != 0) && w->comm.rank != 0)
            io_errf(err, "checkpoint directory '%s' could not be prepared by rank 0", cfg->dir);
        plait_ckpt_writer_close(w);
        return NULL;
    }
    return w;
}

int plait_ckpt_register(plait_ckpt_writer *w, const struct plait_tensor_slice *t)
{
    if (!io_valid_name(t->name)) {
        io_errf(w->err,
                "tensor name '%s' is not usable (expected 1-%d characters in '/'-separated "
                "parts, none empty, '.' or '..', no control characters)",
                t->name ? t->name : "", IO_NAME_LEN - 17);
        return -1;
    }
    if (io_dtype_size(t->dtype) == 0 || t->ndim < 1 || t->ndim > PLAIT_IO_MAX_DIMS) {
        io_errf(w->err, "tensor '%s': dtype %d, ndim %d (expected a plait_dtype and 1-%d dims)",
                t->name, (int)t->dtype, t->ndim, PLAIT_IO_MAX_DIMS);
        return -1;
    }
    for (int d = 0; d < t->ndim; d++)
        if (t->offset[d] < 0 || t->extent[d] < 0 ||
            t->offset[d] + t->extent[d] > t->global_shape[d]) {
            io_errf(w->err,
                    "tensor '%s': dim %d offset %lld extent %lld (expected within global size "
                    "%lld)",
                    t->name, d, (long long)t->offset[d], (long long)t->extent[d],
                    (long long)t->global_shape[d]);
            return -1;
        }
    for (int i = 0; i < w->n_entries; i++)
        if (!strcmp(w->entries[i].t.name, t->name)) {
            io_errf(w->err, "tensor '%s' is registered twice on this rank", t->name);
            return -1;
        }
    struct ckpt_entry *e = realloc(w->entries, (size_t)(w->n_entries + 1) * sizeof *e);
    if (!e) {
        io_errf(w->err, "out of memory registering '%s'", t->name);
        return -1;
    }
    w->entries = e;
    e = &w->entries[w->n_entries];
    memset(e, 0, sizeof *e);
    e->t = *t;
    e->t.name = strdup(t->name);
    e->bytes = (size_t)ckpt_volume(t->ndim, t->extent) * io_dtype_size(t->dtype);
    if (!e->t.name) {
        io_errf(w->err, "out of memory registering '%s'", t->name);
        return -1;
    }
    w->n_entries++;
    return 0;
}

static void free_blobs(struct ckpt_blob *b, int n)
{
    for (int i = 0; i < n; i++) {
        free(b[i].name);
        free(b[i].data);
    }
    free(b);
}

int plait_ckpt_set_blob(plait_ckpt_writer *w, const char *name, const void *data, size_t bytes)
{
    if (!io_valid_name(name)) {
        io_errf(w->err, "blob name '%s' is not usable (expected a tensor-like name)",
                name ? name : "");
        return -1;
    }
    void *copy = malloc(bytes ? bytes : 1);
    if (!copy) {
        io_errf(w->err, "out of memory storing blob '%s' (%zu bytes)", name, bytes);
        return -1;
    }
    memcpy(copy, data, bytes);
    for (int i = 0; i < w->n_blobs; i++)
        if (!strcmp(w->blobs[i].name, name)) {
            free(w->blobs[i].data);
            w->blobs[i].data = copy;
            w->blobs[i].bytes = bytes;
            return 0;
        }
    struct ckpt_blob *b = realloc(w->blobs, (size_t)(w->n_blobs + 1) * sizeof *b);
    char *n = strdup(name);
    if (!b || !n) {
        free(copy);
        free(n);
        if (b)
            w->blobs = b;
        io_errf(w->err, "out of memory storing blob '%s'", name);
        return -1;
    }
    w->blobs = b;
    b[w->n_blobs++] = (struct ckpt_blob){.name = n, .data = copy, .bytes = bytes};
    return 0;
}

static void prune(plait_ckpt_writer *w, long long committed, int newer_only);
static int snapshot_tensors(plait_ckpt_writer *w, char *err);
static void mark_snapped(plait_ckpt_writer *w, int failed);

static void *shard_main(void *arg)
{
    plait_ckpt_writer *w = arg;
    struct pending *j = &w->job;
    if (j->deferred) {
        int failed = snapshot_tensors(w, j->err) != 0;
        mark_snapped(w, failed);
        if (failed) {
            j->failed = 1;
            atomic_store(&j->done, 1);
            return NULL;
        }
    }
    /* The writer yields the CPU to training; on a GPU node it has cores
     * to itself, on a busy CPU node it should not slow the steps. */
    if (!j->direct)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    /* Deleting old checkpoints takes time (their page cache is freed):
     * it happens here, off the training thread, after the next commit. */
    if (w->prune_after >= 0) {
        prune(w, w->prune_after, 0);
        w->prune_after = -1;
    }
    struct ckpt_shard_job sj = {.path = j->shard_path,
                                .rank = w->comm.rank,
                                .nranks = w->comm.size,
                                .step = j->meta.step,
                                .entries = w->entries,
                                .n_entries = w->n_entries,
                                .direct = j->direct,
                                .blobs = j->blobs,
                                .n_blobs = j->n_blobs};
    j->failed = ckpt_write_shard(&sj, &j->crc, &j->bytes, j->err) != 0;
    atomic_store(&j->done, 1);
    return NULL;
}

/* Copies the tensors to host memory the writer owns; training may change
 * the originals once this is done. */
static int snapshot_tensors(plait_ckpt_writer *w, char *err)
{
    for (int i = 0; i < w->n_entries; i++) {
        struct ckpt_entry *e = &w->entries[i];
        if (!e->snap && !(e->snap = malloc(e->bytes ? e->bytes : 1))) {
            io_errf(err, "out of memory snapshotting '%s' (%zu bytes)", e->t.name, e->bytes);
            return -1;
        }
        if (w->copy_to_host) {
            if (w->copy_to_host(e->snap, e->t.data, e->bytes, w->copy_ctx) != 0) {
                io_errf(err, "copy_to_host of tensor '%s' failed", e->t.name);
                return -1;
            }
        } else {
            memcpy(e->snap, e->t.data, e->bytes);
        }
    }
    return 0;
}

static int snapshot_blobs(plait_ckpt_writer *w)
{
    struct pending *j = &w->job;
    j->blobs = calloc((size_t)w->n_blobs + 1, sizeof *j->blobs);
    if (!j->blobs)
        return -1;
    for (int i = 0; i < w->n_blobs; i++) {
        j->blobs[i].name = strdup(w->blobs[i].name);
        j->blobs[i].data = malloc(w->blobs[i].bytes + 1);
        j->blobs[i].bytes = w->blobs[i].bytes;
        j->n_blobs = i + 1;
        if (!j->blobs[i].name || !j->blobs[i].data) {
            io_errf(w->err, "out of memory snapshotting blob '%s'", w->blobs[i].name);
            return -1;
        }
        memcpy(j->blobs[i].data, w->blobs[i].data, w->blobs[i].bytes);
    }
    return 0;
}

static void mark_snapped(plait_ckpt_writer *w, int failed)
{
    pthread_mutex_lock(&w->mu);
    w->job.snapped = 1;
    w->job.snap_failed = failed;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void release_job(plait_ckpt_writer *w)
{
    struct pending *j = &w->job;
    if (j->active == 1)
        pthread_join(j->thread, NULL);
    free_blobs(j->blobs, j->n_blobs);
    memset(j, 0, sizeof *j);
}

/* Starts a save; `direct` writes from the registered tensors in this
 * thread (a synchronous save of host memory needs no snapshot). */
static int start_save(plait_ckpt_writer *w, const struct plait_ckpt_meta *meta, int direct)
{
    if (w->job.active && plait_ckpt_commit(w, 1) < 0)
        return -1;
    if (meta->step < 0) {
        io_errf(w->err, "checkpoint step %lld (expected >= 0)", (long long)meta->step);
        return -1;
    }
    struct pending *j = &w->job;
    memset(j, 0, sizeof *j);
    j->meta = *meta;
    snprintf(j->tmpdir, sizeof j->tmpdir, "%s/.tmp-" CKPT_STEP_FMT, w->dir, (long long)meta->step);
    snprintf(j->shard_path, sizeof j->shard_path, "%s/" CKPT_SHARD_FMT, j->tmpdir, w->comm.rank);
    j->active = 1;
    j->direct = direct;
    j->deferred = !direct && w->deferred_snapshot;
    if (snapshot_blobs(w) != 0 || mkdir_p(j->tmpdir, w->err) != 0 ||
        (!direct && !j->deferred && snapshot_tensors(w, w->err) != 0)) {
        j->failed = 1;
        snprintf(j->err, sizeof j->err, "%s", w->err);
        atomic_store(&j->done, 1);
        mark_snapped(w, 1);
        j->active = 2; /* nothing to join; the commit still runs collectively */
        return 0;
    }
    if (!j->deferred)
        mark_snapped(w, 0);
    if (direct) {
        shard_main(w);
        j->active = 2;
        return 0;
    }
    int rc = pthread_create(&j->thread, NULL, shard_main, w);
    if (rc != 0) {
        j->failed = 1;
        io_errf(j->err, "cannot start the checkpoint writer thread: %s", strerror(rc));
        atomic_store(&j->done, 1);
        mark_snapped(w, 1);
        j->active = 2;
    }
    return 0;
}

int plait_ckpt_wait_snapshot(plait_ckpt_writer *w)
{
    if (!w->job.active)
        return 0;
    pthread_mutex_lock(&w->mu);
    while (!w->job.snapped)
        pthread_cond_wait(&w->cv, &w->mu);
    int failed = w->job.snap_failed;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        snprintf(w->err, sizeof w->err, "%s", w->job.err);
    return failed ? -1 : 0;
}

int plait_ckpt_poll(plait_ckpt_writer *w)
{
    if (!w->job.active || !atomic_load(&w->job.done))
        return w->job.active ? 0 : 1;
    return w->job.failed ? -1 : 1;
}

/* Keeps the `keep` newest committed steps up to the one just committed.
 * Steps beyond it belong to an abandoned run (it resumed from an older
 * checkpoint because they were bad) and would shadow it at the next load:
 * those go at once (newer_only), the old ones later, off the training path. */
static void prune(plait_ckpt_writer *w, long long committed, int newer_only)
{
    size_t n;
    long long *steps = ckpt_list_steps(w->dir, &n);
    int kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (steps[i] <= committed && (newer_only || kept < w->keep)) {
            kept++;
            continue;
        }
        if (steps[i] == committed)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/" CKPT_STEP_FMT, w->dir, steps[i]);
        io_rm_rf(path);
    }
    free(steps);
}

/* Rank 0's part of a commit: manifest, fsyncs, rename, latest, retention. */
static int commit_rank0(plait_ckpt_writer *w, const int64_t *crc, const int64_t *bytes, char *err)
{
    struct pending *j = &w->job;
    struct ckpt_manifest m = {0};
    int rc = ckpt_manifest_build(&m, j->tmpdir, w->comm.size, err);
    if (rc == 0) {
        m.meta = j->meta;
        for (int r = 0; r < w->comm.size; r++) {
            m.shard_crc[r] = (uint32_t)(crc[r] - 1);
            m.shard_size[r] = (uint64_t)bytes[r];
        }
        rc = ckpt_manifest_write(&m, j->tmpdir, err) || ckpt_manifest_seal(j->tmpdir, err);
    }
    ckpt_manifest_free(&m);
    char final[4096], trash[4096], name[64];
    snprintf(name, sizeof name, CKPT_STEP_FMT, (long long)j->meta.step);
    snprintf(final, sizeof final, "%s/%s", w->dir, name);
    snprintf(trash, sizeof trash, "%s/.trash-%s", w->dir, name);
    if (rc == 0)
        rc = io_fsync_dir(j->tmpdir, err);
    /* Saving a step again: the old copy moves aside until the new one is in. */
    if (rc == 0 && rename(final, trash) != 0 && errno != ENOENT) {
        io_errf(err, "cannot move '%s' aside: %s", final, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(j->tmpdir, final) != 0) {
        io_errf(err, "cannot rename '%s' to '%s': %s", j->tmpdir, final, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = io_fsync_dir(w->dir, err);
    if (rc == 0) {
        char latest[4096], line[80];
        snprintf(latest, sizeof latest, "%s/latest", w->dir);
        int n = snprintf(line, sizeof line, "%s\n", name);
        rc = io_write_file_atomic(latest, line, (size_t)n, err);
    }
    io_rm_rf(trash);
    if (rc == 0) {
        prune(w, (long long)j->meta.step, 1);
        w->prune_after = (long long)j->meta.step;
    } else {
        io_rm_rf(j->tmpdir);
    }
    return rc;
}

static void join_writer(struct pending *j)
{
    if (j->active == 1) {
        pthread_join(j->thread, NULL);
        j->active = 2;
    }
}

int plait_ckpt_commit(plait_ckpt_writer *w, int block)
{
    struct pending *j = &w->job;
    int64_t active = j->active != 0;
    if (c_max(w, &active, 1) != 0) {
        io_errf(w->err, "checkpoint commit: allreduce failed");
        return -1;
    }
    if (!active)
        return 1;
    if (!j->active) {
        /* A caller bug, but the other ranks must not hang on it. */
        j->failed = 1;
        atomic_store(&j->done, 1);
        io_errf(j->err, "checkpoint commit: another rank has a save pending, this one none");
        j->active = 2;
    }
    if (block)
        join_writer(j);
    int size = w->comm.size, me = w->comm.rank;
    int64_t *v = calloc(2 + 2 * (size_t)size, sizeof *v);
    if (!v) {
        io_errf(w->err, "out of memory committing a checkpoint");
        return -1;
    }
    int done = atomic_load(&j->done);
    v[0] = !done;
    v[1] = done && j->failed ? me + 1 : 0;
    if (done && !j->failed) {
        v[2 + me] = (int64_t)j->crc + 1;
        v[2 + size + me] = (int64_t)j->bytes;
    }
    if (c_max(w, v, 2 + 2 * size) != 0) {
        free(v);
        io_errf(w->err, "checkpoint commit: allreduce failed");
        return -1;
    }
    if (v[0]) {
        free(v);
        return 0;
    }
    join_writer(j);
    struct {
        int64_t rc;
        char err[PLAIT_IO_ERRLEN];
    } result = {0, ""};
    if (v[1]) {
        /* Every rank says why: the failed rank's reason (a full disk, say)
         * is the job's. */
        int root = (int)(v[1] - 1);
        char why[PLAIT_IO_ERRLEN] = "";
        if (me == root)
            snprintf(why, sizeof why, "%s", j->err);
        if (c_bcast(w, why, sizeof why, root) != 0)
            snprintf(why, sizeof why, "its reason could not be shared");
        result.rc = -1;
        if (j->failed)
            snprintf(result.err, sizeof result.err, "%s", j->err);
        else
            io_errf(result.err, "rank %d failed to write its shard: %s", root, why);
        if (me == 0)
            io_rm_rf(j->tmpdir);
        /* A retry of the same step must not race rank 0's removal. */
        c_barrier(w);
    } else if (me == 0) {
        result.rc = commit_rank0(w, v + 2, v + 2 + size, result.err);
    }
    int64_t some_failed = v[1];
    free(v);
    if (!some_failed && c_bcast(w, &result, sizeof result, 0) != 0) {
        result.rc = -1;
        io_errf(result.err, "checkpoint commit: broadcast failed");
    }
    release_job(w);
    if (result.rc != 0) {
        snprintf(w->err, sizeof w->err, "%s", result.err);
        return -1;
    }
    return 1;
}

int plait_ckpt_save_async(plait_ckpt_writer *w, const struct plait_ckpt_meta *meta)
{
    return start_save(w, meta, 0);
}

int plait_ckpt_save(plait_ckpt_writer *w, const struct plait_ckpt_meta *meta)
{
    if (start_save(w, meta, w->copy_to_host == NULL) != 0)
        return -1;
    return plait_ckpt_commit(w, 1) == 1 ? 0 : -1;
}

const char *plait_ckpt_writer_error(const plait_ckpt_writer *w)
{
    return w->err;
}

void plait_ckpt_writer_close(plait_ckpt_writer *w)
{
    if (!w)
        return;
    if (w->job.active == 1)
        pthread_join(w->job.thread, NULL);
    if (w->prune_after >= 0)
        prune(w, w->prune_after, 0);
    w->job.active = 0;
    release_job(w);
    for (int i = 0; i < w->n_entries; i++) {
        free((char *)w->entries[i].t.name);
        free(w->entries[i].snap);
    }
    free(w->entries);
    free_blobs(w->blobs, w->n_blobs);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->dir);
    free(w);
}
