/* A file's regions written and read with their CRC32C: odd sizes and gaps,
 * a file large enough that writing waits on older writeback, and damage
 * found wherever it lies. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io_internal.h"
#include "tests/check.h"

#define NREG 5

static char path[300];

/* Odd sizes and gaps; 70 MiB and more in all, so the write path waits on
 * writeback it started 64 MiB earlier, and reads take several batches and
 * reuse the scratch buffers of the gaps. */
static const uint64_t reg_offset[NREG] = {4093, 5000, 20000001, 20000002, 50331653};
static const uint64_t reg_bytes[NREG] = {7, 19990001, 1, 30331650, 23456789};
static const uint64_t file_bytes = 73788442 + 1000;

static unsigned char byte_at(uint64_t at)
{
    return (unsigned char)((at * 2654435761u) >> 11);
}

static unsigned char *pattern(uint64_t from, uint64_t bytes)
{
    unsigned char *p = malloc(bytes);
    for (uint64_t i = 0; i < bytes; i++)
        p[i] = byte_at(from + i);
    return p;
}

/* The whole file written with write(), the reference for every CRC. */
static unsigned char *write_reference(void)
{
    unsigned char *all = pattern(0, file_bytes);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, all, file_bytes) == (ssize_t)file_bytes);
    close(fd);
    return all;
}

/* Regions written by io_file_write_regions over a file of the right size
 * whose region bytes are zero: the file must come out equal to the pattern. */
static void test_write_regions(const unsigned char *all)
{
    unsigned char *holes = malloc(file_bytes);
    memcpy(holes, all, file_bytes);
    struct io_region r[NREG];
    for (int i = 0; i < NREG; i++) {
        memset(holes + reg_offset[i], 0, reg_bytes[i]);
        r[i] = (struct io_region){reg_offset[i], reg_bytes[i], 0,
                                  pattern(reg_offset[i], reg_bytes[i])};
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(write(fd, holes, file_bytes) == (ssize_t)file_bytes);
    close(fd);
    char err[PLAIT_IO_ERRLEN] = "";
    CHECK_INT_EQ(io_file_write_regions(path, r, NREG, err), 0);
    for (int i = 0; i < NREG; i++) {
        CHECK_INT_EQ(r[i].crc, io_crc32c(0, all + reg_offset[i], reg_bytes[i]));
        free(r[i].data);
    }
    unsigned char *back = malloc(file_bytes);
    fd = open(path, O_RDONLY);
    CHECK(pread(fd, back, file_bytes, 0) == (ssize_t)file_bytes);
    close(fd);
    CHECK(memcmp(back, all, file_bytes) == 0);
    free(back);
    free(holes);
}

/* Regions read into memory, given out of order: their bytes and CRCs, the
 * file's CRC and size, and the CRC of the gaps alone. */
static void test_read_regions(const unsigned char *all)
{
    struct io_region r[NREG];
    for (int i = 0; i < NREG; i++) {
        int k = (i * 3) % NREG;
        r[i] = (struct io_region){reg_offset[k], reg_bytes[k], 0, malloc(reg_bytes[k])};
    }
    uint32_t crc = 0;
    uint64_t bytes = 0;
    char err[PLAIT_IO_ERRLEN] = "";
    CHECK_INT_EQ(io_file_crc32c_regions(path, r, NREG, &crc, &bytes, err), 0);
    CHECK_INT_EQ(crc, io_crc32c(0, all, file_bytes));
    CHECK_INT_EQ(bytes, file_bytes);
    for (int i = 0; i < NREG; i++) {
        CHECK(memcmp(r[i].data, all + r[i].offset, r[i].bytes) == 0);
        CHECK_INT_EQ(r[i].crc, io_crc32c(0, all + r[i].offset, r[i].bytes));
    }
    /* The gaps alone, as one run: the same with the regions' CRCs known. */
    uint32_t gaps_read, gaps_known;
    CHECK_INT_EQ(io_file_gaps_crc32c(path, r, NREG, &gaps_read), 0);
    uint32_t expect = 0;
    uint64_t at = 0;
    for (int i = 0; i < NREG; i++) {
        expect = io_crc32c(expect, all + at, r[i].offset - at);
        at = r[i].offset + r[i].bytes;
        free(r[i].data);
        r[i].data = NULL;
    }
    expect = io_crc32c(expect, all + at, file_bytes - at);
    CHECK_INT_EQ(gaps_read, expect);
    CHECK_INT_EQ(io_file_gaps_crc32c(path, r, NREG, &gaps_known), 0);
    CHECK_INT_EQ(gaps_known, expect);
    /* Known region CRCs and a read of the gaps give the file's CRC. */
    CHECK_INT_EQ(io_file_crc32c_regions(path, r, NREG, &crc, &bytes, err), 0);
    CHECK_INT_EQ(crc, io_crc32c(0, all, file_bytes));
    CHECK_INT_EQ(io_file_crc32c(path, &crc, &bytes, err), 0);
    CHECK_INT_EQ(crc, io_crc32c(0, all, file_bytes));
    CHECK_INT_EQ(bytes, file_bytes);
}

/* One flipped byte, in a region, in a gap, at the first and the last byte
 * and in between, changes the CRC read. */
static void test_damage_found(const unsigned char *all)
{
    const uint64_t at[] = {0,
                           4095,
                           4093 + 6,
                           4500,
                           20000001,
                           file_bytes / 4,
                           file_bytes / 2,
                           file_bytes / 4 * 3 + 1,
                           file_bytes - 1};
    uint32_t good = io_crc32c(0, all, file_bytes);
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        int fd = open(path, O_RDWR);
        unsigned char b = all[at[k]] ^ 0x20;
        CHECK(pwrite(fd, &b, 1, (off_t)at[k]) == 1);
        struct io_region r[NREG];
        for (int i = 0; i < NREG; i++)
            r[i] = (struct io_region){reg_offset[i], reg_bytes[i], 0, malloc(reg_bytes[i])};
        uint32_t crc = good, whole = good;
        uint64_t bytes;
        char err[PLAIT_IO_ERRLEN] = "";
        CHECK_INT_EQ(io_file_crc32c_regions(path, r, NREG, &crc, &bytes, err), 0);
        CHECK_INT_EQ(io_file_crc32c(path, &whole, &bytes, err), 0);
        CHECK_MSG(crc != good && whole != good, "byte %llu flipped, CRC unchanged",
                  (unsigned long long)at[k]);
        for (int i = 0; i < NREG; i++)
            free(r[i].data);
        b = all[at[k]];
        CHECK(pwrite(fd, &b, 1, (off_t)at[k]) == 1);
        close(fd);
    }
}

/* Hundreds of small regions, every 97th with its CRC known, some empty:
 * more spans than one read takes at once, and reads that stop at each
 * known region. */
static void test_many_regions(const unsigned char *all)
{
    enum { MANY = 700 };
    struct io_region *r = calloc(MANY, sizeof *r);
    for (int i = 0; i < MANY; i++) {
        uint64_t bytes = i % 11 == 0 ? 0 : 1000 + (uint64_t)i;
        r[i] = (struct io_region){(uint64_t)i * 4096 + 37, bytes, 0, NULL};
        if (i % 97 == 0)
            r[i].crc = io_crc32c(0, all + r[i].offset, bytes);
        else
            r[i].data = malloc(bytes + 1);
    }
    uint32_t crc = 0;
    uint64_t bytes = 0;
    char err[PLAIT_IO_ERRLEN] = "";
    CHECK_INT_EQ(io_file_crc32c_regions(path, r, MANY, &crc, &bytes, err), 0);
    CHECK_INT_EQ(crc, io_crc32c(0, all, file_bytes));
    for (int i = 0; i < MANY; i++) {
        CHECK_INT_EQ(r[i].crc, io_crc32c(0, all + r[i].offset, r[i].bytes));
        if (r[i].data)
            CHECK(memcmp(r[i].data, all + r[i].offset, r[i].bytes) == 0);
        free(r[i].data);
    }
    free(r);
}

/* Regions that leave the file or overlap are refused when read into
 * memory; with their CRCs known, the whole file is read instead. */
static void test_bad_regions(const unsigned char *all)
{
    unsigned char small[16];
    struct io_region past = {file_bytes - 8, 16, 0, small};
    uint32_t crc;
    uint64_t bytes;
    char err[PLAIT_IO_ERRLEN] = "";
    CHECK_INT_EQ(io_file_crc32c_regions(path, &past, 1, &crc, &bytes, err), -1);
    CHECK_STR_CONTAINS(err, "regions leave the file");
    struct io_region overlap[2] = {{100, 16, 0, small}, {108, 8, 0, small}};
    CHECK_INT_EQ(io_file_crc32c_regions(path, overlap, 2, &crc, &bytes, err), -1);
    past.data = NULL;
    CHECK_INT_EQ(io_file_crc32c_regions(path, &past, 1, &crc, &bytes, err), 0);
    CHECK_INT_EQ(crc, io_crc32c(0, all, file_bytes));
    CHECK_INT_EQ(io_file_crc32c("/nonexistent/plait-file", &crc, &bytes, err), -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/plait-file");
}

int main(void)
{
    snprintf(path, sizeof path, "%s/plait-io-file-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    unsigned char *all = write_reference();
    test_read_regions(all);
    test_damage_found(all);
    test_many_regions(all);
    test_bad_regions(all);
    test_write_regions(all);
    test_read_regions(all);
    free(all);
    unlink(path);
    return check_status("test_io_file");
}
