/* The one all-to-all exchange a job needs before UCX can connect: every
 * rank's host name and worker address. Under plait-run the launcher is the
 * rendezvous (it already knows every rank and outlives them, so it can also
 * report deaths); under srun it is Slurm's PMI2 key-value space (the only
 * store every node of the step shares without extra daemons); a job of one
 * exchanges nothing. Everything after this travels over UCX. */
#include <errno.h>
#include <poll.h>
#include <slurm/pmi2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/rendezvous.h"

/* A peer's blob: its host name (PLAIT_HOST_MAX bytes), its CPU mask, then its
 * address. */
#define BLOB_HEAD (PLAIT_HOST_MAX + sizeof(cpu_set_t))

static plait_status_t store_peer(plait_context_t *ctx, int rank, const char *blob, size_t len)
{
    if (len < BLOB_HEAD)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                          "bootstrap: rank %d sent %zu bytes, expected at least %zu", rank, len,
                          BLOB_HEAD);
    plait_peer_t *p = &ctx->peers[rank];
    memcpy(p->host, blob, PLAIT_HOST_MAX);
    p->host[PLAIT_HOST_MAX - 1] = '\0';
    memcpy(&p->cpus, blob + PLAIT_HOST_MAX, sizeof p->cpus);
    p->address_len = len - BLOB_HEAD;
    p->address = malloc(p->address_len ? p->address_len : 1);
    if (!p->address)
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "bootstrap: out of memory");
    memcpy(p->address, blob + BLOB_HEAD, p->address_len);
    return PLAIT_OK;
}

static plait_status_t death_error(plait_context_t *ctx, const plait_notice_t *n)
{
    char how[96];
    plait_describe_wait_status((int)n->b, how, sizeof how);
    int r = (int)n->a;
    const char *host = r < ctx->placement.world_size && ctx->peers[r].host[0] ? ctx->peers[r].host
                                                                              : ctx->placement.host;
    if (WIFEXITED((int)n->b) && WEXITSTATUS((int)n->b) == 0)
        return plait_fail(ctx, PLAIT_ERR_PEER,
                          "peer rank %d (host %s) exited with status 0 before joining the job", r,
                          host);
    return plait_fail(ctx, PLAIT_ERR_PEER, "peer rank %d (host %s) died: %s", r, host, how);
}

static plait_status_t exchange_launcher(plait_context_t *ctx, const char *path, const char *blob,
                                        size_t len)
{
    int world = ctx->placement.world_size;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "%s='%s': path too long for a socket",
                          PLAIT_RUN_SOCKET_ENV, path);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "%s='%s': cannot connect to plait-run: %s",
                          PLAIT_RUN_SOCKET_ENV, path, strerror(e));
    }
    ctx->launcher_fd = fd;
    plait_hello_t hello = {.rank = (uint32_t)ctx->placement.rank, .len = (uint32_t)len};
    if (plait_write_all(fd, &hello, sizeof hello) || plait_write_all(fd, blob, len))
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "bootstrap: cannot write to plait-run: %s",
                          strerror(errno));
    plait_notice_t n;
    if (plait_read_all(fd, &n, sizeof n, ctx->timeout_s))
        return plait_fail(ctx, errno == ETIMEDOUT ? PLAIT_ERR_TIMEOUT : PLAIT_ERR_BOOTSTRAP,
                          "bootstrap: no answer from plait-run within %.0f s: %s", ctx->timeout_s,
                          strerror(errno));
    if (n.type == PLAIT_MSG_DEATH)
        return death_error(ctx, &n);
    if (n.type == PLAIT_MSG_STOP)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                          "bootstrap: plait-run was interrupted (%s) before every rank had joined",
                          strsignal((int)n.b));
    if (n.type != PLAIT_MSG_ALL || (int)n.a != world)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                          "bootstrap: plait-run sent message %u for %u ranks, expected %d ranks",
                          n.type, n.a, world);
    plait_status_t st = PLAIT_OK;
    char *buf = NULL;
    for (int r = 0; r < world && st == PLAIT_OK; r++) {
        uint32_t l;
        if (plait_read_all(fd, &l, sizeof l, ctx->timeout_s) || l > PLAIT_RUN_BLOB_MAX ||
            !(buf = malloc(l ? l : 1)) || plait_read_all(fd, buf, l, ctx->timeout_s))
            st = plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                            "bootstrap: bad entry for rank %d from "
                            "plait-run",
                            r);
        else
            st = store_peer(ctx, r, buf, l);
        free(buf);
        buf = NULL;
    }
    return st;
}

/* PMI2 values are strings of at most PMI2_MAX_VALLEN bytes: hex-encode the
 * blob and spread it over numbered keys. */
#define PMI_CHUNK 1000

static unsigned hex_value(char c)
{
    return c >= 'a' ? (unsigned)(c - 'a' + 10) : (unsigned)(c - '0');
}

static plait_status_t exchange_pmi2(plait_context_t *ctx, const char *blob, size_t len)
{
    const plait_placement_t *pl = &ctx->placement;
    if (!getenv("PMI_FD"))
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                          "Slurm started %d tasks but PMI_FD is not set: expected "
                          "'srun --mpi=pmi2' (or plait-run outside Slurm)",
                          pl->world_size);
    int spawned, size, rank, appnum;
    if (PMI2_Init(&spawned, &size, &rank, &appnum) != PMI2_SUCCESS)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_Init failed: expected srun --mpi=pmi2");
    /* PMI2's rank is Slurm's task id; PLAIT_RANK may be a permutation of it
     * (leaf switches, docs/contract.md), so the KVS is keyed by PLAIT_RANK. */
    if (size != pl->world_size)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                          "PMI2 says %d tasks, the environment says PLAIT_WORLD_SIZE=%d", size,
                          pl->world_size);
    char key[PMI2_MAX_KEYLEN], val[PMI2_MAX_VALLEN + 1];
    size_t chunks = (2 * len + PMI_CHUNK - 1) / PMI_CHUNK;
    snprintf(key, sizeof key, "plait-%d-n", pl->rank);
    snprintf(val, sizeof val, "%zu:%zu", chunks, len);
    if (PMI2_KVS_Put(key, val) != PMI2_SUCCESS)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_KVS_Put(%s) failed", key);
    static const char hex[] = "0123456789abcdef";
    for (size_t c = 0; c < chunks; c++) {
        size_t n = 0;
        for (size_t i = c * PMI_CHUNK / 2; i < len && n < PMI_CHUNK; i++) {
            val[n++] = hex[(unsigned char)blob[i] >> 4];
            val[n++] = hex[(unsigned char)blob[i] & 15];
        }
        val[n] = '\0';
        snprintf(key, sizeof key, "plait-%d-%zu", pl->rank, c);
        if (PMI2_KVS_Put(key, val) != PMI2_SUCCESS)
            return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_KVS_Put(%s) failed", key);
    }
    if (PMI2_KVS_Fence() != PMI2_SUCCESS)
        return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_KVS_Fence failed");
    for (int r = 0; r < size; r++) {
        int got;
        size_t rchunks, rlen;
        snprintf(key, sizeof key, "plait-%d-n", r);
        if (PMI2_KVS_Get(NULL, PMI2_ID_NULL, key, val, sizeof val - 1, &got) != PMI2_SUCCESS ||
            sscanf(val, "%zu:%zu", &rchunks, &rlen) != 2 || rlen > PLAIT_RUN_BLOB_MAX)
            return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_KVS_Get(%s) failed", key);
        char *rblob = malloc(rlen ? rlen : 1);
        if (!rblob)
            return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "bootstrap: out of memory");
        size_t pos = 0;
        for (size_t c = 0; c < rchunks; c++) {
            snprintf(key, sizeof key, "plait-%d-%zu", r, c);
            if (PMI2_KVS_Get(NULL, PMI2_ID_NULL, key, val, sizeof val - 1, &got) != PMI2_SUCCESS) {
                free(rblob);
                return plait_fail(ctx, PLAIT_ERR_BOOTSTRAP, "PMI2_KVS_Get(%s) failed", key);
            }
            for (int i = 0; i + 1 < got && val[i] && pos < rlen; i += 2) {
                rblob[pos++] = (char)(hex_value(val[i]) << 4 | hex_value(val[i + 1]));
            }
        }
        plait_status_t st = pos == rlen ? store_peer(ctx, r, rblob, rlen)
                                        : plait_fail(ctx, PLAIT_ERR_BOOTSTRAP,
                                                     "PMI2: rank %d's address is truncated", r);
        free(rblob);
        if (st != PLAIT_OK)
            return st;
    }
    return PLAIT_OK;
}

plait_status_t plait_bootstrap_exchange(plait_context_t *ctx, const void *address, size_t len)
{
    int world = ctx->placement.world_size;
    ctx->peers = calloc((size_t)world, sizeof *ctx->peers);
    char *blob = malloc(BLOB_HEAD + len);
    if (!ctx->peers || !blob) {
        free(blob);
        return plait_fail(ctx, PLAIT_ERR_NO_MEMORY, "bootstrap: out of memory");
    }
    memset(blob, 0, PLAIT_HOST_MAX);
    snprintf(blob, PLAIT_HOST_MAX, "%s", ctx->placement.host);
    memcpy(blob + PLAIT_HOST_MAX, &ctx->cpus, sizeof ctx->cpus);
    memcpy(blob + BLOB_HEAD, address, len);
    plait_status_t st;
    const char *path = getenv(PLAIT_RUN_SOCKET_ENV);
    if (path && *path) {
        ctx->bootstrap = "plait-run";
        st = exchange_launcher(ctx, path, blob, BLOB_HEAD + len);
    } else if (world > 1) {
        ctx->bootstrap = "pmi2";
        st = exchange_pmi2(ctx, blob, BLOB_HEAD + len);
    } else {
        ctx->bootstrap = "single";
        st = store_peer(ctx, 0, blob, BLOB_HEAD + len);
    }
    free(blob);
    return st;
}

void plait_bootstrap_close(plait_context_t *ctx)
{
    if (ctx->launcher_fd >= 0)
        close(ctx->launcher_fd);
    ctx->launcher_fd = -1;
    if (ctx->bootstrap && strcmp(ctx->bootstrap, "pmi2") == 0 && PMI2_Initialized())
        PMI2_Finalize();
    if (ctx->peers)
        for (int r = 0; r < ctx->placement.world_size; r++)
            free(ctx->peers[r].address);
    free(ctx->peers);
    ctx->peers = NULL;
}

plait_status_t plait_launcher_check(plait_context_t *ctx)
{
    if (ctx->launcher_fd < 0)
        return PLAIT_OK;
    plait_notice_t n;
    ssize_t got = recv(ctx->launcher_fd, &n, sizeof n, MSG_DONTWAIT | MSG_PEEK);
    if (got < 0)
        return PLAIT_OK; /* EAGAIN: nothing to report */
    if (got == 0)
        return plait_fail(ctx, PLAIT_ERR_PEER, "plait-run (the launcher) went away");
    if (got < (ssize_t)sizeof n)
        return PLAIT_OK;
    if (plait_read_all(ctx->launcher_fd, &n, sizeof n, 1.0) || n.type != PLAIT_MSG_DEATH)
        return plait_fail(ctx, PLAIT_ERR_PEER, "plait-run sent an unexpected message");
    return death_error(ctx, &n);
}

plait_status_t plait_launcher_await(plait_context_t *ctx, double timeout_s)
{
    if (ctx->launcher_fd < 0 || ctx->failed)
        return PLAIT_OK;
    struct pollfd pfd = {.fd = ctx->launcher_fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(timeout_s * 1000)) <= 0)
        return PLAIT_OK;
    return plait_launcher_check(ctx);
}
