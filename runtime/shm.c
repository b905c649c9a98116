/* Shared memory between the ranks of one node: each rank's segment (control
 * words and staging slots for the node-local allreduce, shm_allreduce.c), and
 * memory from plait_mem_alloc that peers on the node map to reduce straight
 * out of it.
 *
 * Every mapping is a memfd: a peer opens it through /proc/<pid>/fd/<fd> (the
 * same-user access CMA already needs), so nothing is ever named in /dev/shm
 * and a crash leaves nothing behind. A rank closes its segment's descriptor
 * once every peer has said it mapped it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/shm.h"

/* A region from plait_mem_alloc, or a peer's region mapped here. */
typedef struct plait_shm_region {
    int rank; /* owner's world rank */
    uint64_t id;
    int fd; /* the descriptor in the owner's process */
    char *base;
    size_t bytes;
    struct plait_shm_region *next;
} plait_shm_region_t;

struct plait_shm {
    int fd;
    plait_shm_head_t *mine;
    plait_shm_head_t **peers;    /* per world rank: its segment, NULL off this node */
    plait_shm_region_t *regions; /* this rank's, from plait_mem_alloc */
    plait_shm_region_t *mapped;  /* peers' regions mapped here */
    uint64_t next_id;
};

static void *map_fd(int fd, size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Map rank's memfd `fd` from process pid; *bytes gets its size. */
static void *map_peer(pid_t pid, int fd, size_t *bytes)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
    int f = open(path, O_RDWR | O_CLOEXEC);
    if (f < 0)
        return NULL;
    struct stat st;
    void *p = fstat(f, &st) == 0 && st.st_size > 0 ? map_fd(f, (size_t)st.st_size) : NULL;
    if (p)
        *bytes = (size_t)st.st_size;
    close(f);
    return p;
}

static int new_memfd(const char *name, size_t bytes)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)bytes) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the node-local path is switched off ($PLAIT_SHM=0). */
static bool shm_disabled(void)
{
    const char *s = getenv("PLAIT_SHM");
    return s && strcmp(s, "0") == 0;
}

/* ctx->shm, empty, unless it exists already. */
static plait_status_t shm_state(plait_context_t *ctx)
{
    if (ctx->shm)
        return PLAIT_OK;
    struct plait_shm *shm = calloc(1, sizeof *shm);
    if (shm)
        shm->peers = calloc((size_t)ctx->placement.world_size, sizeof *shm->peers);
    if (!shm || !shm->peers) {
        free(shm);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for shared-memory state");
    }
    shm->fd = -1;
    shm->next_id = 1;
    ctx->shm = shm;
    return PLAIT_OK;
}

static bool same_host(const plait_context_t *ctx, int world_a, int world_b)
{
    return strcmp(ctx->peers[world_a].host, ctx->peers[world_b].host) == 0;
}

/* sub: the communicator of group g over list[0..k) (world ranks, this one
 * among them). */
static plait_status_t sub_comm(plait_context_t *ctx, plait_comm_t *sub, plait_group_t g,
                               const int *list, int k)
{
    *sub = (plait_comm_t){.ctx = ctx, .group = g, .size = k};
    if (!(sub->world_ranks = malloc((size_t)k * sizeof *sub->world_ranks)))
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a communicator");
    memcpy(sub->world_ranks, list, (size_t)k * sizeof *list);
    for (int i = 0; i < k; i++)
        if (list[i] == ctx->placement.rank)
            sub->rank = i;
    return PLAIT_OK;
}

/* The hierarchical path for c, whose ranks span nodes, when some node holds
 * several of them and each of those mapped its node's segments (ok: per
 * world rank): an answer every rank reaches alike from the exchange. The
 * node's leader is its first rank in c's order, and the leaders keep that
 * order. */
static plait_status_t hier_open(plait_context_t *ctx, plait_comm_t *c, const int32_t *ok)
{
    int n = c->size, me = ctx->placement.rank, nnode = 0, nlead = 0;
    int *node = malloc((size_t)n * sizeof *node), *leaders = malloc((size_t)n * sizeof *leaders);
    if (!node || !leaders) {
        free(node);
        free(leaders);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a communicator");
    }
    bool shared = false, mapped = true;
    for (int i = 0; i < n; i++) {
        int r = c->world_ranks[i], twins = 0;
        bool first = true;
        for (int j = 0; j < n; j++)
            if (j != i && same_host(ctx, r, c->world_ranks[j])) {
                twins++;
                first &= j > i;
            }
        shared |= twins > 0;
        mapped &= !twins || ok[r];
        if (first)
            leaders[nlead++] = r;
        if (same_host(ctx, r, me))
            node[nnode++] = r;
    }
    plait_status_t st = PLAIT_OK;
    if (shared && mapped) {
        if (!(c->hier = calloc(1, sizeof *c->hier)))
            st = plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for a communicator");
        if (st == PLAIT_OK)
            st = sub_comm(ctx, &c->hier->node, c->group, node, nnode);
        if (st == PLAIT_OK && node[0] == me)
            st = sub_comm(ctx, &c->hier->leaders, PLAIT_GROUP_LEADERS(c->group), leaders, nlead);
        if (st == PLAIT_OK && nnode > 1)
            st = plait_shm_comm_open(&c->hier->node, ctx->shm->peers, &c->hier->leaders);
    }
    free(node);
    free(leaders);
    return st;
}

static void hier_close(plait_comm_t *c)
{
    if (!c->hier)
        return;
    plait_shm_comm_close(&c->hier->node);
    free(c->hier->node.world_ranks);
    free(c->hier->leaders.world_ranks);
    free(c->hier);
    c->hier = NULL;
}

/* Sets up this rank's segment and maps its node's peers' ones, then gives
 * each communicator whose ranks all sit on this node and all succeeded its
 * node-local state, and each that spans nodes its hierarchical one. Failures
 * here only turn the paths off: every rank learns every other's outcome from
 * the second exchange, so they agree. */
plait_status_t plait_shm_open(plait_context_t *ctx)
{
    int world = ctx->placement.world_size, me = ctx->placement.rank;
    if (world == 1)
        return PLAIT_OK;
    int32_t *info = calloc((size_t)world * 2, sizeof *info);
    int32_t *ok = calloc((size_t)world, sizeof *ok);
    plait_status_t st = info && ok ? shm_state(ctx) : PLAIT_ERR_NO_MEMORY;
    if (st != PLAIT_OK) {
        free(info);
        free(ok);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "out of memory for shared-memory state");
    }
    struct plait_shm *shm = ctx->shm;
    int local = 0;
    for (int r = 0; r < world; r++)
        local += same_host(ctx, r, me);
    if (local > 1 && !shm_disabled()) {
        shm->fd = new_memfd("plait-shm", PLAIT_SHM_BYTES);
        shm->mine = shm->fd >= 0 ? map_fd(shm->fd, PLAIT_SHM_BYTES) : NULL;
        if (shm->mine)
            shm->mine->pid = getpid();
    }
    int32_t mine[2] = {shm->mine ? getpid() : 0, shm->fd};
    plait_comm_t *w = &ctx->comms[PLAIT_GROUP_WORLD];
    /* Four bytes per element: the allgather only copies them. */
    st = plait_allgather(w, mine, info, 2, PLAIT_FLOAT32);
    int32_t mapped = shm->mine != NULL;
    for (int r = 0; st == PLAIT_OK && mapped && r < world; r++) {
        if (r == me || !same_host(ctx, r, me))
            continue;
        size_t bytes = 0;
        shm->peers[r] = info[2 * r] ? map_peer(info[2 * r], info[2 * r + 1], &bytes) : NULL;
        if (shm->peers[r] && (bytes != PLAIT_SHM_BYTES || shm->peers[r]->pid != info[2 * r])) {
            munmap(shm->peers[r], bytes);
            shm->peers[r] = NULL;
        }
        mapped = shm->peers[r] != NULL;
    }
    shm->peers[me] = shm->mine;
    if (st == PLAIT_OK)
        st = plait_allgather(w, &mapped, ok, 1, PLAIT_FLOAT32);
    if (shm->fd >= 0)
        close(shm->fd);
    shm->fd = -1;
    for (int g = 0; st == PLAIT_OK && g < 4; g++) {
        plait_comm_t *c = &ctx->comms[g];
        bool on_node = true, all = c->size > 1;
        for (int i = 0; i < c->size; i++) {
            on_node &= same_host(ctx, c->world_ranks[i], me);
            all &= ok[c->world_ranks[i]] && shm->peers[c->world_ranks[i]];
        }
        if (on_node && all)
            st = plait_shm_comm_open(c, shm->peers, NULL);
        else if (!on_node)
            st = hier_open(ctx, c, ok);
    }
    free(info);
    free(ok);
    return st;
}

void plait_shm_close(plait_context_t *ctx)
{
    struct plait_shm *shm = ctx->shm;
    if (!shm)
        return;
    for (int g = 0; g < 4; g++) {
        plait_shm_comm_close(&ctx->comms[g]);
        hier_close(&ctx->comms[g]);
    }
    for (int r = 0; r < ctx->placement.world_size; r++)
        if (shm->peers[r] && shm->peers[r] != shm->mine)
            munmap(shm->peers[r], PLAIT_SHM_BYTES);
    if (shm->mine)
        munmap(shm->mine, PLAIT_SHM_BYTES);
    for (plait_shm_region_t *r = shm->mapped, *next; r; r = next) {
        next = r->next;
        munmap(r->base, r->bytes);
        free(r);
    }
    for (plait_shm_region_t *r = shm->regions, *next; r; r = next) {
        next = r->next;
        munmap(r->base, r->bytes);
        close(r->fd);
        free(r);
    }
    free(shm->peers);
    free(shm);
    ctx->shm = NULL;
}

void plait_shm_publish_failure(plait_context_t *ctx)
{
    plait_shm_head_t *mine = ctx->shm ? ctx->shm->mine : NULL;
    if (!mine || __atomic_load_n(&mine->failed, __ATOMIC_RELAXED))
        return;
    snprintf(mine->error, sizeof mine->error, "%s", ctx->error);
    __atomic_store_n(&mine->failed, 1, __ATOMIC_RELEASE);
}

plait_status_t plait_mem_alloc(plait_context_t *ctx, size_t bytes, void **ptr)
{
    if (!ptr || !bytes)
        return plait_fail(ctx, PLAIT_ERR_INVALID,
                          "plait_mem_alloc of %zu bytes: expected a size above 0 and a pointer",
                          bytes);
    *ptr = NULL;
    plait_status_t st = shm_state(ctx);
    if (st != PLAIT_OK)
        return st;
    plait_shm_region_t *r = calloc(1, sizeof *r);
    int fd = r ? new_memfd("plait-mem", bytes) : -1;
    char *base = fd >= 0 ? map_fd(fd, bytes) : NULL;
    if (!base) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(r);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "plait_mem_alloc of %zu bytes: %s", bytes,
                          strerror(e));
    }
    *r = (plait_shm_region_t){.rank = ctx->placement.rank,
                              .id = ctx->shm->next_id++,
                              .fd = fd,
                              .base = base,
                              .bytes = bytes,
                              .next = ctx->shm->regions};
    ctx->shm->regions = r;
    *ptr = base;
    return PLAIT_OK;
}

plait_status_t plait_mem_free(plait_context_t *ctx, void *ptr)
{
    if (!ptr)
        return PLAIT_OK;
    for (plait_shm_region_t **p = ctx->shm ? &ctx->shm->regions : NULL; p && *p; p = &(*p)->next)
        if ((*p)->base == ptr) {
            plait_shm_region_t *r = *p;
            *p = r->next;
            munmap(r->base, r->bytes);
            close(r->fd);
            free(r);
            return PLAIT_OK;
        }
    return plait_fail(ctx, PLAIT_ERR_INVALID,
                      "plait_mem_free(%p): expected a pointer from plait_mem_alloc", ptr);
}

static plait_shm_region_t *map_region(struct plait_shm *shm, int world_rank,
                                      const plait_shm_ref_t *ref)
{
    plait_shm_region_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base = map_peer(shm->peers[world_rank]->pid, (int)ref->fd, &r->bytes);
    if (!r->base) {
        free(r);
        return NULL;
    }
    r->rank = world_rank;
    r->id = ref->id;
    r->fd = (int)ref->fd;
    r->next = shm->mapped;
    shm->mapped = r;
    return r;
}

bool plait_shm_find(const plait_context_t *ctx, const void *ptr, size_t bytes, plait_shm_ref_t *ref)
{
    const char *p = ptr;
    for (const plait_shm_region_t *r = ctx->shm ? ctx->shm->regions : NULL; r; r = r->next)
        if (p >= r->base && bytes <= r->bytes && (size_t)(p - r->base) <= r->bytes - bytes) {
            *ref = (plait_shm_ref_t){.id = r->id, .fd = r->fd, .offset = (uint64_t)(p - r->base)};
            return true;
        }
    return false;
}

/* A peer's region stays mapped here until the peer's descriptor number turns
 * up for another region (the old one must have been closed, that is freed)
 * or until plait_finalize. Ids are never reused, so a stale mapping is never
 * read. */
char *plait_shm_peer_region(plait_context_t *ctx, int world_rank, const plait_shm_ref_t *ref,
                            size_t bytes)
{
    struct plait_shm *shm = ctx->shm;
    plait_shm_region_t *r = NULL;
    for (plait_shm_region_t **p = &shm->mapped; *p && !r;) {
        plait_shm_region_t *m = *p;
        if (m->rank == world_rank && m->id == ref->id) {
            r = m;
        } else if (m->rank == world_rank && m->fd == ref->fd) {
            *p = m->next;
            munmap(m->base, m->bytes);
            free(m);
        } else {
            p = &m->next;
        }
    }
    if (!r && (r = map_region(shm, world_rank, ref)) == NULL)
        return NULL;
    if (ref->offset > r->bytes || bytes > r->bytes - ref->offset) {
        errno = ERANGE;
        return NULL;
    }
    return r->base + ref->offset;
}
