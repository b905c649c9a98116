/* Checkpoints through io: every parameter tensor with its two AdamW moments
 * as a global tensor (so a checkpoint reshards), the step and the data
 * loader's position. Nothing else carries state from step to step. */
#include "runtime/train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct train_ckpt {
    struct plait_io_comm comm;
    plait_ckpt_writer *writer;
    int nslices;
    struct plait_tensor_slice *slices; /* every copy this rank holds */
    int *saved;                        /* slice i is written (not a second copy) */
    char (*names)[64];
    int step; /* of the last save started */
};

static int io_barrier(void *ctx)
{
    struct trainer *t = ctx;
    return plait_barrier(t->world) == PLAIT_OK ? 0 : -1;
}

/* The runtime reduces floats by sum; a maximum of integers is an allgather
 * of their bytes and a local maximum. */
static int io_allreduce_max_i64(void *ctx, int64_t *values, int count)
{
    struct trainer *t = ctx;
    int n = plait_comm_size(t->world);
    int64_t *all = malloc(sizeof(int64_t) * (size_t)n * (size_t)count);
    if (!all)
        return -1;
    int rc = plait_allgather(t->world, values, all, (size_t)count * 2, PLAIT_FLOAT32);
    if (rc == PLAIT_OK)
        for (int r = 0; r < n; r++)
            for (int i = 0; i < count; i++)
                if (all[r * count + i] > values[i])
                    values[i] = all[r * count + i];
    free(all);
    return rc == PLAIT_OK ? 0 : -1;
}

static int io_broadcast(void *ctx, void *buf, size_t bytes, int root)
{
    struct trainer *t = ctx;
    size_t words = (bytes + 3) / 4;
    float *tmp = malloc(words ? words * 4 : 4);
    if (!tmp)
        return -1;
    memcpy(tmp, buf, bytes);
    int rc = plait_broadcast(t->world, tmp, words, PLAIT_FLOAT32, root);
    memcpy(buf, tmp, bytes);
    free(tmp);
    return rc == PLAIT_OK ? 0 : -1;
}

static void describe(struct plait_tensor_slice *s, const gpt_tensor *g, const char *name,
                     float *data)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->dtype = PLAIT_F32;
    s->ndim = g->ndim;
    for (int d = 0; d < g->ndim; d++) {
        s->global_shape[d] = g->shape[d];
        s->offset[d] = d == g->split_dim ? g->offset : 0;
        s->extent[d] = d == g->split_dim ? g->extent : g->shape[d];
    }
    s->data = data;
}

/* io names tensors by HDF5 path: "h.3.attn.qkv.w" becomes
 * "params/h/3/attn/qkv/w", its moments "adam_m/..." and "adam_v/...". */
static void tensor_path(char *buf, size_t len, const char *group, const char *name)
{
    snprintf(buf, len, "%s/%s", group, name);
    for (char *p = buf; *p; p++)
        if (*p == '.')
            *p = '/';
}

static int add_slices(struct trainer *t, struct train_ckpt *c)
{
    int total = 0;
    for (int k = 0; k < t->nchunks; k++)
        total += 3 * gpt_stage_tensor_count(t->chunk[k]);
    c->slices = calloc((size_t)total, sizeof *c->slices);
    c->saved = calloc((size_t)total, sizeof *c->saved);
    c->names = calloc((size_t)total, sizeof *c->names);
    if (!c->slices || !c->saved || !c->names)
        return trainer_fail(t, "out of memory describing the checkpoint");
    for (int k = 0; k < t->nchunks; k++) {
        for (int i = 0; i < gpt_stage_tensor_count(t->chunk[k]); i++) {
            const gpt_tensor *g = gpt_stage_tensor(t->chunk[k], i);
            /* The tied embedding is saved once, from the first stage. */
            int copy = strcmp(g->name, "wte") == 0 && !(t->first && k == 0);
            float *parts[3] = {g->data, g->adam_m, g->adam_v};
            const char *group[3] = {"params", "adam_m", "adam_v"};
            for (int p = 0; p < 3; p++) {
                int n = c->nslices++;
                tensor_path(c->names[n], sizeof c->names[n], group[p], g->name);
                describe(&c->slices[n], g, c->names[n], parts[p]);
                c->saved[n] = !copy;
            }
        }
    }
    return 0;
}

int ckpt_open(struct trainer *t, struct train_ckpt **out)
{
    struct train_ckpt *c = calloc(1, sizeof *c);
    *out = c;
    if (!c)
        return trainer_fail(t, "out of memory for the checkpoint state");
    c->comm = (struct plait_io_comm){
        .rank = t->place->rank,
        .size = t->place->world_size,
        .ctx = t,
        .barrier = io_barrier,
        .allreduce_max_i64 = io_allreduce_max_i64,
        .broadcast = io_broadcast,
    };
    return add_slices(t, c);
}

int ckpt_open_writer(struct trainer *t, struct train_ckpt *c)
{
    if (!t->cfg.ckpt_dir[0])
        return 0;
    struct plait_ckpt_config cc = {
        .dir = t->cfg.ckpt_dir, .keep = t->cfg.ckpt_keep, .comm = &c->comm};
    /* On the GPU the snapshot of a background save is a device-to-host copy. */
    if (t->cuda) {
        cc.copy_to_host = train_cuda_copy_to_host;
        cc.copy_ctx = t;
    }
    c->writer = plait_ckpt_writer_open(&cc, t->err);
    return c->writer ? 0 : -1;
}

int ckpt_register(struct trainer *t, struct train_ckpt *c)
{
    for (int i = 0; i < c->nslices && c->writer; i++)
        if (c->saved[i] && plait_ckpt_register(c->writer, &c->slices[i]))
            return trainer_fail(t, "%s", plait_ckpt_writer_error(c->writer));
    return 0;
}

static size_t slice_count(const struct plait_tensor_slice *s)
{
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= (size_t)s->extent[d];
    return n;
}

/* On the GPU through a host copy, uploaded. */
static int read_slice(struct trainer *t, plait_ckpt_reader *r, const struct plait_tensor_slice *s)
{
    if (!t->cuda)
        return plait_ckpt_read(r, s) ? trainer_fail(t, "%s", plait_ckpt_reader_error(r)) : 0;
    size_t bytes = slice_count(s) * sizeof(float);
    struct plait_tensor_slice host = *s;
    host.data = malloc(bytes ? bytes : 1);
    if (!host.data)
        return trainer_fail(t, "out of memory reading %s", s->name);
    int rc = plait_ckpt_read(r, &host) ? trainer_fail(t, "%s", plait_ckpt_reader_error(r))
                                       : train_cuda_upload(t, s->data, host.data, bytes);
    free(host.data);
    return rc;
}

int ckpt_resume(struct trainer *t, struct train_ckpt *c, int *step)
{
    *step = 0;
    if (!t->cfg.ckpt_dir[0])
        return 0;
    plait_ckpt_reader *r = NULL;
    int found = plait_ckpt_load(t->cfg.ckpt_dir, &c->comm, &r, t->err);
    if (found <= 0)
        return found;
    const struct plait_ckpt_meta *meta = plait_ckpt_reader_meta(r);
    int rc = 0;
    for (int i = 0; i < c->nslices && !rc; i++)
        rc = read_slice(t, r, &c->slices[i]);
    if (!rc && t->loader && plait_loader_seek(t->loader, meta->loader))
        rc = trainer_fail(t, "%s", plait_loader_error(t->loader));
    if (!rc && (meta->step < 0 || meta->step > t->cfg.steps))
        rc = trainer_fail(t, "%s: step %lld; expected 0 to steps (%d)", plait_ckpt_reader_path(r),
                          (long long)meta->step, t->cfg.steps);
    if (!rc) {
        *step = (int)meta->step;
        if (t->place->rank == 0) {
            const char *restarts = getenv("SLURM_RESTART_COUNT");
            printf("resumed from %s at step %d (saved with dp=%d tp=%d pp=%d; "
                   "SLURM_RESTART_COUNT=%s)\n",
                   plait_ckpt_reader_path(r), *step, meta->dp, meta->tp, meta->pp,
                   restarts ? restarts : "unset");
            fflush(stdout);
        }
    }
    plait_ckpt_reader_close(r);
    return rc;
}

/* The loader lives on the first and last stages; rank 0 is a first stage. */
static int loader_position(struct trainer *t, struct plait_loader_pos *pos)
{
    memset(pos, 0, sizeof *pos);
    if (t->place->rank == 0)
        *pos = plait_loader_position(t->loader);
    if (io_broadcast(t, pos, sizeof *pos, 0))
        return trainer_fail(t, "sharing the loader position: %s", plait_error(t->ctx));
    return 0;
}

/* io's message, and the runtime's when one of the collectives io called
 * through failed. */
static int writer_fail(struct trainer *t, struct train_ckpt *c)
{
    int step = c->step;
    const char *why = plait_error(t->ctx);
    return trainer_fail(t, "checkpoint of step %d: %s%s%s%s", step,
                        plait_ckpt_writer_error(c->writer), *why ? " (" : "", why, *why ? ")" : "");
}

int ckpt_save(struct trainer *t, struct train_ckpt *c, int step, int wait)
{
    if (!c->writer)
        return 0;
    struct plait_ckpt_meta meta = {
        .step = step, .dp = t->place->dp_size, .tp = t->place->tp_size, .pp = t->place->pp_size};
    if (loader_position(t, &meta.loader))
        return -1;
    c->step = step;
    int rc = wait ? plait_ckpt_save(c->writer, &meta) : plait_ckpt_save_async(c->writer, &meta);
    return rc ? writer_fail(t, c) : 0;
}

int ckpt_commit(struct trainer *t, struct train_ckpt *c, int wait)
{
    if (c->writer && plait_ckpt_commit(c->writer, wait) < 0)
        return writer_fail(t, c);
    return 0;
}

void ckpt_close(struct train_ckpt *c)
{
    if (!c)
        return;
    if (c->writer)
        plait_ckpt_writer_close(c->writer);
    free(c->slices);
    free(c->saved);
    free(c->names);
    free(c);
}
