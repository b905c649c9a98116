/* The data loader: a seeded per-epoch permutation of samples, this rank's
 * share of each step, read by one background thread (HDF5 is serial). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

struct batch {
    struct plait_loader_pos pos;
    int32_t *rows; /* batch x (seq_len + 1) */
};

struct plait_loader {
    struct plait_loader_config cfg;
    char *path;
    hid_t file, dset, fspace;
    uint64_t n_tokens, n_samples, global_batch;
    uint32_t vocab;
    int token_bits;
    void *stage; /* one sample in the file's token type */

    uint64_t *perm;
    uint64_t perm_epoch;
    int perm_valid;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int running, stop, failed;
    struct batch *ring;
    int depth, head, count;
    struct plait_loader_pos produce, consume;
    struct plait_loader_stats stats;
    char err[PLAIT_IO_ERRLEN];
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fisher-Yates driven by splitmix64(seed, epoch): the same on every rank. */
static void build_perm(struct plait_loader *l, uint64_t epoch)
{
    uint64_t s = l->cfg.seed ^ (epoch * 0xd1b54a32d192ed03ull);
    for (uint64_t i = 0; i < l->n_samples; i++)
        l->perm[i] = i;
    for (uint64_t i = l->n_samples - 1; i > 0; i--) {
        uint64_t j = (uint64_t)(((unsigned __int128)splitmix64(&s) * (i + 1)) >> 64);
        uint64_t t = l->perm[i];
        l->perm[i] = l->perm[j];
        l->perm[j] = t;
    }
    l->perm_epoch = epoch;
    l->perm_valid = 1;
}

static struct plait_loader_pos normalize(const struct plait_loader *l, struct plait_loader_pos p)
{
    if (p.index + l->global_batch > l->n_samples) {
        p.epoch++;
        p.index = 0;
    }
    return p;
}

static struct plait_loader_pos advance(const struct plait_loader *l, struct plait_loader_pos p)
{
    p.index += l->global_batch;
    return normalize(l, p);
}

static int read_batch(struct plait_loader *l, struct plait_loader_pos pos, int32_t *rows)
{
    if (!l->perm_valid || l->perm_epoch != pos.epoch)
        build_perm(l, pos.epoch);
    hsize_t n = (hsize_t)l->cfg.seq_len + 1;
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    uint64_t first = pos.index + (uint64_t)l->cfg.dp_rank * (uint64_t)l->cfg.batch;
    int rc = 0, wide = l->token_bits == 32;
    /* Reading the stored type and widening here is much cheaper than
     * HDF5's type conversion path. */
    hid_t mtype = wide ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT16;
    for (int b = 0; rc == 0 && b < l->cfg.batch; b++) {
        hsize_t start = l->perm[first + (uint64_t)b] * (uint64_t)l->cfg.seq_len;
        if (H5Sselect_hyperslab(l->fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
            H5Dread(l->dset, mtype, mspace, l->fspace, H5P_DEFAULT, l->stage) < 0) {
            io_errf(l->err, "cannot read tokens %llu..%llu of '%s'", (unsigned long long)start,
                    (unsigned long long)(start + n), l->path);
            rc = -1;
            break;
        }
        int32_t *row = rows + (size_t)b * n;
        const uint16_t *s16 = l->stage;
        const uint32_t *s32 = l->stage;
        for (hsize_t k = 0; k < n; k++)
            row[k] = wide ? (int32_t)s32[k] : (int32_t)s16[k];
    }
    H5Sclose(mspace);
    return rc;
}

static void *prefetch_main(void *arg)
{
    struct plait_loader *l = arg;
    io_h5_quiet();
    pthread_mutex_lock(&l->mu);
    while (!l->stop && !l->failed) {
        if (l->count == l->depth) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        int slot = (l->head + l->count) % l->depth;
        struct plait_loader_pos pos = l->produce;
        pthread_mutex_unlock(&l->mu);
        double t0 = io_now();
        int rc = read_batch(l, pos, l->ring[slot].rows);
        double dt = io_now() - t0;
        pthread_mutex_lock(&l->mu);
        l->stats.read_s += dt;
        if (rc != 0) {
            l->failed = 1;
        } else {
            l->ring[slot].pos = pos;
            l->count++;
            l->produce = advance(l, pos);
        }
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int start_thread(struct plait_loader *l)
{
    l->stop = 0;
    l->head = l->count = 0;
    l->produce = l->consume;
    int rc = pthread_create(&l->thread, NULL, prefetch_main, l);
    if (rc != 0) {
        io_errf(l->err, "cannot start the prefetch thread for '%s': %s", l->path, strerror(rc));
        return -1;
    }
    l->running = 1;
    return 0;
}

static void stop_thread(struct plait_loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->running = 0;
}

plait_loader *plait_loader_open(const struct plait_loader_config *cfg, char err[PLAIT_IO_ERRLEN])
{
    struct plait_data_info info;
    if (cfg->seq_len < 1 || cfg->batch < 1 || cfg->dp_size < 1 || cfg->dp_rank < 0 ||
        cfg->dp_rank >= cfg->dp_size || cfg->prefetch < 0) {
        io_errf(err,
                "loader: seq_len %d, batch %d, dp_rank %d of dp_size %d, prefetch %d "
                "(expected positive sizes and 0 <= dp_rank < dp_size)",
                cfg->seq_len, cfg->batch, cfg->dp_rank, cfg->dp_size, cfg->prefetch);
        return NULL;
    }
    if (plait_data_info(cfg->path, &info, err) != 0)
        return NULL;
    struct plait_loader *l = calloc(1, sizeof *l);
    if (!l) {
        io_errf(err, "out of memory opening '%s'", cfg->path);
        return NULL;
    }
    l->cfg = *cfg;
    l->path = strdup(cfg->path);
    l->cfg.path = l->path;
    l->file = l->dset = l->fspace = -1;
    l->n_tokens = info.n_tokens;
    l->vocab = info.vocab_size;
    l->token_bits = info.token_bits;
    l->n_samples = info.n_tokens > 1 ? (info.n_tokens - 1) / (uint64_t)cfg->seq_len : 0;
    l->global_batch = (uint64_t)cfg->batch * (uint64_t)cfg->dp_size;
    l->depth = cfg->prefetch ? cfg->prefetch : 2;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (l->n_samples < l->global_batch) {
        io_errf(err,
                "dataset '%s' has %llu samples of %d tokens; a step needs %llu "
                "(dp_size x batch)",
                cfg->path, (unsigned long long)l->n_samples, cfg->seq_len + 1,
                (unsigned long long)l->global_batch);
        plait_loader_close(l);
        return NULL;
    }
    /* A chunk cache large enough to keep a few batches of chunks warm. */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 4093, (size_t)64 << 20, 1.0);
    l->file = io_h5_open(cfg->path);
    if (l->file >= 0)
        l->dset = H5Dopen2(l->file, "tokens", dapl);
    H5Pclose(dapl);
    if (l->dset >= 0)
        l->fspace = H5Dget_space(l->dset);
    l->perm = malloc(l->n_samples * sizeof *l->perm);
    l->stage = malloc(((size_t)cfg->seq_len + 1) * sizeof(uint32_t));
    l->ring = calloc((size_t)l->depth, sizeof *l->ring);
    size_t row_tokens = (size_t)cfg->batch * ((size_t)cfg->seq_len + 1);
    int ok = l->fspace >= 0 && l->perm && l->ring && l->stage;
    for (int i = 0; ok && i < l->depth; i++)
        ok = (l->ring[i].rows = malloc(row_tokens * sizeof(int32_t))) != NULL;
    if (!ok) {
        io_errf(err, "cannot open '%s' for loading", cfg->path);
        plait_loader_close(l);
        return NULL;
    }
    l->consume = normalize(l, cfg->start);
    if (start_thread(l) != 0) {
        snprintf(err, PLAIT_IO_ERRLEN, "%s", l->err);
        plait_loader_close(l);
        return NULL;
    }
    return l;
}

int plait_loader_next(plait_loader *l, int32_t *inputs, int32_t *targets)
{
    double t0 = io_now();
    pthread_mutex_lock(&l->mu);
    while (l->count == 0 && !l->failed)
        pthread_cond_wait(&l->cv, &l->mu);
    l->stats.stall_s += io_now() - t0;
    if (l->count == 0) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    struct batch *b = &l->ring[l->head];
    pthread_mutex_unlock(&l->mu);

    size_t T = (size_t)l->cfg.seq_len;
    for (int i = 0; i < l->cfg.batch; i++) {
        const int32_t *row = b->rows + (size_t)i * (T + 1);
        memcpy(inputs + (size_t)i * T, row, T * sizeof *row);
        memcpy(targets + (size_t)i * T, row + 1, T * sizeof *row);
    }

    pthread_mutex_lock(&l->mu);
    l->consume = advance(l, b->pos);
    l->head = (l->head + 1) % l->depth;
    l->count--;
    l->stats.batches++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

struct plait_loader_pos plait_loader_position(const plait_loader *l)
{
    return l->consume;
}

int plait_loader_seek(plait_loader *l, struct plait_loader_pos pos)
{
    stop_thread(l);
    l->failed = 0;
    l->consume = normalize(l, pos);
    return start_thread(l);
}

uint64_t plait_loader_samples(const plait_loader *l)
{
    return l->n_samples;
}

uint64_t plait_loader_steps_per_epoch(const plait_loader *l)
{
    return l->n_samples / l->global_batch;
}

uint32_t plait_loader_vocab_size(const plait_loader *l)
{
    return l->vocab;
}

struct plait_loader_stats plait_loader_stats(const plait_loader *l)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&l->mu;
    pthread_mutex_lock(mu);
    struct plait_loader_stats s = l->stats;
    pthread_mutex_unlock(mu);
    return s;
}

const char *plait_loader_error(const plait_loader *l)
{
    return l->err;
}

void plait_loader_close(plait_loader *l)
{
    if (!l)
        return;
    stop_thread(l);
    for (int i = 0; l->ring && i < l->depth; i++)
        free(l->ring[i].rows);
    free(l->ring);
    free(l->perm);
    free(l->stage);
    if (l->fspace >= 0)
        H5Sclose(l->fspace);
    if (l->dset >= 0)
        H5Dclose(l->dset);
    if (l->file >= 0)
        H5Fclose(l->file);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->path);
    free(l);
}
