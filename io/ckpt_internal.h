/* What the checkpoint writer, manifest and reader share. */
#ifndef PLAIT_IO_CKPT_INTERNAL_H
#define PLAIT_IO_CKPT_INTERNAL_H

#include "io_internal.h"

struct ckpt_entry {
    struct plait_tensor_slice t; /* t.name owned */
    size_t bytes;
    void *snap; /* host copy taken at save time */
};

struct ckpt_blob {
    char *name;
    void *data;
    size_t bytes;
};

struct ckpt_shard_job {
    const char *path;
    int rank, nranks;
    int64_t step;
    const struct ckpt_entry *entries;
    int n_entries;
    int direct; /* write from entries' own data, not their snapshots */
    const struct ckpt_blob *blobs;
    int n_blobs;
};

/* Writes, closes, fsyncs and CRCs one shard file. */
int ckpt_write_shard(const struct ckpt_shard_job *job, uint32_t *crc, uint64_t *bytes, char *err);

/* One slice of a global tensor as recorded in the manifest. */
struct ckpt_slice {
    int tensor, shard;
    int64_t offset[PLAIT_IO_MAX_DIMS];
    int64_t extent[PLAIT_IO_MAX_DIMS];
};

/* Where a shard file holds a tensor's bytes; slice is the slice table's
 * entry it provides, -1 for a replica of another shard's slice. */
struct ckpt_region {
    int shard, slice;
    uint64_t offset, bytes;
};

struct ckpt_tensor {
    char name[IO_NAME_LEN];
    int32_t dtype, ndim;
    int64_t shape[PLAIT_IO_MAX_DIMS];
};

/* The manifest's content: written by rank 0 at commit, read at load. */
struct ckpt_manifest {
    struct plait_ckpt_meta meta;
    int nshards;
    char (*shard_file)[IO_NAME_LEN];
    uint64_t *shard_size;
    uint32_t *shard_crc;
    uint32_t *shard_meta_crc; /* CRC32C of the bytes outside the regions */
    int nregions;
    struct ckpt_region *regions;
    int ntensors;
    struct ckpt_tensor *tensors;
    int nslices;
    struct ckpt_slice *slices;
};

/* Builds the manifest of dir's shard files (reading their indexes) and
 * checks that the unique slices of each tensor tile it exactly. */
int ckpt_manifest_build(struct ckpt_manifest *m, const char *dir, int nshards, char *err);
int ckpt_manifest_write(const struct ckpt_manifest *m, const char *dir, char *err);
/* Writes manifest.crc32c ("CRC32C BYTES" of manifest.h5), fsynced. */
int ckpt_manifest_seal(const char *dir, char *err);
/* Reads a manifest after checking it against its seal. */
int ckpt_manifest_read(struct ckpt_manifest *m, const char *dir, char *err);
void ckpt_manifest_free(struct ckpt_manifest *m);
int64_t ckpt_volume(int ndim, const int64_t *extent);
/* Steps of the committed step-N directories of dir, newest first
 * (temporaries never qualify); NULL when there are none. */
long long *ckpt_list_steps(const char *dir, size_t *n);
/* CRC32C of shard `shard`'s bytes outside its tensor regions (path: its file). */
int ckpt_meta_crc(const struct ckpt_manifest *m, const char *path, int shard, uint32_t *crc,
                  char *err);

#define CKPT_STEP_FMT  "step-%08lld"
#define CKPT_SHARD_FMT "shard-%05d.h5"

#endif
