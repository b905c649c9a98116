/* The manifest: shard list with sizes and CRCs, the slice table, and
 * virtual datasets that stitch the shards into the global tensors. */
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
                     char *err)
{
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
    s = &m->slices[m->nslices++];
    memset(s, 0, sizeof *s);
    s->tensor = ti;
    s->shard = shard;
    memcpy(s->offset, off, (size_t)ndim * sizeof *off);
    memcpy(s->extent, ext, (size_t)ndim * sizeof *ext);
    return 0;
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
    for (size_t i = 0; rc == 0 && i < un; i++)
        rc = add_slice(m, shard, names[i], dtype[i], ndim[i], shape[i], off[i], ext[i], err);
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
    if (!m->shard_file || !m->shard_size || !m->shard_crc) {
        io_errf(err, "out of memory building the manifest of '%s'", dir);
        return -1;
    }
    for (int r = 0; r < nshards; r++) {
        snprintf(m->shard_file[r], IO_NAME_LEN, CKPT_SHARD_FMT, r);
        if (read_shard_index(m, dir, r, err) != 0)
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
    hid_t d = rc == 0 ? H5Dcreate2(file, vname, io_h5_type((enum plait_dtype)t->dtype), vspace,
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

int ckpt_manifest_write(const struct ckpt_manifest *m, const char *dir, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    hid_t f = io_h5_create(path);
    if (f < 0) {
        io_errf(err, "cannot create manifest '%s'", path);
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
    int rc = !i32 || !wide || !names || io_attr_put_str(f, "format", IO_FORMAT_VERSION) ||
             io_attr_put_i64(f, "step", me->step) || io_attr_put_i64(f, "dp", me->dp) ||
             io_attr_put_i64(f, "tp", me->tp) || io_attr_put_i64(f, "pp", me->pp) ||
             io_attr_put_i64(f, "loader_epoch", (int64_t)me->loader.epoch) ||
             io_attr_put_i64(f, "loader_index", (int64_t)me->loader.index) ||
             io_attr_put_i64(f, "nshards", m->nshards) ||
             io_array_put(f, "shards/file", ntype, 1, &dshards, m->shard_file) ||
             io_array_put(f, "shards/size", H5T_NATIVE_UINT64, 1, &dshards, m->shard_size) ||
             io_array_put(f, "shards/crc32c", H5T_NATIVE_UINT32, 1, &dshards, m->shard_crc);
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
    if (H5Fclose(f) < 0)
        rc = -1;
    if (rc) {
        io_errf(err, "cannot write manifest '%s'", path);
        return -1;
    }
    return io_fsync_path(path, err);
}

int ckpt_manifest_read(struct ckpt_manifest *m, const char *dir, char *err)
{
    memset(m, 0, sizeof *m);
    char path[4096], format[64] = "";
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    io_h5_quiet();
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
    if (rc || nt < 0 || ns < 0 || v[6] < 1 || v[6] > 1 << 20) {
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
         io_array_get(f, "shards/crc32c", H5T_NATIVE_UINT32, n, m->shard_crc) ||
         io_array_get(f, "tensors/name", ntype, (size_t)nt, names) ||
         io_array_get(f, "tensors/shape", H5T_NATIVE_INT64, w_t, wide);
    for (long long i = 0; !rc && i < nt; i++) {
        memcpy(m->tensors[i].name, names[i], IO_NAME_LEN);
        m->tensors[i].name[IO_NAME_LEN - 1] = 0;
        memcpy(m->tensors[i].shape, wide[i], sizeof wide[i]);
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
    for (size_t i = 0; i < n; i++)
        m->shard_file[i][IO_NAME_LEN - 1] = 0;
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
