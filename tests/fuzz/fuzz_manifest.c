/* A checkpoint's manifest.h5 as a hostile or corrupt file on a shared file
 * system could hold it: sealed (the seal is a checksum, not a signature),
 * then opened and walked as plait-ckpt and a restart do before trusting any
 * shard. */
#include <sys/stat.h>

#include "fuzz.h"
#include "io/ckpt_internal.h"

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
    char dir[128], err[PLAIT_IO_ERRLEN];
    snprintf(dir, sizeof dir, "%s/step", fuzz_dir());
    mkdir(dir, 0700);
    const char *path = fuzz_file("step/" IO_MANIFEST, data, size);
    if (ckpt_manifest_seal(dir, err) != 0) {
        fprintf(stderr, "cannot seal %s: %s\n", path, err);
        abort();
    }
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
