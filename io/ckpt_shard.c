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

/* Creates one tensor's contiguous dataset with its space allocated now and
 * never filled, and returns where its bytes go (HADDR_UNDEF when it has
 * none): they are written there after the file is closed, each piece CRC'd
 * while in cache, instead of H5Dwrite plus a CRC of the tensor from memory. */
static int create_tensor(hid_t file, const struct ckpt_entry *e, haddr_t *at)
{
    hsize_t dims[PLAIT_IO_MAX_DIMS];
    for (int i = 0; i < e->t.ndim; i++)
        dims[i] = (hsize_t)e->t.extent[i];
    char path[IO_NAME_LEN + 16];
    snprintf(path, sizeof path, "tensors/%s", e->t.name);
    hid_t space = H5Screate_simple(e->t.ndim, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = H5Dcreate2(file, path, io_h5_le_type(e->t.dtype), space, lcpl, dcpl, H5P_DEFAULT);
    *at = d >= 0 && e->bytes > 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    int rc = d >= 0 && (e->bytes == 0 || *at != HADDR_UNDEF) ? 0 : -1;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    return rc;
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
        io_errf(err, "cannot create checkpoint shard '%s': %s", job->path, io_h5_reason());
        return -1;
    }
    int rc = io_attr_put_i64(file, "rank", job->rank) ||
                     io_attr_put_i64(file, "nranks", job->nranks) ||
                     io_attr_put_i64(file, "step", job->step) ||
                     io_attr_put_str(file, "format", IO_FORMAT_VERSION)
                 ? -1
                 : 0;
    struct io_region *regions = calloc((size_t)job->n_entries + 1, sizeof *regions);
    int n = 0;
    if (!regions)
        rc = -1;
    for (int i = 0; rc == 0 && i < job->n_entries; i++) {
        haddr_t at;
        if (create_tensor(file, &job->entries[i], &at) != 0) {
            io_errf(err, "cannot create tensor '%s' in '%s'", job->entries[i].t.name, job->path);
            rc = -1;
        } else if (at != HADDR_UNDEF) {
            /* Tensors without bytes in the file are read with the gaps. */
            regions[n++] =
                (struct io_region){(uint64_t)at, job->entries[i].bytes, 0, (void *)source(job, i)};
        }
    }
    if (rc == 0 && write_index(file, job->entries, job->n_entries) != 0) {
        io_errf(err, "cannot write the tensor index of '%s'", job->path);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < job->n_blobs; i++) {
        char path[IO_NAME_LEN + 16];
        hsize_t nb = job->blobs[i].bytes;
        snprintf(path, sizeof path, "blobs/%s", job->blobs[i].name);
        if (io_array_put(file, path, H5T_NATIVE_UINT8, 1, &nb, job->blobs[i].data) != 0) {
            io_errf(err, "cannot write blob '%s' to '%s'", job->blobs[i].name, job->path);
            rc = -1;
        }
    }
    if (io_h5_close(file) != 0 && rc == 0) {
        io_errf(err, "cannot close checkpoint shard '%s': %s", job->path, io_h5_reason());
        rc = -1;
    }
    if (rc == 0)
        rc = io_file_write_regions(job->path, regions, n, err);
    if (rc != 0) {
        free(regions);
        return -1;
    }
    /* Their CRCs are known now: the pass below reads only the gaps. */
    for (int i = 0; i < n; i++)
        regions[i].data = NULL;
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
