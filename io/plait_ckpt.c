/* plait-ckpt: lists, verifies, inspects and exports checkpoint directories. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plait_io.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: plait-ckpt list DIR\n"
               "       plait-ckpt verify DIR|DIR/step-N\n"
               "       plait-ckpt inspect DIR|DIR/step-N\n"
               "       plait-ckpt export DIR|DIR/step-N OUT.h5\n"
               "DIR is a checkpoint directory: verify checks each of its checkpoints, inspect "
               "and export take the newest valid one.\n");
}

static int is_step_dir(const char *path)
{
    char m[4096];
    struct stat st;
    snprintf(m, sizeof m, "%s/manifest.h5", path);
    return stat(m, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Step directories of dir in ascending order (names sort by step). */
static char **step_dirs(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "plait-ckpt: cannot open checkpoint directory '%s': %s\n", dir,
                strerror(errno));
        return NULL;
    }
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long s;
        char tail;
        if (sscanf(e->d_name, "step-%lld%c", &s, &tail) != 1)
            continue;
        char **g = realloc(v, (size_t)(*n + 1) * sizeof *v);
        if (!g)
            break;
        v = g;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        v[*n] = malloc(len);
        if (!v[*n])
            break;
        snprintf(v[(*n)++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (v)
        qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_dirs(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void read_latest(const char *dir, char *buf, size_t cap)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/latest", dir);
    buf[0] = 0;
    FILE *f = fopen(p, "r");
    if (f) {
        if (fgets(buf, (int)cap, f))
            buf[strcspn(buf, "\n")] = 0;
        fclose(f);
    }
}

static int list(const char *dir)
{
    int n;
    char **v = step_dirs(dir, &n), latest[256];
    if (!v && n == 0) {
        DIR *d = opendir(dir);
        if (!d)
            return 1;
        closedir(d);
    }
    read_latest(dir, latest, sizeof latest);
    printf("%-16s %12s %6s %7s %6s\n", "checkpoint", "step", "shards", "tensors", "latest");
    for (int i = 0; i < n; i++) {
        char err[PLAIT_IO_ERRLEN];
        const char *base = strrchr(v[i], '/') + 1;
        plait_ckpt_reader *r = plait_ckpt_open(v[i], err);
        if (!r) {
            printf("%-16s %s\n", base, err);
            continue;
        }
        printf("%-16s %12lld %6d %7d %6s\n", base, (long long)plait_ckpt_reader_meta(r)->step,
               plait_ckpt_reader_nshards(r), plait_ckpt_tensor_count(r),
               strcmp(base, latest) ? "" : "*");
        plait_ckpt_reader_close(r);
    }
    free_dirs(v, n);
    return 0;
}

static int verify(const char *dir)
{
    char err[PLAIT_IO_ERRLEN];
    if (is_step_dir(dir)) {
        if (plait_ckpt_verify(dir, err) != 0) {
            fprintf(stderr, "plait-ckpt: verify failed: %s\n", err);
            return 1;
        }
        printf("ok %s\n", dir);
        return 0;
    }
    int n, bad = 0;
    char **v = step_dirs(dir, &n);
    if (!v && n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        if (plait_ckpt_verify(v[i], err) != 0) {
            fprintf(stderr, "plait-ckpt: verify failed: %s\n", err);
            bad++;
        } else {
            printf("ok %s\n", v[i]);
        }
    }
    free_dirs(v, n);
    if (n == 0)
        fprintf(stderr, "plait-ckpt: '%s' holds no checkpoint (expected step-N directories)\n",
                dir);
    return bad || n == 0 ? 1 : 0;
}

static plait_ckpt_reader *open_any(const char *dir)
{
    char err[PLAIT_IO_ERRLEN] = "";
    plait_ckpt_reader *r = NULL;
    if (is_step_dir(dir))
        r = plait_ckpt_open(dir, err);
    else if (plait_ckpt_load(dir, NULL, &r, err) == 0)
        snprintf(err, sizeof err, "'%s' holds no valid checkpoint", dir);
    if (!r)
        fprintf(stderr, "plait-ckpt: %s\n", err);
    return r;
}

static const char *dtype_name(enum plait_dtype t)
{
    static const char *names[] = {"f32", "f64", "i32", "i64", "u16", "u8"};
    return (unsigned)t < 6 ? names[t] : "?";
}

static int inspect(const char *dir)
{
    plait_ckpt_reader *r = open_any(dir);
    if (!r)
        return 1;
    const struct plait_ckpt_meta *m = plait_ckpt_reader_meta(r);
    printf("checkpoint: %s\nstep: %lld\nlayout: dp=%d tp=%d pp=%d\nloader: epoch %llu index "
           "%llu\nshards: %d\ntensors: %d\n",
           plait_ckpt_reader_path(r), (long long)m->step, m->dp, m->tp, m->pp,
           (unsigned long long)m->loader.epoch, (unsigned long long)m->loader.index,
           plait_ckpt_reader_nshards(r), plait_ckpt_tensor_count(r));
    for (int i = 0; i < plait_ckpt_tensor_count(r); i++) {
        const char *name = plait_ckpt_tensor_name(r, i);
        enum plait_dtype t;
        int nd;
        int64_t shape[PLAIT_IO_MAX_DIMS];
        plait_ckpt_tensor_info(r, name, &t, &nd, shape);
        printf("  %-40s %s [", name, dtype_name(t));
        for (int d = 0; d < nd; d++)
            printf(d ? ",%lld" : "%lld", (long long)shape[d]);
        printf("]\n");
    }
    plait_ckpt_reader_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    /* Past ulimit -f a write fails and says so, instead of SIGXFSZ killing us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (argc == 3 && !strcmp(cmd, "list"))
        return list(argv[2]);
    if (argc == 3 && !strcmp(cmd, "verify"))
        return verify(argv[2]);
    if (argc == 3 && !strcmp(cmd, "inspect"))
        return inspect(argv[2]);
    if (argc == 4 && !strcmp(cmd, "export")) {
        plait_ckpt_reader *r = open_any(argv[2]);
        if (!r)
            return 1;
        int rc = plait_ckpt_export(r, argv[3]);
        if (rc != 0)
            fprintf(stderr, "plait-ckpt: export failed: %s\n", plait_ckpt_reader_error(r));
        else
            printf("exported %s to %s\n", plait_ckpt_reader_path(r), argv[3]);
        plait_ckpt_reader_close(r);
        return rc ? 1 : 0;
    }
    fprintf(stderr,
            "plait-ckpt: '%s' with %d argument(s): expected list|verify|inspect DIR or "
            "export DIR OUT.h5\n",
            cmd, argc - 2);
    return 2;
}
