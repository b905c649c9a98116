/* The manifest: shard list with sizes and CRCs, the slice table, and
 * virtual datasets that stitch the shards into the global tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"

int64_t ckpt_volume(int ndim, const int64_t *extent)
{
    int64_t v = 1;
    for (int d = 0; d < ndim; d++)
        v *= extent[d];
    return v;
}

void ckpt_manifest_free(struct ckpt_manifest *m)
{
    free(m->shard_file);
    free(m->shard_size);
    free(m->shard_crc);
    free(m->shard_meta_crc);
    free(m->regions);
    free(m->tensors);
    free(m->slices);
    memset(m, 0, sizeof *m);
}

static int find_tensor(const struct ckpt_manifest *m, const char *name)
{
    for (int i = 0; i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return i;
    return -1;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *v)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ",%lld" : "%lld", (long long)v[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Adds one shard's index entry; identical slices (replicas) count once. */
static int add_slice(struct ckpt_manifest *m, int shard, const char *name, int32_t dtype,
                     int32_t ndim, const int64_t *shape, const int64_t *off, const int64_t *ext,
                     int *slice, char *err)
{
    *slice = -1;
    int ti = find_tensor(m, name);
    if (ti < 0) {
        struct ckpt_tensor *t = realloc(m->tensors, (size_t)(m->ntensors + 1) * sizeof *t);
        if (!t)
            return -1;
        m->tensors = t;
        ti = m->ntensors++;
        memset(&t[ti], 0, sizeof t[ti]);
        snprintf(t[ti].name, IO_NAME_LEN, "%s", name);
        t[ti].dtype = dtype;
        t[ti].ndim = ndim;
        memcpy(t[ti].shape, shape, sizeof t[ti].shape);
    }
    const struct ckpt_tensor *t = &m->tensors[ti];
    if (t->dtype != dtype || t->ndim != ndim ||
        memcmp(t->shape, shape, (size_t)ndim * sizeof *shape)) {
        char a[128], b[128];
        shape_str(a, sizeof a, ndim, shape);
        shape_str(b, sizeof b, t->ndim, t->shape);
        io_errf(err, "tensor '%s': shard %d has %s %s, an earlier shard %s %s", name, shard,
                io_dtype_name(dtype), a, io_dtype_name(t->dtype), b);
        return -1;
    }
    for (int d = 0; d < ndim; d++)
        if (off[d] < 0 || ext[d] < 0 || off[d] + ext[d] > shape[d]) {
            io_errf(err, "tensor '%s': shard %d's slice leaves the global shape in dim %d", name,
                    shard, d);
            return -1;
        }
    for (int i = 0; i < m->nslices; i++) {
        const struct ckpt_slice *s = &m->slices[i];
        if (s->tensor != ti)
            continue;
        if (!memcmp(s->offset, off, (size_t)ndim * sizeof *off) &&
            !memcmp(s->extent, ext, (size_t)ndim * sizeof *ext))
            return 0;
        int overlap = 1;
        for (int d = 0; d < ndim; d++)
            if (off[d] >= s->offset[d] + s->extent[d] || s->offset[d] >= off[d] + ext[d])
                overlap = 0;
        if (overlap && ckpt_volume(ndim, ext) > 0) {
            io_errf(err, "tensor '%s': slices of shards %d and %d overlap partially", name,
                    s->shard, shard);
            return -1;
        }
    }
    struct ckpt_slice *s = realloc(m->slices, (size_t)(m->nslices + 1) * sizeof *s);
    if (!s)
        return -1;
    m->slices = s;
    *slice = m->nslices;
    s = &m->slices[m->nslices++];
    memset(s, 0, sizeof *s);
    s->tensor = ti;
    s->shard = shard;
    memcpy(s->offset, off, (size_t)ndim * sizeof *off);
    memcpy(s->extent, ext, (size_t)ndim * sizeof *ext);
    return 0;
}

/* Records where the shard holds a tensor's bytes (contiguous datasets). */
static int add_region(struct ckpt_manifest *m, hid_t f, int shard, int slice, const char *name,
                      uint64_t bytes, const char *path, char *err)
{
    char dset[IO_NAME_LEN + 16];
    snprintf(dset, sizeof dset, "tensors/%s", name);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    haddr_t at = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d >= 0)
        H5Dclose(d);
    struct ckpt_region *r = realloc(m->regions, (size_t)(m->nregions + 1) * sizeof *r);
    if (at == HADDR_UNDEF || !r) {
        if (r)
            m->regions = r;
        io_errf(err, "tensor '%s' of '%s' has no contiguous bytes", name, path);
        return -1;
    }
    m->regions = r;
    m->regions[m->nregions++] = (struct ckpt_region){shard, slice, (uint64_t)at, bytes};
    return 0;
}

/* CRC32C of the bytes of shard `shard` outside its tensor regions: the
 * HDF5 metadata, checked before a reader lets HDF5 parse the file. */
int ckpt_meta_crc(const struct ckpt_manifest *m, const char *path, int shard, uint32_t *crc,
                  char *err)
{
    struct io_region *r = calloc((size_t)m->nregions + 1, sizeof *r);
    int n = 0;
    for (int i = 0; r && i < m->nregions; i++)
        if (m->regions[i].shard == shard)
            r[n++] = (struct io_region){m->regions[i].offset, m->regions[i].bytes, 0, NULL};
    int rc = r ? io_file_gaps_crc32c(path, r, n, crc) : -1;
    free(r);
    if (rc != 0)
        io_errf(err, "cannot read the metadata of '%s'", path);
    return rc;
}

static int read_shard_index(struct ckpt_manifest *m, const char *dir, int shard, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" CKPT_SHARD_FMT, dir, shard);
    hid_t f = io_h5_open(path);
    if (f < 0) {
        io_errf(err, "cannot open checkpoint shard '%s'", path);
        return -1;
    }
    long long n = io_array_len(f, "index/name");
    int rc = n < 0 ? -1 : 0;
    size_t un = n > 0 ? (size_t)n : 0;
    char(*names)[IO_NAME_LEN] = calloc(un + 1, IO_NAME_LEN);
    int32_t *dtype = calloc(un + 1, sizeof *dtype), *ndim = calloc(un + 1, sizeof *ndim);
    int64_t(*shape)[PLAIT_IO_MAX_DIMS] = calloc(un + 1, sizeof *shape);
    int64_t(*off)[PLAIT_IO_MAX_DIMS] = calloc(un + 1, sizeof *off);
    int64_t(*ext)[PLAIT_IO_MAX_DIMS] = calloc(un + 1, sizeof *ext);
    hid_t nt = io_name_type();
    size_t n2 = un * PLAIT_IO_MAX_DIMS;
    if (rc || !names || !dtype || !ndim || !shape || !off || !ext ||
        io_array_get(f, "index/name", nt, un, names) ||
        io_array_get(f, "index/dtype", H5T_NATIVE_INT32, un, dtype) ||
        io_array_get(f, "index/ndim", H5T_NATIVE_INT32, un, ndim) ||
        io_array_get(f, "index/global_shape", H5T_NATIVE_INT64, n2, shape) ||
        io_array_get(f, "index/offset", H5T_NATIVE_INT64, n2, off) ||
        io_array_get(f, "index/extent", H5T_NATIVE_INT64, n2, ext)) {
        io_errf(err, "cannot read the tensor index of '%s'", path);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < un; i++) {
        int slice;
        rc =
            add_slice(m, shard, names[i], dtype[i], ndim[i], shape[i], off[i], ext[i], &slice, err);
        uint64_t bytes =
            (uint64_t)ckpt_volume(ndim[i], ext[i]) * io_dtype_size((enum plait_dtype)dtype[i]);
        if (rc == 0 && bytes > 0)
            rc = add_region(m, f, shard, slice, names[i], bytes, path, err);
    }
    H5Tclose(nt);
    free(names);
    free(dtype);
    free(ndim);
    free(shape);
    free(off);
    free(ext);
    H5Fclose(f);
    return rc;
}

int ckpt_manifest_build(struct ckpt_manifest *m, const char *dir, int nshards, char *err)
{
    m->nshards = nshards;
    m->shard_file = calloc((size_t)nshards, IO_NAME_LEN);
    m->shard_size = calloc((size_t)nshards, sizeof *m->shard_size);
    m->shard_crc = calloc((size_t)nshards, sizeof *m->shard_crc);
    m->shard_meta_crc = calloc((size_t)nshards, sizeof *m->shard_meta_crc);
    if (!m->shard_file || !m->shard_size || !m->shard_crc || !m->shard_meta_crc) {
        io_errf(err, "out of memory building the manifest of '%s'", dir);
        return -1;
    }
    for (int r = 0; r < nshards; r++) {
        snprintf(m->shard_file[r], IO_NAME_LEN, CKPT_SHARD_FMT, r);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, m->shard_file[r]);
        if (read_shard_index(m, dir, r, err) != 0 ||
            ckpt_meta_crc(m, path, r, &m->shard_meta_crc[r], err) != 0)
            return -1;
    }
    for (int ti = 0; ti < m->ntensors; ti++) {
        const struct ckpt_tensor *t = &m->tensors[ti];
        int64_t covered = 0, want = ckpt_volume(t->ndim, t->shape);
        for (int i = 0; i < m->nslices; i++)
            if (m->slices[i].tensor == ti)
                covered += ckpt_volume(t->ndim, m->slices[i].extent);
        if (covered != want) {
            io_errf(err, "tensor '%s': the shards hold %lld of its %lld elements", t->name,
                    (long long)covered, (long long)want);
            return -1;
        }
    }
    return 0;
}

static int write_vds(hid_t file, const struct ckpt_manifest *m, int ti)
{
    const struct ckpt_tensor *t = &m->tensors[ti];
    hsize_t dims[PLAIT_IO_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++)
        dims[d] = (hsize_t)t->shape[d];
    hid_t vspace = H5Screate_simple(t->ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    char src[IO_NAME_LEN + 16], vname[IO_NAME_LEN + 16];
    snprintf(src, sizeof src, "/tensors/%s", t->name);
    snprintf(vname, sizeof vname, "global/%s", t->name);
    int rc = 0;
    for (int i = 0; rc == 0 && i < m->nslices; i++) {
        const struct ckpt_slice *s = &m->slices[i];
        if (s->tensor != ti || ckpt_volume(t->ndim, s->extent) == 0)
            continue;
        hsize_t start[PLAIT_IO_MAX_DIMS], count[PLAIT_IO_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) {
            start[d] = (hsize_t)s->offset[d];
            count[d] = (hsize_t)s->extent[d];
        }
        hid_t sspace = H5Screate_simple(t->ndim, count, NULL);
        rc = H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                     H5Pset_virtual(dcpl, vspace, m->shard_file[s->shard], src, sspace) < 0
                 ? -1
                 : 0;
        H5Sclose(sspace);
    }
    H5Sselect_all(vspace);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = rc == 0 ? H5Dcreate2(file, vname, io_h5_le_type((enum plait_dtype)t->dtype), vspace,
                                   lcpl, dcpl, H5P_DEFAULT)
                      : -1;
    if (d < 0)
        rc = -1;
    else
        H5Dclose(d);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(vspace);
    return rc;
}

static int write_regions(hid_t f, const struct ckpt_manifest *m)
{
    size_t n = (size_t)m->nregions;
    int32_t *shard = calloc(n + 1, sizeof *shard), *slice = calloc(n + 1, sizeof *slice);
    uint64_t *off = calloc(n + 1, sizeof *off), *bytes = calloc(n + 1, sizeof *bytes);
    int rc = shard && slice && off && bytes ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        shard[i] = m->regions[i].shard;
        slice[i] = m->regions[i].slice;
        off[i] = m->regions[i].offset;
        bytes[i] = m->regions[i].bytes;
    }
    hsize_t d = n;
    rc = rc || io_array_put(f, "regions/shard", H5T_NATIVE_INT32, 1, &d, shard) ||
         io_array_put(f, "regions/slice", H5T_NATIVE_INT32, 1, &d, slice) ||
         io_array_put(f, "regions/offset", H5T_NATIVE_UINT64, 1, &d, off) ||
         io_array_put(f, "regions/bytes", H5T_NATIVE_UINT64, 1, &d, bytes);
    free(shard);
    free(slice);
    free(off);
    free(bytes);
    return rc ? -1 : 0;
}

static int read_regions(hid_t f, struct ckpt_manifest *m, long long max)
{
    long long n = io_array_len(f, "regions/shard");
    if (n < 0 || n > max)
        return -1;
    size_t un = (size_t)n;
    int32_t *shard = calloc(un + 1, sizeof *shard), *slice = calloc(un + 1, sizeof *slice);
    uint64_t *off = calloc(un + 1, sizeof *off), *bytes = calloc(un + 1, sizeof *bytes);
    m->regions = calloc(un + 1, sizeof *m->regions);
    int rc = shard && slice && off && bytes && m->regions &&
                     !io_array_get(f, "regions/shard", H5T_NATIVE_INT32, un, shard) &&
                     !io_array_get(f, "regions/slice", H5T_NATIVE_INT32, un, slice) &&
                     !io_array_get(f, "regions/offset", H5T_NATIVE_UINT64, un, off) &&
                     !io_array_get(f, "regions/bytes", H5T_NATIVE_UINT64, un, bytes)
                 ? 0
                 : -1;
    for (size_t i = 0; rc == 0 && i < un; i++) {
        m->regions[i] = (struct ckpt_region){shard[i], slice[i], off[i], bytes[i]};
        if (shard[i] < 0 || shard[i] >= m->nshards || slice[i] < -1 || slice[i] >= m->nslices)
            rc = -1;
    }
    m->nregions = (int)un;
    free(shard);
    free(slice);
    free(off);
    free(bytes);
    return rc;
}

int ckpt_manifest_write(const struct ckpt_manifest *m, const char *dir, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    hid_t f = io_h5_create(path);
    if (f < 0) {
        io_errf(err, "cannot create manifest '%s': %s", path, io_h5_reason());
        return -1;
    }
    size_t nt = (size_t)m->ntensors, ns = (size_t)m->nslices;
    int32_t *i32 = calloc(nt + ns + 1, sizeof *i32);
    int64_t(*wide)[PLAIT_IO_MAX_DIMS] = calloc(nt + ns + 1, sizeof *wide);
    char(*names)[IO_NAME_LEN] = calloc(nt + 1, IO_NAME_LEN);
    hid_t ntype = io_name_type();
    const struct plait_ckpt_meta *me = &m->meta;
    hsize_t dshards = (hsize_t)m->nshards, dt = nt, ds = ns;
    hsize_t dt2[2] = {nt, PLAIT_IO_MAX_DIMS}, ds2[2] = {ns, PLAIT_IO_MAX_DIMS};
    int rc =
        !i32 || !wide || !names || io_attr_put_str(f, "format", IO_FORMAT_VERSION) ||
        io_attr_put_i64(f, "step", me->step) || io_attr_put_i64(f, "dp", me->dp) ||
        io_attr_put_i64(f, "tp", me->tp) || io_attr_put_i64(f, "pp", me->pp) ||
        io_attr_put_i64(f, "loader_epoch", (int64_t)me->loader.epoch) ||
        io_attr_put_i64(f, "loader_index", (int64_t)me->loader.index) ||
        io_attr_put_i64(f, "nshards", m->nshards) ||
        io_array_put(f, "shards/file", ntype, 1, &dshards, m->shard_file) ||
        io_array_put(f, "shards/size", H5T_NATIVE_UINT64, 1, &dshards, m->shard_size) ||
        io_array_put(f, "shards/crc32c", H5T_NATIVE_UINT32, 1, &dshards, m->shard_crc) ||
        io_array_put(f, "shards/meta_crc32c", H5T_NATIVE_UINT32, 1, &dshards, m->shard_meta_crc) ||
        write_regions(f, m);
    if (!rc) {
        for (size_t i = 0; i < nt; i++) {
            snprintf(names[i], IO_NAME_LEN, "%s", m->tensors[i].name);
            i32[i] = m->tensors[i].dtype;
            memcpy(wide[i], m->tensors[i].shape, sizeof wide[i]);
        }
        rc = io_array_put(f, "tensors/name", ntype, 1, &dt, names) ||
             io_array_put(f, "tensors/dtype", H5T_NATIVE_INT32, 1, &dt, i32) ||
             io_array_put(f, "tensors/shape", H5T_NATIVE_INT64, 2, dt2, wide);
        for (size_t i = 0; i < nt; i++)
            i32[i] = m->tensors[i].ndim;
        rc = rc || io_array_put(f, "tensors/ndim", H5T_NATIVE_INT32, 1, &dt, i32);
    }
    for (int k = 0; !rc && k < 4; k++) {
        static const char *const what[] = {"slices/tensor", "slices/shard", "slices/offset",
                                           "slices/extent"};
        for (size_t i = 0; i < ns; i++) {
            const struct ckpt_slice *s = &m->slices[i];
            if (k < 2)
                i32[i] = k == 0 ? s->tensor : s->shard;
            else
                memcpy(wide[i], k == 2 ? s->offset : s->extent, sizeof wide[i]);
        }
        rc = k < 2 ? io_array_put(f, what[k], H5T_NATIVE_INT32, 1, &ds, i32)
                   : io_array_put(f, what[k], H5T_NATIVE_INT64, 2, ds2, wide);
    }
    for (int ti = 0; !rc && ti < m->ntensors; ti++)
        rc = write_vds(f, m, ti);
    H5Tclose(ntype);
    free(i32);
    free(wide);
    free(names);
    if (io_h5_close(f) != 0 && !rc) {
        io_errf(err, "cannot write manifest '%s': %s", path, io_h5_reason());
        return -1;
    }
    if (rc) {
        io_errf(err, "cannot write manifest '%s'", path);
        return -1;
    }
    return io_fsync_path(path, err);
}

/* The manifest's own checksum lives beside it: a manifest is parsed only
 * once its bytes are known to be the ones written. */
static int seal_path(char *buf, size_t cap, const char *dir)
{
    return snprintf(buf, cap, "%s/" IO_MANIFEST_SEAL, dir) < (int)cap ? 0 : -1;
}

int ckpt_manifest_seal(const char *dir, char *err)
{
    char path[4096], seal[4096], line[64];
    uint32_t crc;
    uint64_t bytes;
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    if (seal_path(seal, sizeof seal, dir) != 0 || io_file_crc32c(path, &crc, &bytes, err) != 0)
        return -1;
    int n = snprintf(line, sizeof line, "%08x %llu\n", crc, (unsigned long long)bytes);
    return io_write_file_atomic(seal, line, (size_t)n, err);
}

/* On success *bytes is the manifest's size. */
static int check_seal(const char *dir, uint64_t *bytes, char *err)
{
    char path[4096], seal[4096];
    unsigned want_crc;
    unsigned long long want_bytes;
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    FILE *f = seal_path(seal, sizeof seal, dir) == 0 ? fopen(seal, "r") : NULL;
    int fields = f ? fscanf(f, "%8x %llu", &want_crc, &want_bytes) : 0;
    if (f)
        fclose(f);
    if (fields != 2) {
        io_errf(err, "%s is missing or unreadable (expected \"CRC32C BYTES\")", seal);
        return -1;
    }
    uint32_t crc;
    if (io_file_crc32c(path, &crc, bytes, err) != 0)
        return -1;
    if (crc != want_crc || *bytes != want_bytes) {
        io_errf(err, "%s has CRC32C %08x and %llu bytes, %s says %08x and %llu", IO_MANIFEST, crc,
                (unsigned long long)*bytes, IO_MANIFEST_SEAL, want_crc, want_bytes);
        return -1;
    }
    return 0;
}

/* Whether every tensor's shape is non-negative with a byte count that fits
 * in int64_t, and every slice lies inside its tensor: readers add offsets
 * and extents and multiply shapes without checking again. */
static int geometry_ok(const struct ckpt_manifest *m)
{
    for (int i = 0; i < m->ntensors; i++) {
        const struct ckpt_tensor *t = &m->tensors[i];
        int64_t bytes = (int64_t)io_dtype_size((enum plait_dtype)t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] > 0 && bytes > INT64_MAX / t->shape[d]))
                return 0;
            bytes *= t->shape[d];
        }
    }
    for (int i = 0; i < m->nslices; i++) {
        const struct ckpt_slice *s = &m->slices[i];
        const struct ckpt_tensor *t = &m->tensors[s->tensor];
        for (int d = 0; d < t->ndim; d++)
            if (s->offset[d] < 0 || s->offset[d] > t->shape[d] || s->extent[d] < 0 ||
                s->extent[d] > t->shape[d] - s->offset[d])
                return 0;
    }
    return 1;
}

int ckpt_manifest_read(struct ckpt_manifest *m, const char *dir, char *err)
{
    memset(m, 0, sizeof *m);
    char path[4096], format[64] = "";
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    io_h5_quiet();
    uint64_t bytes;
    if (check_seal(dir, &bytes, err) != 0)
        return -1;
    /* HDF5 takes a dataset's length from its header, which a damaged file
     * can make as large as it likes; the writer stores every element, so a
     * table never has more elements than the file has bytes. */
    long long max = (long long)bytes;
    hid_t f = io_h5_open(path);
    if (f < 0) {
        io_errf(err, "manifest '%s' is missing or unreadable", path);
        return -1;
    }
    int64_t v[8];
    static const char *const attrs[] = {"step",         "dp",           "tp",     "pp",
                                        "loader_epoch", "loader_index", "nshards"};
    int rc = io_attr_get_str(f, "format", format, sizeof format) ||
             strcmp(format, IO_FORMAT_VERSION) != 0;
    for (int i = 0; !rc && i < 7; i++)
        rc = io_attr_get_i64(f, attrs[i], &v[i]);
    long long nt = rc ? -1 : io_array_len(f, "tensors/name");
    long long ns = rc ? -1 : io_array_len(f, "slices/tensor");
    if (rc || nt < 0 || ns < 0 || nt > max || ns > max || v[6] < 1 || v[6] > 1 << 20 ||
        v[6] > max) {
        io_errf(err, "manifest '%s' is not a %s manifest", path, IO_FORMAT_VERSION);
        H5Fclose(f);
        return -1;
    }
    m->meta = (struct plait_ckpt_meta){.step = v[0],
                                       .dp = (int32_t)v[1],
                                       .tp = (int32_t)v[2],
                                       .pp = (int32_t)v[3],
                                       .loader = {(uint64_t)v[4], (uint64_t)v[5]}};
    size_t n = (size_t)v[6];
    m->nshards = (int)n;
    m->ntensors = (int)nt;
    m->nslices = (int)ns;
    m->shard_file = calloc(n, IO_NAME_LEN);
    m->shard_size = calloc(n, sizeof *m->shard_size);
    m->shard_crc = calloc(n, sizeof *m->shard_crc);
    m->shard_meta_crc = calloc(n, sizeof *m->shard_meta_crc);
    m->tensors = calloc((size_t)nt + 1, sizeof *m->tensors);
    m->slices = calloc((size_t)ns + 1, sizeof *m->slices);
    size_t big = (size_t)(nt > ns ? nt : ns) + 1;
    int32_t *i32 = calloc(big, sizeof *i32);
    int64_t(*wide)[PLAIT_IO_MAX_DIMS] = calloc(big, sizeof *wide);
    char(*names)[IO_NAME_LEN] = calloc((size_t)nt + 1, IO_NAME_LEN);
    hid_t ntype = io_name_type();
    size_t w_t = (size_t)nt * PLAIT_IO_MAX_DIMS, w_s = (size_t)ns * PLAIT_IO_MAX_DIMS;
    rc = !m->shard_file || !m->shard_size || !m->shard_crc || !m->tensors || !m->slices || !i32 ||
         !wide || !names || io_array_get(f, "shards/file", ntype, n, m->shard_file) ||
         io_array_get(f, "shards/size", H5T_NATIVE_UINT64, n, m->shard_size) ||
         !m->shard_meta_crc ||
         io_array_get(f, "shards/crc32c", H5T_NATIVE_UINT32, n, m->shard_crc) ||
         io_array_get(f, "shards/meta_crc32c", H5T_NATIVE_UINT32, n, m->shard_meta_crc) ||
         io_array_get(f, "tensors/name", ntype, (size_t)nt, names) ||
         io_array_get(f, "tensors/shape", H5T_NATIVE_INT64, w_t, wide);
    for (long long i = 0; !rc && i < nt; i++) {
        memcpy(m->tensors[i].name, names[i], IO_NAME_LEN);
        m->tensors[i].name[IO_NAME_LEN - 1] = 0;
        memcpy(m->tensors[i].shape, wide[i], sizeof wide[i]);
        rc = !io_valid_name(m->tensors[i].name); /* as the writer checked it */
    }
    rc = rc || io_array_get(f, "tensors/dtype", H5T_NATIVE_INT32, (size_t)nt, i32);
    for (long long i = 0; !rc && i < nt; i++)
        m->tensors[i].dtype = i32[i];
    rc = rc || io_array_get(f, "tensors/ndim", H5T_NATIVE_INT32, (size_t)nt, i32);
    for (long long i = 0; !rc && i < nt; i++) {
        m->tensors[i].ndim = i32[i];
        if (i32[i] < 0 || i32[i] > PLAIT_IO_MAX_DIMS || io_dtype_size(m->tensors[i].dtype) == 0)
            rc = -1;
    }
    rc = rc || io_array_get(f, "slices/tensor", H5T_NATIVE_INT32, (size_t)ns, i32);
    for (long long i = 0; !rc && i < ns; i++)
        m->slices[i].tensor = i32[i];
    rc = rc || io_array_get(f, "slices/shard", H5T_NATIVE_INT32, (size_t)ns, i32);
    for (long long i = 0; !rc && i < ns; i++) {
        m->slices[i].shard = i32[i];
        if (i32[i] < 0 || i32[i] >= m->nshards || m->slices[i].tensor < 0 ||
            m->slices[i].tensor >= nt)
            rc = -1;
    }
    rc = rc || io_array_get(f, "slices/offset", H5T_NATIVE_INT64, w_s, wide);
    for (long long i = 0; !rc && i < ns; i++)
        memcpy(m->slices[i].offset, wide[i], sizeof wide[i]);
    rc = rc || io_array_get(f, "slices/extent", H5T_NATIVE_INT64, w_s, wide);
    for (long long i = 0; !rc && i < ns; i++)
        memcpy(m->slices[i].extent, wide[i], sizeof wide[i]);
    rc = rc || read_regions(f, m, max) || !geometry_ok(m);
    /* The writer names shard i so: any other name, "../x" say, would have
     * the reader open files outside the checkpoint. */
    for (size_t i = 0; !rc && i < n; i++) {
        char want[IO_NAME_LEN];
        snprintf(want, sizeof want, CKPT_SHARD_FMT, (int)i);
        rc = strncmp(m->shard_file[i], want, IO_NAME_LEN) != 0;
    }
    H5Tclose(ntype);
    free(i32);
    free(wide);
    free(names);
    H5Fclose(f);
    if (rc) {
        io_errf(err, "manifest '%s' is damaged (its tables do not read back)", path);
        ckpt_manifest_free(m);
        return -1;
    }
    return 0;
}
