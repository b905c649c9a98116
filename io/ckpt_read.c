/* The checkpoint reader: choosing the newest valid checkpoint, verifying
 * shards, and reading any block of a global tensor (resharding). */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_internal.h"

struct plait_ckpt_reader {
    char *path;
    struct ckpt_manifest m;
    hid_t *shard; /* opened on first use */
    char err[PLAIT_IO_ERRLEN];
};

plait_ckpt_reader *plait_ckpt_open(const char *step_dir, char err[PLAIT_IO_ERRLEN])
{
    plait_ckpt_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(step_dir))) {
        free(r);
        io_errf(err, "out of memory opening checkpoint '%s'", step_dir);
        return NULL;
    }
    if (ckpt_manifest_read(&r->m, step_dir, err) != 0) {
        free(r->path);
        free(r);
        return NULL;
    }
    r->shard = malloc((size_t)r->m.nshards * sizeof *r->shard);
    if (!r->shard) {
        io_errf(err, "out of memory opening checkpoint '%s'", step_dir);
        plait_ckpt_reader_close(r);
        return NULL;
    }
    for (int i = 0; i < r->m.nshards; i++)
        r->shard[i] = -1;
    return r;
}

static int check_shard(const plait_ckpt_reader *r, int i, uint32_t crc, uint64_t bytes, char *err);

/* Checks shard i's presence, size and CRC against the manifest. */
static int verify_shard(const plait_ckpt_reader *r, int i, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
    if (access(path, F_OK) != 0) {
        io_errf(err, "%s is missing", r->m.shard_file[i]);
        return -1;
    }
    uint32_t crc;
    uint64_t bytes;
    if (io_file_crc32c(path, &crc, &bytes, err) != 0)
        return -1;
    return check_shard(r, i, crc, bytes, err);
}

static int check_shard(const plait_ckpt_reader *r, int i, uint32_t crc, uint64_t bytes, char *err)
{
    if (bytes != r->m.shard_size[i]) {
        io_errf(err, "%s has %llu bytes, the manifest says %llu", r->m.shard_file[i],
                (unsigned long long)bytes, (unsigned long long)r->m.shard_size[i]);
        return -1;
    }
    if (crc != r->m.shard_crc[i]) {
        io_errf(err, "%s has CRC32C %08x, the manifest says %08x", r->m.shard_file[i], crc,
                r->m.shard_crc[i]);
        return -1;
    }
    return 0;
}

int plait_ckpt_verify(const char *step_dir, char err[PLAIT_IO_ERRLEN])
{
    plait_ckpt_reader *r = plait_ckpt_open(step_dir, err);
    if (!r)
        return -1;
    int rc = 0;
    char why[PLAIT_IO_ERRLEN];
    for (int i = 0; rc == 0 && i < r->m.nshards; i++)
        rc = verify_shard(r, i, why);
    if (rc != 0)
        io_errf(err, "%s: %s", step_dir, why);
    plait_ckpt_reader_close(r);
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

long long *ckpt_list_steps(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    long long *steps = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long s;
        char tail;
        if (sscanf(e->d_name, "step-%lld%c", &s, &tail) != 1 || s < 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            long long *grown = realloc(steps, cap * sizeof *steps);
            if (!grown)
                break;
            steps = grown;
        }
        steps[(*n)++] = s;
    }
    closedir(d);
    if (steps)
        qsort(steps, *n, sizeof *steps, cmp_desc);
    return steps;
}

static int comm_max(const struct plait_io_comm *c, int64_t *v, int n)
{
    return c ? c->allreduce_max_i64(c->ctx, v, n) : 0;
}

static const struct plait_tensor_slice *find_want(const plait_ckpt_reader *r,
                                                  const struct ckpt_slice *s,
                                                  const struct plait_tensor_slice *want, int n)
{
    const struct ckpt_tensor *t = &r->m.tensors[s->tensor];
    for (int k = 0; k < n; k++) {
        const struct plait_tensor_slice *w = &want[k];
        if (!w->name || strcmp(w->name, t->name) || (int)w->dtype != t->dtype || w->ndim != t->ndim)
            continue;
        size_t dims = (size_t)t->ndim * sizeof *w->offset;
        if (!memcmp(w->offset, s->offset, dims) && !memcmp(w->extent, s->extent, dims))
            return w;
    }
    return NULL;
}

/* Verifies shard i from the blocks just read into `want` when they are
 * exactly the slices it provides: their CRCs plus a read of the bytes
 * between them (HDF5 metadata) make the file's CRC without reading the
 * data a second time. Otherwise reads the whole file. */
static int verify_shard_read(plait_ckpt_reader *r, int i, const struct plait_tensor_slice *want,
                             const uint32_t *want_crc, int n_want, char *err)
{
    struct io_region *regions = calloc((size_t)r->m.nregions + 1, sizeof *regions);
    int n = 0, usable = want && want_crc && regions;
    for (int k = 0; usable && k < r->m.nregions; k++) {
        const struct ckpt_region *g = &r->m.regions[k];
        if (g->shard != i)
            continue;
        const struct plait_tensor_slice *w =
            g->slice >= 0 ? find_want(r, &r->m.slices[g->slice], want, n_want) : NULL;
        if (!w)
            usable = 0;
        else
            regions[n++] = (struct io_region){g->offset, g->bytes, want_crc[w - want], NULL};
    }
    if (!usable) {
        free(regions);
        return verify_shard(r, i, err);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
    uint32_t crc;
    uint64_t bytes;
    int rc = io_file_crc32c_regions(path, regions, n, &crc, &bytes, err);
    free(regions);
    return rc != 0 ? -1 : check_shard(r, i, crc, bytes, err);
}

/* The tensor bytes are stored little-endian (ckpt_shard.c), the host's own
 * order here: a block can take them as they are. */
static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* Reads shard i in one sequential pass when every tensor it holds is a
 * block of `want` (a restart with the saving layout): the bytes go straight
 * into the blocks, each piece CRC'd while in cache, and the file's CRC and
 * size are checked against the manifest. HDF5 does not parse the shard:
 * the manifest's region table, taken from this file at commit and covered
 * by its CRC, says where each block lies. Returns 1 when done (done[k] set
 * for the blocks read), 0 when the shard does not qualify, -1 on a read or
 * check failure. */
static int read_shard_direct(const plait_ckpt_reader *r, int i,
                             const struct plait_tensor_slice *want, int n_want, char *done,
                             char *err)
{
    if (!host_little_endian())
        return 0;
    struct io_region *regions = calloc((size_t)r->m.nregions + 1, sizeof *regions);
    int *block = calloc((size_t)r->m.nregions + 1, sizeof *block);
    int n = 0, usable = regions && block;
    for (int k = 0; usable && k < r->m.nregions; k++) {
        const struct ckpt_region *g = &r->m.regions[k];
        if (g->shard != i)
            continue;
        const struct plait_tensor_slice *w =
            g->slice >= 0 ? find_want(r, &r->m.slices[g->slice], want, n_want) : NULL;
        usable =
            w && g->bytes == (uint64_t)ckpt_volume(w->ndim, w->extent) * io_dtype_size(w->dtype);
        if (usable) {
            block[n] = (int)(w - want);
            regions[n++] = (struct io_region){g->offset, g->bytes, 0, w->data};
        }
    }
    int rc = 0;
    if (usable) {
        char path[4096];
        uint32_t crc;
        uint64_t bytes;
        snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
        rc = io_file_crc32c_regions(path, regions, n, &crc, &bytes, err) != 0 ||
                     check_shard(r, i, crc, bytes, err) != 0
                 ? -1
                 : 1;
        for (int j = 0; rc == 1 && j < n; j++)
            done[block[j]] = 1;
    }
    free(block);
    free(regions);
    return rc;
}

struct block_crc {
    const struct plait_tensor_slice *block;
    uint32_t *crc;
};

static void *block_crc_main(void *arg)
{
    struct block_crc *b = arg;
    const struct plait_tensor_slice *w = b->block;
    *b->crc =
        io_crc32c(0, w->data, (size_t)ckpt_volume(w->ndim, w->extent) * io_dtype_size(w->dtype));
    return NULL;
}

/* Reads the blocks not yet done, each one's CRC32C computed in a second
 * thread while the next is read. */
static int read_blocks(plait_ckpt_reader *r, const struct plait_tensor_slice *want, int n,
                       const char *done, uint32_t *crc)
{
    struct block_crc job;
    pthread_t t;
    int running = 0, rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (done[i])
            continue;
        rc = plait_ckpt_read(r, &want[i]);
        if (running)
            pthread_join(t, NULL);
        job = (struct block_crc){&want[i], crc ? &crc[i] : NULL};
        running = rc == 0 && crc && pthread_create(&t, NULL, block_crc_main, &job) == 0;
        if (rc == 0 && crc && !running)
            block_crc_main(&job);
    }
    if (running)
        pthread_join(t, NULL);
    return rc;
}

/* Whether any block of `want` not yet done lies in shard i. */
static int reads_from(const plait_ckpt_reader *r, int i, const struct plait_tensor_slice *want,
                      const char *done, int n_want)
{
    for (int k = 0; k < r->m.nslices; k++) {
        const struct ckpt_slice *s = &r->m.slices[k];
        const struct ckpt_tensor *t = &r->m.tensors[s->tensor];
        for (int j = 0; s->shard == i && j < n_want; j++) {
            const struct plait_tensor_slice *w = &want[j];
            int overlap = !done[j] && w->name && !strcmp(w->name, t->name) && w->ndim == t->ndim;
            for (int d = 0; overlap && d < t->ndim; d++)
                overlap = w->offset[d] < s->offset[d] + s->extent[d] &&
                          s->offset[d] < w->offset[d] + w->extent[d];
            if (overlap)
                return 1;
        }
    }
    return 0;
}

/* The HDF5 metadata of shard i is intact: checked before HDF5 parses it. */
static int check_meta(const plait_ckpt_reader *r, int i, char *err)
{
    char path[4096];
    uint32_t crc;
    snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
    if (ckpt_meta_crc(&r->m, path, i, &crc, err) != 0)
        return -1;
    if (crc != r->m.shard_meta_crc[i]) {
        io_errf(err, "%s's HDF5 metadata has CRC32C %08x, the manifest says %08x",
                r->m.shard_file[i], crc, r->m.shard_meta_crc[i]);
        return -1;
    }
    return 0;
}

/* Every shard is there with its recorded size: cheap, and needed before
 * blocks are read from them. */
static int shards_present(const plait_ckpt_reader *r, char *err)
{
    for (int i = 0; i < r->m.nshards; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
        if (stat(path, &st) != 0) {
            io_errf(err, "%s is missing", r->m.shard_file[i]);
            return -1;
        }
        if ((uint64_t)st.st_size != r->m.shard_size[i]) {
            io_errf(err, "%s has %llu bytes, the manifest says %llu", r->m.shard_file[i],
                    (unsigned long long)st.st_size, (unsigned long long)r->m.shard_size[i]);
            return -1;
        }
    }
    return 0;
}

/* Rank 0's listing: every rank walks the same candidates even when a
 * shared file system shows the directory to them at different moments. */
static int agreed_steps(const char *dir, const struct plait_io_comm *comm, long long **steps,
                        size_t *n)
{
    *n = 0;
    *steps = !comm || comm->rank == 0 ? ckpt_list_steps(dir, n) : NULL;
    if (!comm)
        return 0;
    int64_t count = (int64_t)*n;
    if (comm->broadcast(comm->ctx, &count, sizeof count, 0) != 0)
        return -1;
    if (comm->rank != 0) {
        *n = (size_t)count;
        *steps = calloc(*n + 1, sizeof **steps);
        if (!*steps)
            return -1;
    }
    return count > 0 && comm->broadcast(comm->ctx, *steps, *n * sizeof **steps, 0) != 0 ? -1 : 0;
}

int plait_ckpt_load_into(const char *dir, const struct plait_io_comm *comm,
                         const struct plait_tensor_slice *want, int n_want, plait_ckpt_reader **out,
                         char err[PLAIT_IO_ERRLEN])
{
    *out = NULL;
    int rank = comm ? comm->rank : 0, size = comm ? comm->size : 1;
    size_t n;
    long long *steps;
    if (agreed_steps(dir, comm, &steps, &n) != 0) {
        io_errf(err, "checkpoint load: broadcast of the checkpoints in '%s' failed", dir);
        free(steps);
        return -1;
    }
    uint32_t *want_crc = n_want > 0 ? calloc((size_t)n_want, sizeof *want_crc) : NULL;
    char *done = calloc((size_t)n_want + 1, 1);
    if (!done) {
        io_errf(err, "checkpoint load: out of memory");
        free(want_crc);
        free(steps);
        return -1;
    }
    int result = 0;
    for (size_t k = 0; k < n && result == 0; k++) {
        char path[4096], why[PLAIT_IO_ERRLEN] = "";
        snprintf(path, sizeof path, "%s/" CKPT_STEP_FMT, dir, steps[k]);
        plait_ckpt_reader *r = plait_ckpt_open(path, why);
        /* bad: manifest unreadable; rank + 1 whose reads failed; shard + 1
         * that failed verification (ranks verify every size-th shard). */
        int64_t bad[3] = {r ? 0 : 1, 0, 0};
        /* Shards this rank has verified by reading them whole into the blocks. */
        char *passed = r ? calloc((size_t)r->m.nshards, 1) : NULL;
        memset(done, 0, (size_t)n_want);
        if (r && !passed) {
            snprintf(why, sizeof why, "out of memory");
            bad[1] = rank + 1;
        } else if (r && want && n_want > 0) {
            int rc = shards_present(r, why);
            for (int i = rank; rc == 0 && !bad[2] && i < r->m.nshards; i += size) {
                int d = read_shard_direct(r, i, want, n_want, done, why);
                passed[i] = d == 1;
                if (d < 0)
                    bad[2] = i + 1;
            }
            for (int i = 0; rc == 0 && !bad[2] && i < r->m.nshards; i++)
                if (reads_from(r, i, want, done, n_want))
                    rc = check_meta(r, i, why);
            if (rc == 0 && !bad[2] && (rc = read_blocks(r, want, n_want, done, want_crc)) != 0)
                snprintf(why, sizeof why, "%s", r->err);
            if (rc != 0)
                bad[1] = rank + 1;
        }
        for (int i = rank; r && !bad[1] && !bad[2] && i < r->m.nshards; i += size)
            if (!passed[i] && verify_shard_read(r, i, want, want_crc, n_want, why) != 0)
                bad[2] = i + 1;
        free(passed);
        int64_t mine[3] = {bad[0], bad[1], bad[2]};
        if (comm_max(comm, bad, 3) != 0) {
            io_errf(err, "checkpoint load: allreduce failed");
            plait_ckpt_reader_close(r);
            result = -1;
            break;
        }
        if (!bad[0] && !bad[1] && !bad[2]) {
            *out = r;
            result = 1;
            break;
        }
        /* One rank names what was wrong: rank 0 an unreadable manifest,
         * else the highest rank whose reads failed, else the verifier of
         * the reported shard. */
        int reporter = bad[0] ? rank == 0 : bad[1] ? mine[1] == bad[1] : mine[2] == bad[2];
        if (reporter)
            fprintf(stderr, "plait-io: warning: skipping checkpoint %s: %s\n", path, why);
        plait_ckpt_reader_close(r);
    }
    free(done);
    free(want_crc);
    free(steps);
    return result;
}

int plait_ckpt_load(const char *dir, const struct plait_io_comm *comm, plait_ckpt_reader **out,
                    char err[PLAIT_IO_ERRLEN])
{
    return plait_ckpt_load_into(dir, comm, NULL, 0, out, err);
}

const struct plait_ckpt_meta *plait_ckpt_reader_meta(const plait_ckpt_reader *r)
{
    return &r->m.meta;
}

const char *plait_ckpt_reader_path(const plait_ckpt_reader *r)
{
    return r->path;
}

int plait_ckpt_reader_nshards(const plait_ckpt_reader *r)
{
    return r->m.nshards;
}

int plait_ckpt_tensor_count(const plait_ckpt_reader *r)
{
    return r->m.ntensors;
}

const char *plait_ckpt_tensor_name(const plait_ckpt_reader *r, int i)
{
    return i >= 0 && i < r->m.ntensors ? r->m.tensors[i].name : NULL;
}

static int find(const plait_ckpt_reader *r, const char *name)
{
    for (int i = 0; i < r->m.ntensors; i++)
        if (!strcmp(r->m.tensors[i].name, name))
            return i;
    return -1;
}

int plait_ckpt_tensor_info(const plait_ckpt_reader *r, const char *name, enum plait_dtype *dtype,
                           int *ndim, int64_t global_shape[PLAIT_IO_MAX_DIMS])
{
    int i = find(r, name);
    if (i < 0)
        return -1;
    *dtype = (enum plait_dtype)r->m.tensors[i].dtype;
    *ndim = r->m.tensors[i].ndim;
    memcpy(global_shape, r->m.tensors[i].shape, sizeof r->m.tensors[i].shape);
    return 0;
}

static hid_t shard_file(plait_ckpt_reader *r, int i)
{
    if (r->shard[i] < 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", r->path, r->m.shard_file[i]);
        io_h5_quiet();
        r->shard[i] = io_h5_open(path);
        if (r->shard[i] < 0)
            io_errf(r->err, "cannot open checkpoint shard '%s'", path);
    }
    return r->shard[i];
}

/* Reads the part of slice s that falls inside want; returns the number of
 * elements read, or -1. */
static int64_t read_overlap(plait_ckpt_reader *r, const struct ckpt_slice *s,
                            const struct plait_tensor_slice *want)
{
    int nd = want->ndim;
    hsize_t fstart[PLAIT_IO_MAX_DIMS], mstart[PLAIT_IO_MAX_DIMS], count[PLAIT_IO_MAX_DIMS];
    hsize_t mdims[PLAIT_IO_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int64_t lo = s->offset[d] > want->offset[d] ? s->offset[d] : want->offset[d];
        int64_t hi_s = s->offset[d] + s->extent[d], hi_w = want->offset[d] + want->extent[d];
        int64_t hi = hi_s < hi_w ? hi_s : hi_w;
        if (hi <= lo)
            return 0;
        fstart[d] = (hsize_t)(lo - s->offset[d]);
        mstart[d] = (hsize_t)(lo - want->offset[d]);
        count[d] = (hsize_t)(hi - lo);
        mdims[d] = (hsize_t)want->extent[d];
    }
    hid_t f = shard_file(r, s->shard);
    if (f < 0)
        return -1;
    char name[IO_NAME_LEN + 16];
    snprintf(name, sizeof name, "tensors/%s", want->name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t fspace = d >= 0 ? H5Dget_space(d) : -1;
    hid_t mspace = H5Screate_simple(nd, mdims, NULL);
    int64_t got = -1;
    if (fspace >= 0 && H5Sget_simple_extent_ndims(fspace) == nd &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, fstart, NULL, count, NULL) >= 0 &&
        H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, count, NULL) >= 0 &&
        H5Dread(d, io_h5_type(want->dtype), mspace, fspace, H5P_DEFAULT, want->data) >= 0) {
        got = 1;
        for (int k = 0; k < nd; k++)
            got *= (int64_t)count[k];
    } else {
        io_errf(r->err, "cannot read tensor '%s' from %s/%s", want->name, r->path,
                r->m.shard_file[s->shard]);
    }
    H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    if (d >= 0)
        H5Dclose(d);
    return got;
}

int plait_ckpt_read(plait_ckpt_reader *r, const struct plait_tensor_slice *want)
{
    int ti = find(r, want->name ? want->name : "");
    if (ti < 0) {
        io_errf(r->err, "checkpoint %s has no tensor '%s'", r->path, want->name ? want->name : "");
        return -1;
    }
    const struct ckpt_tensor *t = &r->m.tensors[ti];
    int same = (int)want->dtype == t->dtype && want->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = want->global_shape[d] == t->shape[d] && want->offset[d] >= 0 &&
               want->extent[d] >= 0 && want->offset[d] + want->extent[d] <= t->shape[d];
    if (!same) {
        io_errf(r->err,
                "tensor '%s': asked for a %s slice of a %d-dim tensor, checkpoint %s holds %s "
                "with %d dims (or the slice leaves its shape)",
                want->name, io_dtype_name(want->dtype), want->ndim, r->path,
                io_dtype_name((enum plait_dtype)t->dtype), t->ndim);
        return -1;
    }
    /* Slices tile the tensor without overlap (checked at commit), so the
     * elements read add up to the request exactly when it is covered. */
    int64_t covered = 0;
    for (int i = 0; i < r->m.nslices; i++) {
        if (r->m.slices[i].tensor != ti)
            continue;
        int64_t got = read_overlap(r, &r->m.slices[i], want);
        if (got < 0)
            return -1;
        covered += got;
    }
    int64_t need = ckpt_volume(want->ndim, want->extent);
    if (covered != need) {
        io_errf(r->err, "tensor '%s': checkpoint %s covers %lld of the %lld elements asked for",
                want->name, r->path, (long long)covered, (long long)need);
        return -1;
    }
    return 0;
}

long plait_ckpt_read_blob(plait_ckpt_reader *r, const char *name, int shard, void *buf, size_t cap)
{
    if (shard < 0 || shard >= r->m.nshards) {
        io_errf(r->err, "blob '%s': shard %d (expected 0..%d)", name, shard, r->m.nshards - 1);
        return -1;
    }
    hid_t f = shard_file(r, shard);
    if (f < 0)
        return -1;
    char path[IO_NAME_LEN + 16];
    snprintf(path, sizeof path, "blobs/%s", name);
    io_h5_quiet();
    long long n = H5Lexists(f, "blobs", H5P_DEFAULT) > 0 && H5Lexists(f, path, H5P_DEFAULT) > 0
                      ? io_array_len(f, path)
                      : -1;
    if (n < 0) {
        io_errf(r->err, "checkpoint %s: shard %d has no blob '%s'", r->path, shard, name);
        return -1;
    }
    unsigned char *tmp = malloc((size_t)n + 1);
    if (!tmp || io_array_get(f, path, H5T_NATIVE_UINT8, (size_t)n, tmp) != 0) {
        free(tmp);
        io_errf(r->err, "cannot read blob '%s' of shard %d in %s", name, shard, r->path);
        return -1;
    }
    memcpy(buf, tmp, (size_t)n < cap ? (size_t)n : cap);
    free(tmp);
    return (long)n;
}

int plait_ckpt_export(plait_ckpt_reader *r, const char *out_path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    io_h5_quiet();
    hid_t f = io_h5_create(tmp);
    if (f < 0) {
        io_errf(r->err, "cannot create export file '%s': %s", tmp, io_h5_reason());
        return -1;
    }
    const struct plait_ckpt_meta *me = &r->m.meta;
    int rc = io_attr_put_i64(f, "step", me->step) || io_attr_put_i64(f, "dp", me->dp) ||
                     io_attr_put_i64(f, "tp", me->tp) || io_attr_put_i64(f, "pp", me->pp)
                 ? -1
                 : 0;
    for (int i = 0; rc == 0 && i < r->m.ntensors; i++) {
        const struct ckpt_tensor *t = &r->m.tensors[i];
        struct plait_tensor_slice s = {
            .name = t->name, .dtype = (enum plait_dtype)t->dtype, .ndim = t->ndim};
        hsize_t dims[PLAIT_IO_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) {
            s.global_shape[d] = s.extent[d] = t->shape[d];
            dims[d] = (hsize_t)t->shape[d];
        }
        size_t bytes = (size_t)ckpt_volume(t->ndim, t->shape) * io_dtype_size(s.dtype);
        s.data = malloc(bytes ? bytes : 1);
        if (!s.data) {
            io_errf(r->err, "out of memory exporting '%s' (%zu bytes)", t->name, bytes);
            rc = -1;
        } else if (plait_ckpt_read(r, &s) != 0) {
            rc = -1;
        } else if (io_array_put(f, t->name, io_h5_type(s.dtype), t->ndim, dims, s.data) != 0) {
            io_errf(r->err, "cannot write '%s' to '%s'", t->name, tmp);
            rc = -1;
        }
        free(s.data);
    }
    if (io_h5_close(f) != 0 && rc == 0) {
        io_errf(r->err, "cannot close '%s': %s", tmp, io_h5_reason());
        rc = -1;
    }
    if (rc == 0 && io_fsync_path(tmp, r->err) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, out_path) != 0) {
        io_errf(r->err, "cannot rename '%s' to '%s': %s", tmp, out_path, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        return 0;
    unlink(tmp);
    return -1;
}

const char *plait_ckpt_reader_error(const plait_ckpt_reader *r)
{
    return r->err;
}

void plait_ckpt_reader_close(plait_ckpt_reader *r)
{
    if (!r)
        return;
    for (int i = 0; r->shard && i < r->m.nshards; i++)
        if (r->shard[i] >= 0)
            H5Fclose(r->shard[i]);
    free(r->shard);
    ckpt_manifest_free(&r->m);
    free(r->path);
    free(r);
}
