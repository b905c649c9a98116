/* plait-run: start N ranks of a program on this machine, without Slurm.
 *
 *   plait-run -n N [--layout dp=..,tp=..,pp=..] [--] program [args...]
 *
 * Each rank gets the placement contract's PLAIT_* variables and the path of
 * a Unix socket on which plait-run is the bootstrap rendezvous: it collects
 * every rank's address and hands all of them to each. It stays the ranks'
 * parent, so it sees a rank die at once and tells the others, who fail with
 * the dead rank's name instead of waiting for their timeout. Like mpirun, it
 * kills what is left a grace period after the first rank fails, and exits
 * with that rank's status. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/rendezvous.h"

#define GRACE_S   10.0
#define MAX_RANKS 4096

typedef struct {
    pid_t pid;
    int fd; /* its rendezvous connection, -1 before hello and after it exits */
    char *blob;
    uint32_t len;
    bool exited;
} rank_t;

typedef struct {
    int n, dp, tp, pp;
    rank_t *ranks;
    int hellos, running;
    int first_failed; /* rank, -1 while all is well */
    int first_status;
    double kill_at;
    /* A rank that exited, even cleanly, before joining, or an interrupt
     * before all joined: the others can never complete the bootstrap, so
     * they hear of it instead of timing out. */
    plait_notice_t gone;
    char dir[64], path[96];
    int listen_fd;
} launcher_t;

/* The last SIGINT/SIGTERM and how many came. */
static volatile sig_atomic_t interrupted, interrupts;

static void on_signal(int sig)
{
    interrupted = sig;
    interrupts++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: plait-run -n N [--layout dp=N,tp=N,pp=N] [--] program [args...]\n");
}

static int open_socket(launcher_t *l)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(l->dir, sizeof l->dir, "%s/plait-run.XXXXXX",
             tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(l->dir)) {
        fprintf(stderr, "plait-run: cannot create a directory in %s: %s\n", l->dir,
                strerror(errno));
        return -1;
    }
    snprintf(l->path, sizeof l->path, "%s/rendezvous", l->dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", l->path);
    l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->listen_fd < 0 || bind(l->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(l->listen_fd, l->n < 128 ? l->n : 128) != 0) {
        fprintf(stderr, "plait-run: cannot listen on %s: %s\n", l->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void set_int(const char *name, int v)
{
    char s[16];
    snprintf(s, sizeof s, "%d", v);
    setenv(name, s, 1);
}

static pid_t start_rank(const launcher_t *l, int r, char **argv)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int tp = r % l->tp, pp = r / l->tp % l->pp, dp = r / (l->tp * l->pp);
    set_int("PLAIT_RANK", r);
    set_int("PLAIT_WORLD_SIZE", l->n);
    set_int("PLAIT_LOCAL_RANK", r);
    set_int("PLAIT_LOCAL_SIZE", l->n);
    set_int("PLAIT_DP_RANK", dp);
    set_int("PLAIT_DP_SIZE", l->dp);
    set_int("PLAIT_TP_RANK", tp);
    set_int("PLAIT_TP_SIZE", l->tp);
    set_int("PLAIT_PP_RANK", pp);
    set_int("PLAIT_PP_SIZE", l->pp);
    setenv(PLAIT_RUN_SOCKET_ENV, l->path, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "plait-run: cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void notify(rank_t *rk, plait_notice_t n)
{
    if (rk->fd >= 0 && plait_write_all(rk->fd, &n, sizeof n) != 0) {
        close(rk->fd);
        rk->fd = -1;
    }
}

static void send_all(launcher_t *l)
{
    for (int r = 0; r < l->n; r++) {
        rank_t *rk = &l->ranks[r];
        notify(rk, (plait_notice_t){.type = PLAIT_MSG_ALL, .a = (uint32_t)l->n});
        for (int p = 0; p < l->n && rk->fd >= 0; p++)
            if (plait_write_all(rk->fd, &l->ranks[p].len, sizeof l->ranks[p].len) ||
                plait_write_all(rk->fd, l->ranks[p].blob, l->ranks[p].len)) {
                close(rk->fd);
                rk->fd = -1;
            }
    }
}

static plait_notice_t death_notice(const launcher_t *l)
{
    return (plait_notice_t){
        .type = PLAIT_MSG_DEATH, .a = (uint32_t)l->first_failed, .b = (uint32_t)l->first_status};
}

static void accept_rank(launcher_t *l)
{
    int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    plait_hello_t h;
    char *blob = NULL;
    if (plait_read_all(fd, &h, sizeof h, 5.0) || h.rank >= (uint32_t)l->n ||
        l->ranks[h.rank].blob || h.len > PLAIT_RUN_BLOB_MAX || !(blob = malloc(h.len + 1)) ||
        plait_read_all(fd, blob, h.len, 5.0)) {
        fprintf(stderr, "plait-run: ignoring a bad hello on %s\n", l->path);
        free(blob);
        close(fd);
        return;
    }
    rank_t *rk = &l->ranks[h.rank];
    rk->fd = fd;
    rk->blob = blob;
    rk->len = h.len;
    if (l->first_failed >= 0 && l->gone.type != PLAIT_MSG_STOP)
        notify(rk, death_notice(l));
    else if (l->gone.type)
        notify(rk, l->gone);
    else if (++l->hellos == l->n)
        send_all(l);
}

/* Among the ranks that ended since the last look, the cause of a failure is
 * more likely one killed by a signal than one that exited with an error
 * after noticing it: blame that one first. */
static void reap(launcher_t *l)
{
    int status, first = -1, first_status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int r = 0;
        while (r < l->n && l->ranks[r].pid != pid)
            r++;
        if (r == l->n)
            continue;
        rank_t *rk = &l->ranks[r];
        rk->exited = true;
        l->running--;
        if (rk->fd >= 0)
            close(rk->fd);
        rk->fd = -1;
        if (!rk->blob && l->hellos < l->n && !l->gone.type) {
            l->gone =
                (plait_notice_t){.type = PLAIT_MSG_DEATH, .a = (uint32_t)r, .b = (uint32_t)status};
            for (int p = 0; p < l->n; p++)
                notify(&l->ranks[p], l->gone);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        char how[96];
        plait_describe_wait_status(status, how, sizeof how);
        fprintf(stderr, "plait-run: rank %d (pid %d) %s\n", r, (int)pid, how);
        if (first < 0 || (WIFSIGNALED(status) && !WIFSIGNALED(first_status))) {
            first = r;
            first_status = status;
        }
    }
    if (first < 0 || l->first_failed >= 0)
        return;
    l->first_failed = first;
    l->first_status = first_status;
    l->kill_at = now_s() + GRACE_S;
    for (int p = 0; p < l->n; p++)
        notify(&l->ranks[p], death_notice(l));
}

static void kill_all(launcher_t *l, int sig)
{
    for (int r = 0; r < l->n; r++)
        if (!l->ranks[r].exited && l->ranks[r].pid > 0)
            kill(l->ranks[r].pid, sig);
}

static int run(launcher_t *l, char **argv)
{
    if (open_socket(l) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int r = 0; r < l->n; r++) {
        l->ranks[r].fd = -1;
        l->ranks[r].pid = start_rank(l, r, argv);
        if (l->ranks[r].pid < 0) {
            fprintf(stderr, "plait-run: fork for rank %d failed: %s\n", r, strerror(errno));
            l->ranks[r].exited = true;
            l->first_failed = r;
            l->first_status = 1 << 8;
            l->kill_at = now_s();
            continue;
        }
        l->running++;
    }
    int forwarded = 0;
    while (l->running > 0) {
        struct pollfd pfd = {.fd = l->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) > 0)
            accept_rank(l);
        reap(l);
        /* The first interrupt asks the ranks to stop and waits for them as
         * long as they take (plait-train writes its checkpoint then); the
         * second kills them. */
        if (interrupts > forwarded && forwarded < 2) {
            forwarded = interrupts > 1 ? 2 : 1;
            if (forwarded == 1)
                fprintf(stderr,
                        "plait-run: %s: stopping the ranks (SIGTERM); interrupt again to kill "
                        "them\n",
                        strsignal(interrupted));
            else
                fprintf(stderr, "plait-run: %s again: killing the ranks\n", strsignal(interrupted));
            kill_all(l, forwarded == 1 ? SIGTERM : SIGKILL);
            if (l->hellos < l->n && !l->gone.type) {
                l->gone = (plait_notice_t){.type = PLAIT_MSG_STOP, .b = (uint32_t)interrupted};
                for (int p = 0; p < l->n; p++)
                    notify(&l->ranks[p], l->gone);
            }
            if (l->first_failed < 0) {
                l->first_failed = 0;
                l->first_status = interrupted; /* as if killed by that signal */
            }
        }
        if (l->kill_at > 0 && now_s() > l->kill_at && l->running > 0) {
            kill_all(l, SIGKILL);
            l->kill_at = 0;
        }
    }
    if (l->first_failed < 0)
        return 0;
    int s = l->first_status;
    return WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"layout", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    launcher_t l = {.n = 0, .first_failed = -1, .listen_fd = -1};
    const char *layout = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+n:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 1 || n > MAX_RANKS) {
                fprintf(stderr, "plait-run: -n '%s': expected a number of ranks from 1 to %d\n",
                        optarg, MAX_RANKS);
                return 2;
            }
            l.n = (int)n;
            break;
        }
        case 'l':
            layout = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (l.n == 0 || optind >= argc) {
        fprintf(stderr, "plait-run: %s\n", l.n ? "no program given" : "-n N is required");
        usage(stderr);
        return 2;
    }
    char err[256];
    if (plait_layout_for_world(layout, l.n, &l.dp, &l.tp, &l.pp, err, sizeof err) != PLAIT_OK) {
        fprintf(stderr, "plait-run: --layout: %s\n", err);
        return 2;
    }
    l.ranks = calloc((size_t)l.n, sizeof *l.ranks);
    if (!l.ranks) {
        fprintf(stderr, "plait-run: out of memory for %d ranks\n", l.n);
        return 1;
    }
    int rc = run(&l, argv + optind);
    for (int r = 0; r < l.n; r++) {
        if (l.ranks[r].fd >= 0)
            close(l.ranks[r].fd);
        free(l.ranks[r].blob);
    }
    free(l.ranks);
    if (l.listen_fd >= 0)
        close(l.listen_fd);
    if (l.path[0])
        unlink(l.path);
    if (l.dir[0])
        rmdir(l.dir);
    return rc;
}
