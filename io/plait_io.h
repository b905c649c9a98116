/* plait_io: HDF5 token datasets, a prefetching data loader, and sharded
 * checkpoints that survive preemption.
 *
 * Conventions: functions returning int give 0 on success and -1 on failure;
 * the one-line reason is in the object's *_error() string, or in the
 * caller's `err` buffer (PLAIT_IO_ERRLEN bytes) for functions that create
 * objects. io depends on no runtime: ranks agree through plait_io_comm.
 * Each loader, writer and reader is used from one thread at a time. */
#ifndef PLAIT_IO_H
#define PLAIT_IO_H

#include <stddef.h>
#include <stdint.h>

#define PLAIT_IO_ERRLEN   512
#define PLAIT_IO_MAX_DIMS 8

/* The caller's collectives. A NULL comm means one process. Each returns 0
 * on success. allreduce_max_i64 replaces values[] with the element-wise
 * maximum over all ranks. */
struct plait_io_comm {
    int rank;
    int size;
    void *ctx;
    int (*barrier)(void *ctx);
    int (*allreduce_max_i64)(void *ctx, int64_t *values, int count);
    int (*broadcast)(void *ctx, void *buf, size_t bytes, int root);
};

/* ---- Datasets ---------------------------------------------------------- */

enum plait_token_format {
    PLAIT_TOKENS_TEXT, /* bytes of text files, vocabulary 256 */
    PLAIT_TOKENS_U16,  /* raw little-endian uint16 token files */
    PLAIT_TOKENS_U32,  /* raw little-endian uint32 token files */
};

struct plait_data_build_config {
    const char *out_path;
    const char *const *inputs; /* concatenated in this order */
    int n_inputs;
    enum plait_token_format format;
    uint32_t vocab_size;   /* 0: 256 for text, largest token + 1 for raw */
    uint64_t chunk_tokens; /* 0: a default */
};

/* Writes /tokens (1-D, uint16 or uint32, chunked) with attributes
 * vocab_size, n_tokens, source, checksum (zlib CRC-32 of the stored
 * little-endian token bytes, as "crc32:xxxxxxxx") and format. The file
 * appears under its name only when complete (temporary + fsync + rename). */
int plait_data_build(const struct plait_data_build_config *cfg, char err[PLAIT_IO_ERRLEN]);

struct plait_data_info {
    uint64_t n_tokens;
    uint32_t vocab_size;
    int token_bits; /* 16 or 32 */
    uint32_t checksum;
    char source[256];
    char format[16];
};

int plait_data_info(const char *path, struct plait_data_info *info, char err[PLAIT_IO_ERRLEN]);

/* Recomputes the token checksum and compares it with the attribute. */
int plait_data_verify(const char *path, char err[PLAIT_IO_ERRLEN]);

/* Where a loader stands: `index` counts the samples of this epoch's
 * permutation consumed by all data-parallel ranks together, so a position
 * saved with one dp size resumes with another (same global batch). */
struct plait_loader_pos {
    uint64_t epoch;
    uint64_t index;
};

/* A sample is seq_len + 1 consecutive tokens; sample i starts at token
 * i * seq_len. Each epoch visits a permutation of the samples seeded by
 * (seed, epoch); a step takes dp_size * batch of them, rank r the r-th run
 * of `batch`. An epoch ends when fewer than dp_size * batch remain. */
struct plait_loader_config {
    const char *path;
    int seq_len; /* T */
    int batch;   /* B, samples per rank per step */
    int dp_rank;
    int dp_size;
    uint64_t seed;
    int prefetch; /* batches read ahead by the background thread; 0: 2 */
    struct plait_loader_pos start;
};

struct plait_loader_stats {
    uint64_t batches;
    double stall_s; /* time next() waited for the prefetch thread */
    double read_s;  /* time the prefetch thread spent reading */
};

typedef struct plait_loader plait_loader;

plait_loader *plait_loader_open(const struct plait_loader_config *cfg, char err[PLAIT_IO_ERRLEN]);
/* Fills inputs and targets (batch * seq_len each; targets are inputs
 * shifted by one token) with this rank's next batch. */
int plait_loader_next(plait_loader *l, int32_t *inputs, int32_t *targets);
/* The position of the batch the next call to plait_loader_next returns. */
struct plait_loader_pos plait_loader_position(const plait_loader *l);
int plait_loader_seek(plait_loader *l, struct plait_loader_pos pos);
uint64_t plait_loader_samples(const plait_loader *l);
uint64_t plait_loader_steps_per_epoch(const plait_loader *l);
uint32_t plait_loader_vocab_size(const plait_loader *l);
struct plait_loader_stats plait_loader_stats(const plait_loader *l);
const char *plait_loader_error(const plait_loader *l);
void plait_loader_close(plait_loader *l);

/* ---- Checkpoints -------------------------------------------------------
 * DIR/step-NNNNNNNN/{manifest.h5, shard-RRRRR.h5}, DIR/latest names the
 * newest committed step directory. A checkpoint is written under
 * DIR/.tmp-step-NNNNNNNN, fsynced, renamed, and only then named in latest. */

enum plait_dtype { PLAIT_F32, PLAIT_F64, PLAIT_I32, PLAIT_I64, PLAIT_U16, PLAIT_U8 };

/* This rank's part of a global tensor: the row-major block
 * [offset, offset + extent) of a tensor of global_shape, held contiguously
 * at data. Ranks holding the same block (data-parallel replicas) may all
 * register it; one copy is read back. */
struct plait_tensor_slice {
    const char *name;
    enum plait_dtype dtype;
    int ndim;
    int64_t global_shape[PLAIT_IO_MAX_DIMS];
    int64_t offset[PLAIT_IO_MAX_DIMS];
    int64_t extent[PLAIT_IO_MAX_DIMS];
    void *data;
};

/* Global facts of a checkpoint, stored in the manifest. */
struct plait_ckpt_meta {
    int64_t step;
    int32_t dp, tp, pp;
    struct plait_loader_pos loader;
};

struct plait_ckpt_config {
    const char *dir;
    int keep; /* committed checkpoints kept; 0: 3 */
    const struct plait_io_comm *comm;
    /* Copies a registered tensor to host memory at snapshot time (a device
     * to host copy for GPU tensors). NULL: memcpy. Returns 0 on success. */
    int (*copy_to_host)(void *dst, const void *src, size_t bytes, void *ctx);
    void *copy_ctx;
    /* Non-zero: plait_ckpt_save_async returns before the snapshot is taken;
     * the background thread takes it (calling copy_to_host from there) and
     * the caller must call plait_ckpt_wait_snapshot before it next changes
     * a registered tensor (e.g. before the optimizer update: the forward
     * and backward passes overlap the copy). */
    int deferred_snapshot;
};

typedef struct plait_ckpt_writer plait_ckpt_writer;

/* Collective. Creates dir if needed; rank 0 removes leftover temporaries. */
plait_ckpt_writer *plait_ckpt_writer_open(const struct plait_ckpt_config *cfg,
                                          char err[PLAIT_IO_ERRLEN]);
/* The slice's data pointer is read at every save; it must stay valid. */
int plait_ckpt_register(plait_ckpt_writer *w, const struct plait_tensor_slice *t);
/* A per-rank byte blob (RNG state, anything small), copied now and written
 * with the next save into this rank's shard. */
int plait_ckpt_set_blob(plait_ckpt_writer *w, const char *name, const void *data, size_t bytes);
/* Collective: write (straight from host tensors, without a snapshot, when
 * there is no copy_to_host), commit; returns when durable. */
int plait_ckpt_save(plait_ckpt_writer *w, const struct plait_ckpt_meta *meta);
/* Collective call: snapshots to host memory and writes this rank's shard in
 * a background thread. Commit it with plait_ckpt_commit. A save still in
 * flight is committed first (blocking). */
int plait_ckpt_save_async(plait_ckpt_writer *w, const struct plait_ckpt_meta *meta);
/* Local: returns once the pending save's snapshot is taken (at once
 * without deferred_snapshot); -1 if taking it failed. */
int plait_ckpt_wait_snapshot(plait_ckpt_writer *w);
/* Local, never blocks: 1 no write in flight or this rank's write done,
 * 0 still writing, -1 it failed. */
int plait_ckpt_poll(plait_ckpt_writer *w);
/* Collective. Commits the pending save once every rank's shard is written:
 * with block=0 returns 0 at once if some rank is still writing; with
 * block=1 waits. Returns 1 committed (or nothing pending), 0 pending,
 * -1 failed (the checkpoint is discarded; the previous one stays). */
int plait_ckpt_commit(plait_ckpt_writer *w, int block);
const char *plait_ckpt_writer_error(const plait_ckpt_writer *w);
/* Joins a background write without committing it (call commit first). */
void plait_ckpt_writer_close(plait_ckpt_writer *w);

typedef struct plait_ckpt_reader plait_ckpt_reader;

/* Collective. Finds the newest valid checkpoint in dir (manifest present,
 * every shard present with its size and CRC32C), the ranks sharing the
 * verification. An invalid one is skipped with a one-line warning on
 * stderr (from the rank that found it) naming what was wrong. Returns 1 and *out on success,
 * 0 when dir holds no valid checkpoint, -1 on error. */
int plait_ckpt_load(const char *dir, const struct plait_io_comm *comm, plait_ckpt_reader **out,
                    char err[PLAIT_IO_ERRLEN]);
/* plait_ckpt_load, then the blocks want[0..n_want) (as plait_ckpt_read)
 * from the checkpoint chosen, which must hold them all. Where a rank's
 * blocks are exactly the slices of the shards it verifies (a restart with
 * the saving layout), their CRC32C comes from the blocks read instead of a
 * second pass over the files. The blocks are defined only on a return of 1. */
int plait_ckpt_load_into(const char *dir, const struct plait_io_comm *comm,
                         const struct plait_tensor_slice *want, int n_want, plait_ckpt_reader **out,
                         char err[PLAIT_IO_ERRLEN]);
/* Opens one checkpoint directory (step-NNNNNNNN) without verifying it. */
plait_ckpt_reader *plait_ckpt_open(const char *step_dir, char err[PLAIT_IO_ERRLEN]);
/* Verifies one checkpoint directory; the error names the bad shard. */
int plait_ckpt_verify(const char *step_dir, char err[PLAIT_IO_ERRLEN]);

const struct plait_ckpt_meta *plait_ckpt_reader_meta(const plait_ckpt_reader *r);
const char *plait_ckpt_reader_path(const plait_ckpt_reader *r);
int plait_ckpt_reader_nshards(const plait_ckpt_reader *r);
/* Reads the block [offset, offset + extent) of the global tensor `name`
 * into want->data, whatever layout wrote it (resharding). global_shape and
 * dtype must match what was saved. */
int plait_ckpt_read(plait_ckpt_reader *r, const struct plait_tensor_slice *want);
/* Copies shard `shard`'s blob `name` into buf (at most cap bytes); returns
 * its full length, or -1 when absent. */
long plait_ckpt_read_blob(plait_ckpt_reader *r, const char *name, int shard, void *buf, size_t cap);
/* Names of the global tensors, for tools: count, and the i-th name. */
int plait_ckpt_tensor_count(const plait_ckpt_reader *r);
const char *plait_ckpt_tensor_name(const plait_ckpt_reader *r, int i);
int plait_ckpt_tensor_info(const plait_ckpt_reader *r, const char *name, enum plait_dtype *dtype,
                           int *ndim, int64_t global_shape[PLAIT_IO_MAX_DIMS]);
/* Writes every global tensor as a plain dataset of one HDF5 file. */
int plait_ckpt_export(plait_ckpt_reader *r, const char *out_path);
const char *plait_ckpt_reader_error(const plait_ckpt_reader *r);
void plait_ckpt_reader_close(plait_ckpt_reader *r);

#endif
