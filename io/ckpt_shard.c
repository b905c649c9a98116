/* One rank's shard file: its tensor slices, an index of them, its blobs. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_internal.h"

static const void *source(const struct ckpt_shard_job *job, int i)
{
    return job->direct ? job->entries[i].t.data : job->entries[i].snap;
}

/* Writes one tensor as a contiguous dataset and returns where its bytes
 * start in the file (HADDR_UNDEF when it has none). */
static int write_tensor(hid_t file, const struct ckpt_entry *e, const void *data, haddr_t *at)
{
    hsize_t dims[PLAIT_IO_MAX_DIMS];
    for (int i = 0; i < e->t.ndim; i++)
        dims[i] = (hsize_t)e->t.extent[i];
    char path[IO_NAME_LEN + 16];
    snprintf(path, sizeof path, "tensors/%s", e->t.name);
    hid_t type = io_h5_type(e->t.dtype);
    hid_t space = H5Screate_simple(e->t.ndim, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(file, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc =
        d >= 0 && (e->bytes == 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0)
            ? 0
            : -1;
    *at = rc == 0 && e->bytes > 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(space);
    return rc;
}

struct data_crc {
    const struct ckpt_shard_job *job;
    struct io_region *regions; /* one per entry, in entry order */
};

static void *data_crc_main(void *arg)
{
    struct data_crc *d = arg;
    for (int i = 0; i < d->job->n_entries; i++)
        d->regions[i].crc = io_crc32c_buf(source(d->job, i), d->job->entries[i].bytes, 1);
    return NULL;
}

static int write_index(hid_t file, const struct ckpt_entry *entries, int n)
{
    char(*names)[IO_NAME_LEN] = calloc((size_t)n + 1, IO_NAME_LEN);
    int32_t *dtype = calloc((size_t)n + 1, sizeof *dtype);
    int32_t *ndim = calloc((size_t)n + 1, sizeof *ndim);
    int64_t(*shape)[PLAIT_IO_MAX_DIMS] = calloc((size_t)n + 1, sizeof *shape);
    int64_t(*offset)[PLAIT_IO_MAX_DIMS] = calloc((size_t)n + 1, sizeof *offset);
    int64_t(*extent)[PLAIT_IO_MAX_DIMS] = calloc((size_t)n + 1, sizeof *extent);
    int rc = -1;
    if (names && dtype && ndim && shape && offset && extent) {
        for (int i = 0; i < n; i++) {
            const struct plait_tensor_slice *t = &entries[i].t;
            snprintf(names[i], IO_NAME_LEN, "%s", t->name);
            dtype[i] = (int32_t)t->dtype;
            ndim[i] = t->ndim;
            for (int d = 0; d < t->ndim; d++) {
                shape[i][d] = t->global_shape[d];
                offset[i][d] = t->offset[d];
                extent[i][d] = t->extent[d];
            }
        }
        hsize_t d1 = (hsize_t)n, d2[2] = {(hsize_t)n, PLAIT_IO_MAX_DIMS};
        hid_t nt = io_name_type();
        rc = io_array_put(file, "index/name", nt, 1, &d1, names) ||
                     io_array_put(file, "index/dtype", H5T_NATIVE_INT32, 1, &d1, dtype) ||
                     io_array_put(file, "index/ndim", H5T_NATIVE_INT32, 1, &d1, ndim) ||
                     io_array_put(file, "index/global_shape", H5T_NATIVE_INT64, 2, d2, shape) ||
                     io_array_put(file, "index/offset", H5T_NATIVE_INT64, 2, d2, offset) ||
                     io_array_put(file, "index/extent", H5T_NATIVE_INT64, 2, d2, extent)
                 ? -1
                 : 0;
        H5Tclose(nt);
    }
    free(names);
    free(dtype);
    free(ndim);
    free(shape);
    free(offset);
    free(extent);
    return rc;
}

struct fsync_job {
    const char *path;
    int rc;
    char err[PLAIT_IO_ERRLEN];
};

static void *fsync_main(void *arg)
{
    struct fsync_job *j = arg;
    j->rc = io_fsync_path(j->path, j->err);
    return NULL;
}

int ckpt_write_shard(const struct ckpt_shard_job *job, uint32_t *crc, uint64_t *bytes, char *err)
{
    io_h5_quiet();
    hid_t file = io_h5_create(job->path);
    if (file < 0) {
        io_errf(err, "cannot create checkpoint shard '%s'", job->path);
        return -1;
    }
    int rc = io_attr_put_i64(file, "rank", job->rank) ||
                     io_attr_put_i64(file, "nranks", job->nranks) ||
                     io_attr_put_i64(file, "step", job->step) ||
                     io_attr_put_str(file, "format", IO_FORMAT_VERSION)
                 ? -1
                 : 0;
    struct io_region *regions = calloc((size_t)job->n_entries + 1, sizeof *regions);
    struct data_crc dc = {job, regions};
    pthread_t crc_thread;
    int crc_threaded = regions && pthread_create(&crc_thread, NULL, data_crc_main, &dc) == 0;
    if (!regions)
        rc = -1;
    for (int i = 0; rc == 0 && i < job->n_entries; i++) {
        haddr_t at;
        if (write_tensor(file, &job->entries[i], source(job, i), &at) != 0) {
            io_errf(err, "cannot write tensor '%s' to '%s'", job->entries[i].t.name, job->path);
            rc = -1;
        }
        regions[i].offset = at == HADDR_UNDEF ? UINT64_MAX : (uint64_t)at;
        regions[i].bytes = job->entries[i].bytes;
    }
    if (rc == 0 && write_index(file, job->entries, job->n_entries) != 0) {
        io_errf(err, "cannot write the tensor index of '%s'", job->path);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < job->n_blobs; i++) {
        char path[IO_NAME_LEN + 16];
        hsize_t n = job->blobs[i].bytes;
        snprintf(path, sizeof path, "blobs/%s", job->blobs[i].name);
        if (io_array_put(file, path, H5T_NATIVE_UINT8, 1, &n, job->blobs[i].data) != 0) {
            io_errf(err, "cannot write blob '%s' to '%s'", job->blobs[i].name, job->path);
            rc = -1;
        }
    }
    if (H5Fclose(file) < 0 && rc == 0) {
        io_errf(err, "cannot close checkpoint shard '%s'", job->path);
        rc = -1;
    }
    if (crc_threaded)
        pthread_join(crc_thread, NULL);
    else if (regions)
        data_crc_main(&dc);
    /* Tensors without bytes in the file are read with the gaps. */
    int n = 0;
    for (int i = 0; regions && i < job->n_entries; i++)
        if (regions[i].offset != UINT64_MAX)
            regions[n++] = regions[i];
    if (rc != 0) {
        free(regions);
        return -1;
    }
    /* The CRC reads the freshly written pages while the fsync pushes them
     * to disk: the two overlap instead of adding up. */
    struct fsync_job fj = {.path = job->path};
    pthread_t t;
    int threaded = pthread_create(&t, NULL, fsync_main, &fj) == 0;
    if (!threaded)
        fsync_main(&fj);
    rc = io_file_crc32c_regions(job->path, regions, n, crc, bytes, err);
    free(regions);
    if (threaded)
        pthread_join(t, NULL);
    if (rc == 0 && fj.rc != 0) {
        snprintf(err, PLAIT_IO_ERRLEN, "%s", fj.err);
        rc = -1;
    }
    return rc;
}
