/* What every libFuzzer target shares: the input as text, as lines or as a
 * file, and the check that a refusal is one line. A target includes this,
 * defines LLVMFuzzerTestOneInput and lets libFuzzer supply main();
 * tests/fuzz/fuzz_test.sh runs them (docs/development.md, "Fuzzing"). */
#ifndef PLAIT_TESTS_FUZZ_H
#define PLAIT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (cut at its first NUL); free() it. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits text in place at '\n' into at most max fields; returns how many.
 * Missing fields are NULL. */
static inline int fuzz_lines(char *text, char **field, int max)
{
    int n = 0;
    for (int i = 0; i < max; i++)
        field[i] = NULL;
    for (char *p = text; p && n < max; n++) {
        field[n] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    return n;
}

static char fuzz_dir_path[64];

static int fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fuzz_dir_remove(void)
{
    nftw(fuzz_dir_path, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private directory for the process's files: made on first use, removed
 * at exit. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "/tmp/plait-fuzz.XXXXXX");
        if (!mkdtemp(fuzz_dir_path))
            abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Writes the input to fuzz_dir()/name and returns that path (static). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return path;
}

/* The rule for bad input: a refusal says why in one non-empty line. */
static inline void fuzz_one_line(const char *what, int rc, const char *err)
{
    if (rc == 0)
        return;
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "%s: refused with %s message: '%s'\n", what,
                err[0] ? "a multi-line" : "an empty", err);
        abort();
    }
}

#endif
