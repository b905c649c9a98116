/* Helpers shared by io's files; not part of the public interface. */
#ifndef PLAIT_IO_INTERNAL_H
#define PLAIT_IO_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>
#include <stddef.h>

#include "plait_io.h"

void io_errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double io_now(void);

/* Quiets HDF5's stack dumps on this thread: errors are reported as one line. */
void io_h5_quiet(void);
/* Files are opened read-only or created without HDF5's file locks: a
 * checkpoint is never written and read at once, and the locks fail on
 * NFS and some Lustre mounts. */
hid_t io_h5_open(const char *path);
hid_t io_h5_create(const char *path);
/* H5Fclose, 0 or -1. */
int io_h5_close(hid_t file);
/* Why io_h5_create or io_h5_close just failed: HDF5's file driver fails on
 * a system call (a full disk, a file-size limit, permissions) and leaves its
 * errno. */
const char *io_h5_reason(void);
hid_t io_h5_type(enum plait_dtype dtype);
/* The stored type of checkpoint tensors: little-endian whatever the host,
 * so a reader on a little-endian host may take their bytes as they are. */
hid_t io_h5_le_type(enum plait_dtype dtype);
size_t io_dtype_size(enum plait_dtype dtype);
const char *io_dtype_name(enum plait_dtype dtype);

/* Durability: H5Fclose leaves data in the page cache (sec2 never fsyncs). */
int io_fsync_path(const char *path, char *err);
int io_fsync_dir(const char *dir, char *err);
/* Writes data to path through path.tmp, fsync, rename, fsync of the directory. */
int io_write_file_atomic(const char *path, const void *data, size_t bytes, char *err);
int io_rm_rf(const char *path);

/* CRC32C (Castagnoli; iSCSI, ext4), the checkpoints' checksum. Pass 0 as
 * crc to start, the previous result to continue. */
uint32_t io_crc32c(uint32_t crc, const void *data, size_t bytes);
uint32_t io_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
/* CRC32C of a whole file, read in large batches with the CRC in a second thread. */
int io_file_crc32c(const char *path, uint32_t *crc, uint64_t *bytes, char *err);

/* A run of a file's bytes (a tensor's) and its CRC32C. With data set, the
 * bytes are read into data or written from it, CRC'd on the way; else the
 * CRC is known. */
struct io_region {
    uint64_t offset, bytes;
    uint32_t crc;
    void *data;
};

/* Writes each region's bytes from its data at its offset, in pieces CRC'd
 * while in cache (setting each region's crc), starting their writeback as
 * it goes; the caller's fsync makes them durable. */
int io_file_write_regions(const char *path, struct io_region *r, int n, char *err);

/* The file's CRC32C from the regions (sorted here) and a read of the bytes
 * between them: equal to a CRC of the whole file. A full read is the
 * fallback when the regions do not fit the file (not for regions read into data). */
int io_file_crc32c_regions(const char *path, struct io_region *r, int n, uint32_t *crc,
                           uint64_t *bytes, char *err);

/* CRC32C of the bytes outside the regions, as if they were one run; -1
 * when the regions overlap or leave the file. */
int io_file_gaps_crc32c(const char *path, struct io_region *r, int n, uint32_t *crc);

/* Small HDF5 attribute helpers; each returns 0 or -1. */
int io_attr_put_i64(hid_t obj, const char *name, int64_t v);
int io_attr_get_i64(hid_t obj, const char *name, int64_t *v);
int io_attr_put_str(hid_t obj, const char *name, const char *s);
int io_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap);

/* Whole small datasets: rank-1 or rank-2 arrays written or read at once. */
int io_array_put(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                 const void *data);
/* Reads dataset name into buf, which holds exactly `elems` elements of type. */
int io_array_get(hid_t loc, const char *name, hid_t type, size_t elems, void *buf);
/* Number of elements of dataset name, or -1. */
long long io_array_len(hid_t loc, const char *name);
/* A fixed-length string type of IO_NAME_LEN bytes; close with H5Tclose. */
hid_t io_name_type(void);
/* Whether a tensor or blob name may be used: names become HDF5 paths ('/'
 * nests groups; empty, "." and ".." components would not name a dataset)
 * and appear in one-line messages (no control characters). */
int io_valid_name(const char *name);

#define IO_FORMAT_VERSION "plait-ckpt-1"
#define IO_MANIFEST       "manifest.h5"
#define IO_MANIFEST_SEAL  "manifest.crc32c"
#define IO_NAME_LEN       256

#endif
