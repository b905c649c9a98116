/* A checkpoint's manifest as a hostile or corrupt writer could leave it:
 * the input gives the values and lengths of its tables, which are written
 * as well-formed HDF5 and sealed (the seal is a checksum, not a
 * signature), then opened and walked as plait-ckpt and a restart do before
 * trusting any shard. Raw bytes would mostly exercise HDF5's own parser,
 * which HDF5 1.10 does not survive (docs/development.md, "Fuzzing"). */
#include <sys/stat.h>

#include "fuzz.h"
#include "io/ckpt_internal.h"

struct input {
    const uint8_t *p;
    size_t n;
};

/* The next `bytes` bytes, little-endian; zeros once the input is used up. */
static uint64_t take(struct input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && in->n; i++, in->p++, in->n--)
        v |= (uint64_t)*in->p << (8 * i);
    return v;
}

/* Mostly small numbers, negative ones included; sometimes any 64 bits. */
static int64_t take_num(struct input *in)
{
    uint8_t mode = (uint8_t)take(in, 1);
    return mode < 224 ? (int64_t)take(in, 1) - 16 : (int64_t)take(in, 8);
}

/* A table's length: usually `want`, sometimes another. */
static hsize_t take_len(struct input *in, hsize_t want)
{
    return take(in, 1) < 240 ? want : take(in, 1) % 8;
}

static int put_nums(hid_t f, const char *name, hid_t type, hsize_t n, int wide, struct input *in)
{
    size_t count = (size_t)n * (wide ? PLAIT_IO_MAX_DIMS : 1);
    int64_t *v = calloc(count + 1, sizeof *v);
    hid_t mem = H5T_NATIVE_INT64;
    for (size_t i = 0; v && i < count; i++)
        v[i] = take_num(in);
    hsize_t dims[2] = {n, PLAIT_IO_MAX_DIMS};
    /* Stored in the manifest's own type; HDF5 converts, clamping. */
    hid_t space = H5Screate_simple(wide ? 2 : 1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, name, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = v && d >= 0 && (count == 0 || H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
                 ? 0
                 : -1;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(space);
    free(v);
    return rc;
}

static int put_names(hid_t f, const char *name, const char *fmt, hsize_t n, struct input *in)
{
    char(*names)[IO_NAME_LEN] = calloc((size_t)n + 1, IO_NAME_LEN);
    hid_t type = io_name_type();
    for (hsize_t i = 0; names && i < n; i++) {
        uint8_t pick = (uint8_t)take(in, 1);
        if (pick < 200)
            snprintf(names[i], IO_NAME_LEN, fmt, (int)(pick < 150 ? i : pick % 4));
        else
            snprintf(names[i], IO_NAME_LEN, "../%d/x\n", pick);
    }
    int rc = names ? io_array_put(f, name, type, 1, &n, names) : -1;
    H5Tclose(type);
    free(names);
    return rc;
}

static int write_manifest(const char *path, struct input *in)
{
    hid_t f = io_h5_create(path);
    if (f < 0)
        return -1;
    hsize_t nshards = take(in, 1) % 5, nt = take(in, 1) % 5, ns = take(in, 1) % 7;
    hsize_t nr = take(in, 1) % 7;
    static const char *const attrs[] = {"step", "dp", "tp", "pp", "loader_epoch", "loader_index"};
    int rc = io_attr_put_str(f, "format", IO_FORMAT_VERSION);
    for (size_t i = 0; !rc && i < sizeof attrs / sizeof attrs[0]; i++)
        rc = io_attr_put_i64(f, attrs[i], take_num(in));
    rc = rc || io_attr_put_i64(f, "nshards", take(in, 1) < 240 ? (int64_t)nshards : take_num(in)) ||
         put_names(f, "shards/file", CKPT_SHARD_FMT, take_len(in, nshards), in) ||
         put_nums(f, "shards/size", H5T_NATIVE_UINT64, take_len(in, nshards), 0, in) ||
         put_nums(f, "shards/crc32c", H5T_NATIVE_UINT32, take_len(in, nshards), 0, in) ||
         put_nums(f, "shards/meta_crc32c", H5T_NATIVE_UINT32, take_len(in, nshards), 0, in) ||
         put_names(f, "tensors/name", "t%d", nt, in) ||
         put_nums(f, "tensors/dtype", H5T_NATIVE_INT32, take_len(in, nt), 0, in) ||
         put_nums(f, "tensors/ndim", H5T_NATIVE_INT32, take_len(in, nt), 0, in) ||
         put_nums(f, "tensors/shape", H5T_NATIVE_INT64, take_len(in, nt), 1, in) ||
         put_nums(f, "slices/tensor", H5T_NATIVE_INT32, ns, 0, in) ||
         put_nums(f, "slices/shard", H5T_NATIVE_INT32, take_len(in, ns), 0, in) ||
         put_nums(f, "slices/offset", H5T_NATIVE_INT64, take_len(in, ns), 1, in) ||
         put_nums(f, "slices/extent", H5T_NATIVE_INT64, take_len(in, ns), 1, in) ||
         put_nums(f, "regions/shard", H5T_NATIVE_INT32, nr, 0, in) ||
         put_nums(f, "regions/slice", H5T_NATIVE_INT32, take_len(in, nr), 0, in) ||
         put_nums(f, "regions/offset", H5T_NATIVE_UINT64, take_len(in, nr), 0, in) ||
         put_nums(f, "regions/bytes", H5T_NATIVE_UINT64, take_len(in, nr), 0, in);
    return H5Fclose(f) < 0 ? -1 : rc;
}

static void read_first_element(plait_ckpt_reader *r, const char *name)
{
    struct plait_tensor_slice want = {.name = name};
    if (plait_ckpt_tensor_info(r, name, &want.dtype, &want.ndim, want.global_shape))
        return;
    for (int d = 0; d < want.ndim; d++)
        want.extent[d] = want.global_shape[d] > 0;
    double one[1];
    want.data = one;
    int rc = plait_ckpt_read(r, &want);
    fuzz_one_line("plait_ckpt_read", rc, plait_ckpt_reader_error(r));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[128], path[192], err[PLAIT_IO_ERRLEN];
    snprintf(dir, sizeof dir, "%s/step", fuzz_dir());
    snprintf(path, sizeof path, "%s/" IO_MANIFEST, dir);
    mkdir(dir, 0700);
    unlink(path);
    struct input in = {data, size};
    io_h5_quiet();
    if (write_manifest(path, &in) != 0 || ckpt_manifest_seal(dir, err) != 0)
        return 0; /* HDF5 refused to write it: no such file to read */
    plait_ckpt_reader *r = plait_ckpt_open(dir, err);
    fuzz_one_line("plait_ckpt_open", r ? 0 : -1, err);
    if (r) {
        for (int i = 0; i < plait_ckpt_tensor_count(r); i++)
            read_first_element(r, plait_ckpt_tensor_name(r, i));
        plait_ckpt_reader_close(r);
        fuzz_one_line("plait_ckpt_verify", plait_ckpt_verify(dir, err), err);
    }
    return 0;
}
