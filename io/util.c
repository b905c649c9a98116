/* Error lines, durability, CRC and HDF5 attribute helpers used across io. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <isa-l/crc.h>

#include "io_internal.h"

void io_errf(char *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, PLAIT_IO_ERRLEN, fmt, ap);
    va_end(ap);
}

double io_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void io_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* HDF5 1.10 keeps a file whose H5Fclose failed (its metadata could not be
 * written: a full disk, a file-size limit) registered, half torn down, and
 * closing it again dereferences what is gone (SIGSEGV), as its atexit
 * handler does for every file still open: a job that reported a failed
 * checkpoint cleanly then crashed on its way out. plait closes every file it
 * opens and checks the result, so HDF5 has nothing to do at exit. This runs
 * when the program is loaded, before HDF5's first call registers the
 * handler. */
__attribute__((constructor)) static void no_hdf5_atexit(void)
{
    H5dont_atexit();
}

static hid_t unlocked_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    return fapl;
}

hid_t io_h5_open(const char *path)
{
    hid_t fapl = unlocked_fapl();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

hid_t io_h5_create(const char *path)
{
    hid_t fapl = unlocked_fapl();
    errno = 0;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int why = errno;
    H5Pclose(fapl);
    errno = why;
    return f;
}

int io_h5_close(hid_t file)
{
    errno = 0;
    return H5Fclose(file) < 0 ? -1 : 0;
}

const char *io_h5_reason(void)
{
    return errno ? strerror(errno) : "HDF5 gave no system error";
}

hid_t io_h5_type(enum plait_dtype dtype)
{
    switch (dtype) {
    case PLAIT_F32:
        return H5T_NATIVE_FLOAT;
    case PLAIT_F64:
        return H5T_NATIVE_DOUBLE;
    case PLAIT_I32:
        return H5T_NATIVE_INT32;
    case PLAIT_I64:
        return H5T_NATIVE_INT64;
    case PLAIT_U16:
        return H5T_NATIVE_UINT16;
    case PLAIT_U8:
        return H5T_NATIVE_UINT8;
    }
    return H5I_INVALID_HID;
}

hid_t io_h5_le_type(enum plait_dtype dtype)
{
    switch (dtype) {
    case PLAIT_F32:
        return H5T_IEEE_F32LE;
    case PLAIT_F64:
        return H5T_IEEE_F64LE;
    case PLAIT_I32:
        return H5T_STD_I32LE;
    case PLAIT_I64:
        return H5T_STD_I64LE;
    case PLAIT_U16:
        return H5T_STD_U16LE;
    case PLAIT_U8:
        return H5T_STD_U8LE;
    }
    return H5I_INVALID_HID;
}

size_t io_dtype_size(enum plait_dtype dtype)
{
    static const size_t sizes[] = {4, 8, 4, 8, 2, 1};
    return (unsigned)dtype < sizeof sizes / sizeof sizes[0] ? sizes[dtype] : 0;
}

const char *io_dtype_name(enum plait_dtype dtype)
{
    static const char *names[] = {"f32", "f64", "i32", "i64", "u16", "u8"};
    return (unsigned)dtype < sizeof names / sizeof names[0] ? names[dtype] : "?";
}

int io_fsync_path(const char *path, char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        io_errf(err, "fsync of '%s' failed: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int io_fsync_dir(const char *dir, char *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        io_errf(err, "fsync of directory '%s' failed: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int parent_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(dir, cap, ".") < (int)cap ? 0 : -1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return -1;
    memcpy(dir, path, n);
    dir[n] = 0;
    return 0;
}

int io_write_file_atomic(const char *path, const void *data, size_t bytes, char *err)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
        parent_dir(path, dir, sizeof dir) != 0) {
        io_errf(err, "path '%s' is too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        io_errf(err, "cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t left = bytes;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            io_errf(err, "cannot write '%s': %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        io_errf(err, "fsync of '%s' failed: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        io_errf(err, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return io_fsync_dir(dir, err);
}

int io_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub ||
            io_rm_rf(sub) != 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(path) != 0 ? -1 : rc;
}

#define CRC32C_POLY 0x82f63b78u /* Castagnoli, reflected */

/* ISA-L picks the fastest kernel for the CPU (carry-less multiply folding,
 * several GB/s per core beyond the plain crc32 instruction); its length is
 * an int, so long buffers go in pieces. */
uint32_t io_crc32c(uint32_t crc, const void *data, size_t bytes)
{
    const size_t piece = (size_t)1 << 30;
    unsigned char *p = (unsigned char *)data;
    crc = ~crc;
    for (; bytes > piece; bytes -= piece, p += piece)
        crc = crc32_iscsi(p, (int)piece, crc);
    return ~crc32_iscsi(p, (int)bytes, crc);
}

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* zlib's crc32_combine, for the Castagnoli polynomial: the CRC of A then
 * B from the CRCs of A and B and the length of B. */
uint32_t io_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
    if (len2 == 0)
        return crc1;
    uint32_t even[32], odd[32], row = 1;
    odd[0] = CRC32C_POLY;
    for (int n = 1; n < 32; n++, row <<= 1)
        odd[n] = row;
    gf2_square(even, odd);
    gf2_square(odd, even);
    do {
        gf2_square(even, odd);
        if (len2 & 1)
            crc1 = gf2_times(even, crc1);
        len2 >>= 1;
        if (!len2)
            break;
        gf2_square(odd, even);
        if (len2 & 1)
            crc1 = gf2_times(odd, crc1);
        len2 >>= 1;
    } while (len2);
    return crc1 ^ crc2;
}

static int by_offset(const void *a, const void *b)
{
    const struct io_region *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensor bytes are written in pieces that stay in cache for their CRC:
 * HDF5's 32 MiB writes cost five times the kernel time of 1 MiB ones. */
#define IO_PIECE ((size_t)1 << 20)

/* Writeback starts on every WRITEBACK_KICK bytes as soon as they are
 * written, so the disk works while later pieces are copied and CRC'd and
 * the closing fsync finds little left (a raw write + fsync starts writing
 * only at the fsync); waiting for what was kicked WRITEBACK_LAG earlier
 * keeps the dirty pages of a large shard bounded. Only hints: the fsync
 * stays what makes the bytes durable. */
#define WRITEBACK_KICK ((uint64_t)8 << 20)
#define WRITEBACK_LAG  ((uint64_t)64 << 20)

struct writeback {
    int fd;
    uint64_t from, to; /* written, writeback not started: [from, to) */
};

static void writeback_kick(struct writeback *wb)
{
    if (wb->to == wb->from)
        return;
    sync_file_range(wb->fd, (off_t)wb->from, (off_t)(wb->to - wb->from), SYNC_FILE_RANGE_WRITE);
    if (wb->from > WRITEBACK_LAG)
        sync_file_range(wb->fd, 0, (off_t)(wb->from - WRITEBACK_LAG), SYNC_FILE_RANGE_WAIT_BEFORE);
    wb->from = wb->to;
}

/* Records [at, at + bytes) as written, starting writeback per WRITEBACK_KICK. */
static void writeback_note(struct writeback *wb, uint64_t at, uint64_t bytes)
{
    if (at != wb->to) {
        writeback_kick(wb);
        wb->from = at;
    }
    wb->to = at + bytes;
    if (wb->to - wb->from >= WRITEBACK_KICK)
        writeback_kick(wb);
}

int io_file_write_regions(const char *path, struct io_region *r, int n, char *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        io_errf(err, "cannot open '%s' to write tensors: %s", path, strerror(errno));
        return -1;
    }
    struct writeback wb = {.fd = fd};
    for (int i = 0; i < n; i++) {
        const unsigned char *src = r[i].data;
        uint32_t c = 0;
        for (uint64_t done = 0; done < r[i].bytes;) {
            size_t want = r[i].bytes - done < IO_PIECE ? (size_t)(r[i].bytes - done) : IO_PIECE;
            ssize_t w = pwrite(fd, src + done, want, (off_t)(r[i].offset + done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                io_errf(err, "cannot write '%s': %s", path,
                        w < 0 ? strerror(errno) : "no progress");
                close(fd);
                return -1;
            }
            c = io_crc32c(c, src + done, (size_t)w);
            writeback_note(&wb, r[i].offset + done, (uint64_t)w);
            done += (uint64_t)w;
        }
        r[i].crc = c;
    }
    writeback_kick(&wb);
    if (close(fd) != 0) {
        io_errf(err, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A file is read by one thread in large preadv calls, straight into the
 * tensors, while a second thread CRCs each batch behind it: the disk sees
 * the one sequential stream of a raw read, and only the last batch's CRC
 * adds to the time, so the batches halve towards the end. Measured on the
 * 2-core VM (cold page cache, 256 MiB): reads of 1-8 MiB reach only 0.85 of
 * one whole-file read even with no CRC, 32 MiB 0.97; several readers taking
 * turns at 2 MiB stripes 0.79-0.86 with their CRCs; POSIX_FADV_SEQUENTIAL
 * cost 6% (docs/performance.md). */
#define READ_BATCH     ((uint64_t)128 << 20)
#define READ_BATCH_MIN ((uint64_t)1 << 20)
/* Bytes read only for their CRC (HDF5 metadata between tensors, or a
 * whole file being verified) go to one of a few scratch buffers. */
#define SCRATCH_BYTES ((uint64_t)8 << 20)
#define SCRATCHES     3
#define BATCH_SPANS   64

/* A run of the file within one batch: a gap between regions (region -1),
 * read into its batch's scratch buffer at scratch_at, or all or part of a
 * region, read into dst; a region without data is not read at all (its
 * CRC is known). */
struct span {
    uint64_t offset, bytes, scratch_at;
    unsigned char *dst;
    int region, known;
    uint32_t crc;
};

/* A contiguous run of the file read by one preadv. */
struct batch {
    uint64_t offset, bytes, scratch_used;
    int first, nspans;
};

struct read_plan {
    struct span *spans;
    struct batch *batches;
    int nspans, nbatches;
    unsigned char *scratch[SCRATCHES];
};

/* Shared by the reader and the CRC thread. */
struct read_progress {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int read, hashed, failed, error;
};

static uint64_t batch_limit(uint64_t left)
{
    if (left >= 2 * READ_BATCH)
        return READ_BATCH;
    return left / 2 > READ_BATCH_MIN ? left / 2 : READ_BATCH_MIN;
}

/* Cuts the file into spans in file order, grouped into batches; -1 when
 * the regions overlap or leave the file. */
static int plan_reads(const struct io_region *r, int n, uint64_t size, uint64_t to_read,
                      struct read_plan *plan)
{
    struct batch *cur = NULL;
    uint64_t at = 0;
    plan->nspans = plan->nbatches = 0;
    for (int i = 0; i <= n; i++) {
        uint64_t start = i < n ? r[i].offset : size, end = i < n ? start + r[i].bytes : size;
        if (start < at || end > size || end < start)
            return -1;
        for (int part = 0; part < (i < n ? 2 : 1); part++) {
            uint64_t from = part == 0 ? at : start, to = part == 0 ? start : end;
            if (part == 1 && !r[i].data) {
                plan->spans[plan->nspans++] =
                    (struct span){from, to - from, 0, NULL, i, 1, r[i].crc};
                cur = NULL;
                continue;
            }
            while (from < to) {
                int gap = part == 0;
                if (!cur || cur->bytes >= batch_limit(to_read + cur->bytes) ||
                    cur->nspans == BATCH_SPANS || (gap && cur->scratch_used == SCRATCH_BYTES)) {
                    cur = &plan->batches[plan->nbatches++];
                    *cur = (struct batch){from, 0, 0, plan->nspans, 0};
                }
                uint64_t stop = to, room = batch_limit(to_read + cur->bytes) - cur->bytes;
                if (gap && SCRATCH_BYTES - cur->scratch_used < room)
                    room = SCRATCH_BYTES - cur->scratch_used;
                if (stop - from > room)
                    stop = from + room;
                unsigned char *dst = gap ? NULL : (unsigned char *)r[i].data + (from - start);
                plan->spans[plan->nspans++] =
                    (struct span){from, stop - from, cur->scratch_used, dst, gap ? -1 : i, 0, 0};
                cur->nspans++;
                cur->bytes += stop - from;
                cur->scratch_used += gap ? stop - from : 0;
                to_read -= stop - from;
                from = stop;
            }
        }
        at = end;
    }
    return 0;
}

/* Room for the spans and batches of any plan: a batch holds READ_BATCH_MIN
 * bytes or more unless a known region, SCRATCH_BYTES of gaps, BATCH_SPANS
 * spans or the file's end ends it, and each batch cuts one span in two. */
static size_t plan_capacity(int n, uint64_t to_read)
{
    return (size_t)(2 * n + 2) * 2 + (size_t)(to_read / READ_BATCH_MIN) * 2 + 2;
}

static void progress_set(struct read_progress *p, int *field, int value, int error)
{
    pthread_mutex_lock(&p->lock);
    *field = value;
    if (error && !p->failed) {
        p->failed = 1;
        p->error = error;
    }
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Waits until *field reaches value; 0, or -1 when the other side failed. */
static int progress_wait(struct read_progress *p, const int *field, int value)
{
    pthread_mutex_lock(&p->lock);
    while (*field < value && !p->failed)
        pthread_cond_wait(&p->changed, &p->lock);
    int rc = p->failed ? -1 : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static unsigned char *span_bytes(struct read_plan *plan, int b, const struct span *s)
{
    return s->dst ? s->dst : plan->scratch[b % SCRATCHES] + s->scratch_at;
}

static int read_batch(int fd, struct read_plan *plan, int b)
{
    const struct batch *bt = &plan->batches[b];
    struct iovec iov[BATCH_SPANS];
    for (int k = 0; k < bt->nspans; k++) {
        struct span *s = &plan->spans[bt->first + k];
        iov[k] = (struct iovec){span_bytes(plan, b, s), s->bytes};
    }
    struct iovec *v = iov;
    int left = bt->nspans;
    for (uint64_t done = 0; done < bt->bytes;) {
        ssize_t n = preadv(fd, v, left, (off_t)(bt->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (uint64_t)n;
        for (size_t got = (size_t)n; got > 0;) {
            size_t take = got < v->iov_len ? got : v->iov_len;
            v->iov_base = (char *)v->iov_base + take;
            v->iov_len -= take;
            got -= take;
            if (v->iov_len == 0) {
                v++;
                left--;
            }
        }
    }
    return 0;
}

static void hash_batch(struct read_plan *plan, int b)
{
    const struct batch *bt = &plan->batches[b];
    for (int k = 0; k < bt->nspans; k++) {
        struct span *s = &plan->spans[bt->first + k];
        s->crc = io_crc32c(0, span_bytes(plan, b, s), s->bytes);
    }
}

struct hasher {
    struct read_plan *plan;
    struct read_progress *progress;
};

static void *hasher_run(void *arg)
{
    struct hasher *h = arg;
    for (int b = 0; b < h->plan->nbatches; b++) {
        if (progress_wait(h->progress, &h->progress->read, b + 1) != 0)
            break;
        hash_batch(h->plan, b);
        progress_set(h->progress, &h->progress->hashed, b + 1, 0);
    }
    return NULL;
}

/* Reads every batch and CRCs every span; 0, or -1 with errno set. */
static int run_plan(const char *path, struct read_plan *plan)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct read_progress p = {.lock = PTHREAD_MUTEX_INITIALIZER,
                              .changed = PTHREAD_COND_INITIALIZER};
    struct hasher h = {plan, &p};
    pthread_t tid;
    int threaded = plan->nbatches > 1 && pthread_create(&tid, NULL, hasher_run, &h) == 0;
    for (int b = 0; b < plan->nbatches; b++) {
        if (threaded && b >= SCRATCHES && plan->batches[b].scratch_used &&
            progress_wait(&p, &p.hashed, b - SCRATCHES + 1) != 0)
            break;
        int error = read_batch(fd, plan, b);
        if (error) {
            progress_set(&p, &p.read, b, error);
            break;
        }
        if (threaded)
            progress_set(&p, &p.read, b + 1, 0);
        else
            hash_batch(plan, b);
    }
    if (threaded)
        pthread_join(tid, NULL);
    close(fd);
    errno = p.error;
    return p.failed ? -1 : 0;
}

/* One pass over the file: the bytes between the regions are read, regions
 * with data are read into it; gives the CRC of the whole file (gaps joined
 * with the regions' CRCs) and the CRC of the gaps alone. */
static int regions_pass(const char *path, struct io_region *r, int n, uint32_t *whole,
                        uint32_t *gaps, uint64_t *bytes)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (n > 0)
        qsort(r, (size_t)n, sizeof *r, by_offset);
    uint64_t size = (uint64_t)st.st_size, known = 0;
    for (int i = 0; i < n; i++)
        known += r[i].data ? 0 : r[i].bytes;
    uint64_t to_read = size > known ? size - known : 0;
    size_t cap = plan_capacity(n, to_read);
    struct read_plan plan = {.spans = malloc(sizeof *plan.spans * cap),
                             .batches = malloc(sizeof *plan.batches * cap)};
    int rc = -1;
    errno = ENOMEM;
    if (plan.spans && plan.batches) {
        errno = EINVAL;
        rc = plan_reads(r, n, size, to_read, &plan);
    }
    for (int k = 0; rc == 0 && k < SCRATCHES && k < plan.nbatches; k++)
        if (!(plan.scratch[k] = malloc(SCRATCH_BYTES))) {
            errno = ENOMEM;
            rc = -1;
        }
    rc = rc == 0 ? run_plan(path, &plan) : -1;
    int nspans = plan.nspans;
    struct span *spans = plan.spans;
    uint32_t w = 0, g = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        r[i].crc = r[i].data ? 0 : r[i].crc;
    for (int k = 0; rc == 0 && k < nspans; k++) {
        const struct span *p = &spans[k];
        w = io_crc32c_combine(w, p->crc, p->bytes);
        if (p->region < 0)
            g = io_crc32c_combine(g, p->crc, p->bytes);
        else if (!p->known)
            r[p->region].crc = io_crc32c_combine(r[p->region].crc, p->crc, p->bytes);
    }
    free(plan.spans);
    free(plan.batches);
    for (int k = 0; k < SCRATCHES; k++)
        free(plan.scratch[k]);
    *whole = w;
    *gaps = g;
    *bytes = size;
    return rc;
}

int io_file_crc32c(const char *path, uint32_t *crc, uint64_t *bytes, char *err)
{
    uint32_t gaps;
    if (regions_pass(path, NULL, 0, crc, &gaps, bytes) != 0) {
        io_errf(err, "cannot read '%s' to check it: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int io_file_crc32c_regions(const char *path, struct io_region *r, int n, uint32_t *crc,
                           uint64_t *bytes, char *err)
{
    uint32_t gaps;
    if (regions_pass(path, r, n, crc, &gaps, bytes) == 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (r[i].data) {
            io_errf(err, "cannot read '%s' (a read failed or the tensor regions leave the file)",
                    path);
            return -1;
        }
    return io_file_crc32c(path, crc, bytes, err);
}

int io_file_gaps_crc32c(const char *path, struct io_region *r, int n, uint32_t *crc)
{
    uint32_t whole;
    uint64_t bytes;
    return regions_pass(path, r, n, &whole, crc, &bytes);
}

int io_attr_put_i64(hid_t obj, const char *name, int64_t v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return rc;
}

int io_attr_get_i64(hid_t obj, const char *name, int64_t *v)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    int rc = H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}

int io_attr_put_str(hid_t obj, const char *name, const char *s)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(s) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, type, s) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

int io_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    hid_t ftype = H5Aget_type(a);
    size_t n = H5Tget_size(ftype);
    int rc = -1;
    if (H5Tget_class(ftype) == H5T_STRING && !H5Tis_variable_str(ftype) && n > 0) {
        char *tmp = calloc(1, n + 1);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, n);
        if (tmp && H5Aread(a, mtype, tmp) >= 0) {
            snprintf(buf, cap, "%s", tmp);
            rc = 0;
        }
        H5Tclose(mtype);
        free(tmp);
    }
    H5Tclose(ftype);
    H5Aclose(a);
    return rc;
}

int io_array_put(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                 const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(loc, name, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc =
        d >= 0 && (n == 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(space);
    return rc;
}

long long io_array_len(hid_t loc, const char *name)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t space = H5Dget_space(d);
    long long n = (long long)H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    H5Dclose(d);
    return n;
}

int io_array_get(hid_t loc, const char *name, hid_t type, size_t elems, void *buf)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t space = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc = n >= 0 && (size_t)n == elems &&
                     (n == 0 || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
                 ? 0
                 : -1;
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

hid_t io_name_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, IO_NAME_LEN);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

int io_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= IO_NAME_LEN - 16)
        return 0;
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    for (const char *c = name; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += len;
        if (*c == '/' && !*++c)
            return 0;
    }
    return 1;
}
