/* The loader: determinism, disjoint data-parallel shares, per-epoch
 * permutations, exact save/restore of the position, bad input, no thread
 * to be had. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/check.h"
#include "io/plait_io.h"

#define T     16
#define B     4
#define NTOK  (T * 150 + 1) /* 150 samples */
#define STEPS 40

static char root[256], data[300];

/* Token i is i % 60000, so a row's first token names the sample. */
static void make_dataset(void)
{
    char raw[300], err[PLAIT_IO_ERRLEN];
    snprintf(raw, sizeof raw, "%s/tokens.u16", root);
    FILE *f = fopen(raw, "wb");
    for (uint32_t i = 0; i < NTOK; i++) {
        uint16_t t = (uint16_t)(i % 60000);
        fwrite(&t, 2, 1, f);
    }
    fclose(f);
    snprintf(data, sizeof data, "%s/d.h5", root);
    const char *inputs[] = {raw};
    struct plait_data_build_config cfg = {.out_path = data,
                                          .inputs = inputs,
                                          .n_inputs = 1,
                                          .format = PLAIT_TOKENS_U16,
                                          .chunk_tokens = 256};
    CHECK_INT_EQ(plait_data_build(&cfg, err), 0);
}

static plait_loader *open_loader(int rank, int dp, int batch, uint64_t seed,
                                 struct plait_loader_pos start)
{
    char err[PLAIT_IO_ERRLEN];
    struct plait_loader_config cfg = {.path = data,
                                      .seq_len = T,
                                      .batch = batch,
                                      .dp_rank = rank,
                                      .dp_size = dp,
                                      .seed = seed,
                                      .start = start};
    plait_loader *l = plait_loader_open(&cfg, err);
    if (!l)
        fprintf(stderr, "loader: %s\n", err);
    return l;
}

/* Sample index of each row of the next `steps` batches, checking that
 * every row is T+1 consecutive tokens and targets are inputs shifted. */
static void take(plait_loader *l, int batch, int steps, int64_t *samples)
{
    int32_t in[B * 2 * T], tg[B * 2 * T];
    for (int s = 0; s < steps; s++) {
        CHECK_INT_EQ(plait_loader_next(l, in, tg), 0);
        for (int b = 0; b < batch; b++) {
            const int32_t *x = in + b * T, *y = tg + b * T;
            int ok = x[0] % T == 0;
            for (int k = 0; k < T; k++)
                ok = ok && y[k] == (x[k] + 1) % 60000 && (k == 0 || x[k] == (x[k - 1] + 1) % 60000);
            CHECK_MSG(ok, "step %d row %d is not a contiguous sample", s, b);
            samples[s * batch + b] = x[0] / T;
        }
    }
}

static void test_determinism_and_shares(void)
{
    enum { DP = 3 };
    struct plait_loader_pos zero = {0, 0};
    plait_loader *l[DP];
    for (int r = 0; r < DP; r++)
        l[r] = open_loader(r, DP, B, 42, zero);
    CHECK_INT_EQ(plait_loader_samples(l[0]), 150);
    CHECK_INT_EQ(plait_loader_steps_per_epoch(l[0]), 12); /* 150 / 12 */
    CHECK_INT_EQ(plait_loader_vocab_size(l[0]), NTOK);    /* largest token + 1 */
    static int64_t got[DP][STEPS * B];
    for (int r = 0; r < DP; r++)
        take(l[r], B, STEPS, got[r]);

    /* Within an epoch the ranks' samples are disjoint. */
    for (int e = 0; e < 3; e++) {
        int seen[150] = {0}, dup = 0;
        for (int r = 0; r < DP; r++)
            for (int i = e * 12 * B; i < (e + 1) * 12 * B; i++)
                dup += seen[got[r][i]]++ > 0;
        CHECK_INT_EQ(dup, 0);
    }
    /* Consecutive epochs use different permutations. */
    CHECK(memcmp(got[0], got[0] + 12 * B, 12 * B * sizeof(int64_t)) != 0);
    struct plait_loader_pos p = plait_loader_position(l[0]);
    CHECK_INT_EQ(p.epoch, 3);
    CHECK_INT_EQ(p.index, (STEPS - 36) * DP * B);

    /* The same configuration gives the same batches; another seed not. */
    plait_loader *again = open_loader(1, DP, B, 42, zero), *other = open_loader(1, DP, B, 7, zero);
    static int64_t a[STEPS * B], o[STEPS * B];
    take(again, B, STEPS, a);
    take(other, B, STEPS, o);
    CHECK(memcmp(a, got[1], sizeof a) == 0);
    CHECK(memcmp(o, got[1], sizeof o) != 0);
    plait_loader_close(again);
    plait_loader_close(other);
    for (int r = 0; r < DP; r++) {
        struct plait_loader_stats st = plait_loader_stats(l[r]);
        CHECK_INT_EQ(st.batches, STEPS);
        plait_loader_close(l[r]);
    }
}

static void test_save_restore(void)
{
    struct plait_loader_pos zero = {0, 0};
    plait_loader *l = open_loader(0, 2, B, 5, zero);
    int64_t skip[17 * B], rest[20 * B], resumed[20 * B], sought[20 * B];
    take(l, B, 17, skip);
    struct plait_loader_pos saved = plait_loader_position(l);
    CHECK_INT_EQ(saved.epoch, 0); /* 150 / 8 = 18 steps per epoch */
    CHECK_INT_EQ(saved.index, 17 * 2 * B);
    take(l, B, 20, rest);

    plait_loader *r = open_loader(0, 2, B, 5, saved);
    take(r, B, 20, resumed);
    CHECK(memcmp(rest, resumed, sizeof rest) == 0);
    CHECK_INT_EQ(plait_loader_seek(r, saved), 0);
    take(r, B, 20, sought);
    CHECK(memcmp(rest, sought, sizeof rest) == 0);
    plait_loader_close(r);
    plait_loader_close(l);

    /* The position counts global samples: dp 2 x batch 4 resumes as
     * dp 1 x batch 8 on the same samples. */
    plait_loader *a0 = open_loader(0, 2, B, 5, saved), *a1 = open_loader(1, 2, B, 5, saved);
    plait_loader *one = open_loader(0, 1, 2 * B, 5, saved);
    int64_t s0[B], s1[B], s2[2 * B];
    take(a0, B, 1, s0);
    take(a1, B, 1, s1);
    take(one, 2 * B, 1, s2);
    CHECK(memcmp(s0, s2, sizeof s0) == 0 && memcmp(s1, s2 + B, sizeof s1) == 0);
    plait_loader_close(a0);
    plait_loader_close(a1);
    plait_loader_close(one);
}

static void test_bad_input(void)
{
    char err[PLAIT_IO_ERRLEN];
    struct plait_loader_config cfg = {
        .path = data, .seq_len = T, .batch = 100, .dp_rank = 0, .dp_size = 2};
    CHECK(plait_loader_open(&cfg, err) == NULL);
    CHECK_STR_CONTAINS(err, "150 samples");
    cfg.batch = 1;
    cfg.dp_rank = 2;
    CHECK(plait_loader_open(&cfg, err) == NULL);
    CHECK_STR_CONTAINS(err, "dp_rank 2 of dp_size 2");
    cfg.dp_rank = 0;
    cfg.path = "/nonexistent/data.h5";
    CHECK(plait_loader_open(&cfg, err) == NULL);
    CHECK_STR_CONTAINS(err, "/nonexistent/data.h5");
}

/* No thread to be had (RLIMIT_NPROC; root is exempt from it, so the child
 * becomes nobody): the error says why. _exit: LeakSanitizer's exit check
 * needs a thread of its own. */
static void test_no_thread(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct rlimit one = {1, 1};
        struct plait_loader_config cfg = {.path = data, .seq_len = T, .batch = B, .dp_size = 1};
        char err[PLAIT_IO_ERRLEN] = "";
        if (setrlimit(RLIMIT_NPROC, &one) != 0 || (geteuid() == 0 && setuid(65534) != 0))
            snprintf(err, sizeof err, "cannot set up the limit");
        else if (plait_loader_open(&cfg, err))
            snprintf(err, sizeof err, "opened without a thread");
        ssize_t w = write(fds[1], err, strlen(err));
        _exit(w < 0);
    }
    close(fds[1]);
    char got[PLAIT_IO_ERRLEN] = "";
    ssize_t n = read(fds[0], got, sizeof got - 1);
    close(fds[0]);
    got[n > 0 ? n : 0] = '\0';
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CHECK_STR_CONTAINS(got, "cannot start the prefetch thread for '");
    CHECK_STR_CONTAINS(got, "': Resource temporarily unavailable");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/plait-io-loader-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    make_dataset();
    chmod(root, 0755); /* for test_no_thread's nobody */
    test_determinism_and_shares();
    test_save_restore();
    test_bad_input();
    test_no_thread();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_status("test_io_loader");
}
