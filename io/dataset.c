/* plait_data_build / info / verify: the HDF5 token dataset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io_internal.h"

#define DEFAULT_CHUNK_TOKENS (1u << 20)
#define READ_BLOCK           ((size_t)4 << 20)

static const char *format_name(enum plait_token_format f)
{
    return f == PLAIT_TOKENS_TEXT ? "text" : f == PLAIT_TOKENS_U16 ? "u16" : "u32";
}

struct builder {
    hid_t file, dset, mem_type;
    uint64_t n_tokens;
    uint32_t crc;
    uint32_t max_token;
    int token_bytes;
};

static int append(struct builder *b, const void *tokens, uint64_t count, char *err, const char *out)
{
    if (count == 0)
        return 0;
    hsize_t new_size = b->n_tokens + count, start = b->n_tokens, n = count;
    hid_t fspace = -1, mspace = -1;
    int rc = -1;
    errno = 0;
    if (H5Dset_extent(b->dset, &new_size) < 0 || (fspace = H5Dget_space(b->dset)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
        (mspace = H5Screate_simple(1, &n, NULL)) < 0 ||
        H5Dwrite(b->dset, b->mem_type, mspace, fspace, H5P_DEFAULT, tokens) < 0)
        io_errf(err, "cannot write tokens to '%s': %s", out, io_h5_reason());
    else
        rc = 0;
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    b->crc = (uint32_t)crc32_z(b->crc, tokens, (size_t)count * (size_t)b->token_bytes);
    b->n_tokens += count;
    return rc;
}

/* Reads one input and appends its tokens; text bytes widen to uint16. */
static int add_input(struct builder *b, const char *path, enum plait_token_format fmt,
                     const char *out, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        io_errf(err, "cannot open input '%s': %s", path, strerror(errno));
        return -1;
    }
    unsigned char *raw = malloc(READ_BLOCK);
    uint16_t *wide = fmt == PLAIT_TOKENS_TEXT ? malloc(READ_BLOCK * sizeof *wide) : NULL;
    int rc = raw && (fmt != PLAIT_TOKENS_TEXT || wide) ? 0 : -1;
    if (rc)
        io_errf(err, "out of memory reading '%s'", path);
    size_t carry = 0, elem = fmt == PLAIT_TOKENS_U32 ? 4 : fmt == PLAIT_TOKENS_U16 ? 2 : 1;
    uint64_t total = 0;
    while (rc == 0) {
        size_t got = fread(raw + carry, 1, READ_BLOCK - carry, f);
        if (got == 0 && ferror(f)) {
            io_errf(err, "cannot read input '%s': %s", path, strerror(errno));
            rc = -1;
            break;
        }
        size_t have = carry + got;
        if (got == 0) {
            if (have != 0) {
                io_errf(err, "input '%s' has %llu bytes, not a multiple of %zu (%s tokens)", path,
                        (unsigned long long)(total + have), elem, format_name(fmt));
                rc = -1;
            }
            break;
        }
        size_t count = have / elem;
        const void *tokens = raw;
        if (fmt == PLAIT_TOKENS_TEXT) {
            for (size_t i = 0; i < count; i++)
                wide[i] = raw[i];
            tokens = wide;
            b->max_token = 255;
        } else {
            for (size_t i = 0; i < count; i++) {
                uint32_t t;
                if (elem == 2) {
                    uint16_t v;
                    memcpy(&v, raw + 2 * i, 2);
                    t = v;
                } else {
                    memcpy(&t, raw + 4 * i, 4);
                }
                if (t > b->max_token)
                    b->max_token = t;
            }
        }
        rc = append(b, tokens, count, err, out);
        total += count * elem;
        carry = have - count * elem;
        memmove(raw, raw + count * elem, carry);
    }
    free(raw);
    free(wide);
    fclose(f);
    return rc;
}

int plait_data_build(const struct plait_data_build_config *cfg, char err[PLAIT_IO_ERRLEN])
{
    io_h5_quiet();
    if (!cfg->out_path || cfg->n_inputs < 1) {
        io_errf(err, "plait_data_build: no inputs (expected at least one file)");
        return -1;
    }
    if (cfg->format == PLAIT_TOKENS_TEXT && cfg->vocab_size && cfg->vocab_size < 256) {
        io_errf(err, "vocabulary size %u is too small for byte tokens (expected >= 256)",
                cfg->vocab_size);
        return -1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", cfg->out_path) >= (int)sizeof tmp) {
        io_errf(err, "output path '%s' is too long", cfg->out_path);
        return -1;
    }
    struct builder b = {.file = -1, .dset = -1};
    b.token_bytes = cfg->format == PLAIT_TOKENS_U32 ? 4 : 2;
    b.mem_type = b.token_bytes == 4 ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT16;
    hid_t file_type = b.token_bytes == 4 ? H5T_STD_U32LE : H5T_STD_U16LE;
    hsize_t zero = 0, unlimited = H5S_UNLIMITED;
    hsize_t chunk = cfg->chunk_tokens ? cfg->chunk_tokens : DEFAULT_CHUNK_TOKENS;
    hid_t space = H5Screate_simple(1, &zero, &unlimited);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    b.file = io_h5_create(tmp);
    if (b.file < 0)
        io_errf(err, "cannot create HDF5 file '%s': %s", tmp, io_h5_reason());
    else
        b.dset = H5Dcreate2(b.file, "tokens", file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    int rc = 0;
    if (b.dset < 0) {
        if (b.file >= 0)
            io_errf(err, "cannot create the tokens dataset in '%s'", tmp);
        rc = -1;
    }
    size_t source_len = 1;
    for (int i = 0; rc == 0 && i < cfg->n_inputs; i++) {
        rc = add_input(&b, cfg->inputs[i], cfg->format, cfg->out_path, err);
        source_len += strlen(cfg->inputs[i]) + 1;
    }
    uint32_t vocab = cfg->vocab_size                    ? cfg->vocab_size
                     : cfg->format == PLAIT_TOKENS_TEXT ? 256
                                                        : b.max_token + 1;
    if (rc == 0 && b.n_tokens == 0) {
        io_errf(err, "inputs hold no tokens (expected a non-empty file)");
        rc = -1;
    }
    if (rc == 0 && b.max_token >= vocab) {
        io_errf(err, "token %u is outside the vocabulary size %u", b.max_token, vocab);
        rc = -1;
    }
    if (rc == 0) {
        char *source = calloc(1, source_len);
        for (int i = 0; source && i < cfg->n_inputs; i++) {
            if (i)
                strcat(source, ",");
            strcat(source, cfg->inputs[i]);
        }
        char sum[32];
        snprintf(sum, sizeof sum, "crc32:%08x", b.crc);
        if (!source || io_attr_put_i64(b.dset, "vocab_size", vocab) ||
            io_attr_put_i64(b.dset, "n_tokens", (int64_t)b.n_tokens) ||
            io_attr_put_str(b.dset, "source", source) || io_attr_put_str(b.dset, "checksum", sum) ||
            io_attr_put_str(b.dset, "format", format_name(cfg->format))) {
            io_errf(err, "cannot write attributes to '%s'", tmp);
            rc = -1;
        }
        free(source);
    }
    if (b.dset >= 0)
        H5Dclose(b.dset);
    if (b.file >= 0 && io_h5_close(b.file) != 0 && rc == 0) {
        io_errf(err, "cannot close '%s': %s", tmp, io_h5_reason());
        rc = -1;
    }
    if (rc == 0 && io_fsync_path(tmp, err) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, cfg->out_path) != 0) {
        io_errf(err, "cannot rename '%s' to '%s': %s", tmp, cfg->out_path, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        char *dir = strdup(cfg->out_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = 0;
        rc = io_fsync_dir(slash ? dir : ".", err);
        free(dir);
        return rc;
    }
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static hid_t open_tokens(const char *path, hid_t *file, char *err)
{
    io_h5_quiet();
    *file = io_h5_open(path);
    if (*file < 0) {
        io_errf(err, "cannot open dataset file '%s' (expected an HDF5 file from plait-data)", path);
        return -1;
    }
    hid_t d = H5Dopen2(*file, "tokens", H5P_DEFAULT);
    if (d < 0) {
        io_errf(err, "'%s' has no /tokens dataset (expected a file from plait-data)", path);
        H5Fclose(*file);
    }
    return d;
}

int plait_data_info(const char *path, struct plait_data_info *info, char err[PLAIT_IO_ERRLEN])
{
    memset(info, 0, sizeof *info);
    hid_t file, d = open_tokens(path, &file, err);
    if (d < 0)
        return -1;
    int64_t vocab = 0, n = 0;
    char sum[64] = "";
    hid_t type = H5Dget_type(d);
    info->token_bits = (int)H5Tget_size(type) * 8;
    H5Tclose(type);
    int rc = io_attr_get_i64(d, "vocab_size", &vocab) || io_attr_get_i64(d, "n_tokens", &n) ||
                     io_attr_get_str(d, "checksum", sum, sizeof sum) ||
                     io_attr_get_str(d, "source", info->source, sizeof info->source) ||
                     io_attr_get_str(d, "format", info->format, sizeof info->format)
                 ? -1
                 : 0;
    hid_t space = H5Dget_space(d);
    hsize_t dims = 0;
    H5Sget_simple_extent_dims(space, &dims, NULL);
    H5Sclose(space);
    if (rc != 0 || sscanf(sum, "crc32:%x", &info->checksum) != 1) {
        io_errf(err, "'%s' lacks dataset attributes (expected vocab_size, n_tokens, checksum)",
                path);
        rc = -1;
    } else if ((uint64_t)n != dims || (info->token_bits != 16 && info->token_bits != 32)) {
        io_errf(err, "'%s': n_tokens attribute %lld, dataset holds %llu %d-bit tokens", path,
                (long long)n, (unsigned long long)dims, info->token_bits);
        rc = -1;
    }
    info->n_tokens = (uint64_t)n;
    info->vocab_size = (uint32_t)vocab;
    H5Dclose(d);
    H5Fclose(file);
    return rc;
}

int plait_data_verify(const char *path, char err[PLAIT_IO_ERRLEN])
{
    struct plait_data_info info;
    if (plait_data_info(path, &info, err) != 0)
        return -1;
    hid_t file, d = open_tokens(path, &file, err);
    if (d < 0)
        return -1;
    size_t esz = (size_t)info.token_bits / 8;
    hsize_t block = READ_BLOCK / esz;
    unsigned char *buf = malloc(READ_BLOCK);
    hid_t mtype = esz == 4 ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT16;
    hid_t fspace = H5Dget_space(d);
    uint32_t crc = 0;
    int rc = buf ? 0 : -1;
    for (hsize_t start = 0; rc == 0 && start < info.n_tokens; start += block) {
        hsize_t n = info.n_tokens - start < block ? info.n_tokens - start : block;
        hid_t mspace = H5Screate_simple(1, &n, NULL);
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
            H5Dread(d, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            io_errf(err, "cannot read tokens of '%s' at %llu", path, (unsigned long long)start);
            rc = -1;
        }
        H5Sclose(mspace);
        crc = (uint32_t)crc32_z(crc, buf, (size_t)n * esz);
    }
    if (rc == 0 && crc != info.checksum) {
        io_errf(err, "'%s': token checksum crc32:%08x, attribute says crc32:%08x", path, crc,
                info.checksum);
        rc = -1;
    }
    free(buf);
    H5Sclose(fspace);
    H5Dclose(d);
    H5Fclose(file);
    return rc;
}
