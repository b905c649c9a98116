/* The checkpoint reader: choosing the newest valid checkpoint, verifying
 * shards, and reading any block of a global tensor (resharding). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Committed step directories, newest first; temporaries never qualify. */
static long long *list_steps(const char *dir, size_t *n)
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

int plait_ckpt_load(const char *dir, const struct plait_io_comm *comm, plait_ckpt_reader **out,
                    char err[PLAIT_IO_ERRLEN])
{
    *out = NULL;
    int rank = comm ? comm->rank : 0, size = comm ? comm->size : 1;
    size_t n = 0;
    long long *steps = list_steps(dir, &n);
    int result = 0;
    for (size_t k = 0; k < n && result == 0; k++) {
        char path[4096], why[PLAIT_IO_ERRLEN] = "";
        snprintf(path, sizeof path, "%s/" CKPT_STEP_FMT, dir, steps[k]);
        plait_ckpt_reader *r = plait_ckpt_open(path, why);
        /* Ranks verify every size-th shard and agree on the worst. */
        int64_t bad[2] = {r ? 0 : 1, 0};
        for (int i = rank; r && i < r->m.nshards && !bad[1]; i += size)
            if (verify_shard(r, i, why) != 0)
                bad[1] = i + 1;
        int64_t mine = bad[1];
        if (comm_max(comm, bad, 2) != 0) {
            io_errf(err, "checkpoint load: allreduce failed");
            plait_ckpt_reader_close(r);
            result = -1;
            break;
        }
        if (!bad[0] && !bad[1]) {
            *out = r;
            result = 1;
            break;
        }
        /* Each shard has one verifier: the one that found the reported
         * shard bad names it; rank 0 reports an unreadable manifest. */
        if ((bad[0] && rank == 0) || (!bad[0] && mine == bad[1]))
            fprintf(stderr, "plait-io: warning: skipping checkpoint %s: %s\n", path, why);
        plait_ckpt_reader_close(r);
    }
    free(steps);
    return result;
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
        io_errf(r->err, "cannot create export file '%s'", tmp);
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
    if (H5Fclose(f) < 0 && rc == 0) {
        io_errf(r->err, "cannot close '%s'", tmp);
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
