/* plait_data_build: text and raw token files, metadata, checksum, bad input. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tests/check.h"
#include "io/plait_io.h"

static char root[256];

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f)
        fclose(f);
}

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", root, name);
}

static void test_text(void)
{
    char a[300], b[300], out[300], err[PLAIT_IO_ERRLEN];
    path_in(a, sizeof a, "a.txt");
    path_in(b, sizeof b, "b.txt");
    path_in(out, sizeof out, "text.h5");
    write_file(a, "hello ", 6);
    write_file(b, "world\xff", 6);
    const char *inputs[] = {a, b};
    struct plait_data_build_config cfg = {.out_path = out,
                                          .inputs = inputs,
                                          .n_inputs = 2,
                                          .format = PLAIT_TOKENS_TEXT,
                                          .chunk_tokens = 4};
    CHECK_INT_EQ(plait_data_build(&cfg, err), 0);
    struct plait_data_info info;
    CHECK_INT_EQ(plait_data_info(out, &info, err), 0);
    CHECK_INT_EQ(info.n_tokens, 12);
    CHECK_INT_EQ(info.vocab_size, 256);
    CHECK_INT_EQ(info.token_bits, 16);
    CHECK_STR_EQ(info.format, "text");
    CHECK_STR_CONTAINS(info.source, "a.txt,");
    uint16_t expect[12];
    const char *text = "hello world\xff";
    for (int i = 0; i < 12; i++)
        expect[i] = (unsigned char)text[i];
    CHECK_INT_EQ(info.checksum, (uint32_t)crc32(0, (const Bytef *)expect, sizeof expect));
    CHECK_INT_EQ(plait_data_verify(out, err), 0);

    /* Chunked, and the tokens read back as written. */
    hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "tokens", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED);
    H5Pclose(dcpl);
    uint16_t got[12];
    CHECK(H5Dread(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    CHECK(memcmp(got, expect, sizeof got) == 0);
    /* A changed token no longer matches the checksum. */
    got[3] = 'L';
    CHECK(H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    CHECK_INT_EQ(plait_data_verify(out, err), -1);
    CHECK_STR_CONTAINS(err, "checksum");
}

static void test_raw(void)
{
    char in[300], out[300], err[PLAIT_IO_ERRLEN];
    path_in(in, sizeof in, "t.u32");
    path_in(out, sizeof out, "u32.h5");
    uint32_t toks[1000];
    for (int i = 0; i < 1000; i++)
        toks[i] = (uint32_t)(i * 97 % 70001);
    write_file(in, toks, sizeof toks);
    const char *inputs[] = {in};
    struct plait_data_build_config cfg = {
        .out_path = out, .inputs = inputs, .n_inputs = 1, .format = PLAIT_TOKENS_U32};
    CHECK_INT_EQ(plait_data_build(&cfg, err), 0);
    struct plait_data_info info;
    CHECK_INT_EQ(plait_data_info(out, &info, err), 0);
    CHECK_INT_EQ(info.token_bits, 32);
    CHECK_INT_EQ(info.n_tokens, 1000);
    uint32_t max = 0;
    for (int i = 0; i < 1000; i++)
        max = toks[i] > max ? toks[i] : max;
    CHECK_INT_EQ(info.vocab_size, max + 1);
    CHECK_INT_EQ(plait_data_verify(out, err), 0);

    cfg.vocab_size = 1000; /* smaller than the largest token */
    CHECK_INT_EQ(plait_data_build(&cfg, err), -1);
    CHECK_STR_CONTAINS(err, "vocabulary size 1000");

    /* A truncated token file and a missing one are refused, naming them. */
    write_file(in, toks, 4 * 10 + 3);
    cfg.vocab_size = 0;
    CHECK_INT_EQ(plait_data_build(&cfg, err), -1);
    CHECK_STR_CONTAINS(err, "t.u32");
    CHECK_STR_CONTAINS(err, "43 bytes");
    inputs[0] = "/nonexistent/tokens";
    CHECK_INT_EQ(plait_data_build(&cfg, err), -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/tokens");
    /* The failed builds left the earlier file intact. */
    CHECK_INT_EQ(plait_data_verify(out, err), 0);
    CHECK_INT_EQ(plait_data_info(in, &info, err), -1);
    CHECK_STR_CONTAINS(err, "t.u32");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/plait-io-data-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    test_text();
    test_raw();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_status("test_io_dataset");
}
