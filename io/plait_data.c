/* plait-data: builds, describes and verifies HDF5 token datasets. */
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "plait_io.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: plait-data build [--format text|u16|u32] [--vocab N] [--chunk TOKENS] "
               "-o OUT.h5 INPUT...\n"
               "       plait-data info FILE.h5\n"
               "       plait-data verify FILE.h5\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *v)
{
    char *end;
    unsigned long long x = strtoull(s ? s : "", &end, 10);
    if (!s || !*s || *end || x == 0 || x > max || s[0] == '-') {
        fprintf(stderr, "plait-data: %s '%s': expected an integer in 1..%llu\n", opt, s ? s : "",
                (unsigned long long)max);
        return -1;
    }
    *v = x;
    return 0;
}

static int build(int argc, char **argv)
{
    struct plait_data_build_config cfg = {.format = PLAIT_TOKENS_TEXT};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!strcmp(a, "--format")) {
            if (v && !strcmp(v, "text"))
                cfg.format = PLAIT_TOKENS_TEXT;
            else if (v && !strcmp(v, "u16"))
                cfg.format = PLAIT_TOKENS_U16;
            else if (v && !strcmp(v, "u32"))
                cfg.format = PLAIT_TOKENS_U32;
            else {
                fprintf(stderr, "plait-data: --format '%s': expected text, u16 or u32\n",
                        v ? v : "");
                goto fail;
            }
            i++;
        } else if (!strcmp(a, "--vocab")) {
            if (parse_u64(a, v, UINT32_MAX, &x))
                goto fail;
            cfg.vocab_size = (uint32_t)x;
            i++;
        } else if (!strcmp(a, "--chunk")) {
            if (parse_u64(a, v, (uint64_t)1 << 30, &x))
                goto fail;
            cfg.chunk_tokens = x;
            i++;
        } else if (!strcmp(a, "-o")) {
            if (!v) {
                fprintf(stderr, "plait-data: -o needs an output file\n");
                goto fail;
            }
            cfg.out_path = v;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "plait-data: unknown option '%s' (see plait-data --help)\n", a);
            goto fail;
        } else {
            inputs[cfg.n_inputs++] = a;
        }
    }
    if (!cfg.out_path || cfg.n_inputs == 0) {
        fprintf(stderr, "plait-data build: expected -o OUT.h5 and at least one input file\n");
        goto fail;
    }
    cfg.inputs = inputs;
    char err[PLAIT_IO_ERRLEN];
    if (plait_data_build(&cfg, err) != 0) {
        fprintf(stderr, "plait-data: %s\n", err);
        goto fail;
    }
    struct plait_data_info info;
    if (plait_data_info(cfg.out_path, &info, err) == 0)
        printf("%s: %llu tokens, vocabulary %u, crc32:%08x\n", cfg.out_path,
               (unsigned long long)info.n_tokens, info.vocab_size, info.checksum);
    free(inputs);
    return 0;
fail:
    free(inputs);
    return 1;
}

int main(int argc, char **argv)
{
    /* Past ulimit -f a write fails and says so, instead of SIGXFSZ killing us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    char err[PLAIT_IO_ERRLEN];
    if (!strcmp(argv[1], "build"))
        return build(argc - 2, argv + 2);
    if ((!strcmp(argv[1], "info") || !strcmp(argv[1], "verify")) && argc == 3) {
        struct plait_data_info info;
        int rc = !strcmp(argv[1], "info") ? plait_data_info(argv[2], &info, err)
                                          : plait_data_verify(argv[2], err);
        if (rc != 0) {
            fprintf(stderr, "plait-data: %s\n", err);
            return 1;
        }
        if (!strcmp(argv[1], "verify")) {
            printf("%s: ok\n", argv[2]);
            return 0;
        }
        printf("file: %s\ntokens: %llu\nvocab_size: %u\ntoken_bits: %d\nformat: %s\n"
               "checksum: crc32:%08x\nsource: %s\n",
               argv[2], (unsigned long long)info.n_tokens, info.vocab_size, info.token_bits,
               info.format, info.checksum, info.source);
        return 0;
    }
    fprintf(stderr, "plait-data: unknown command '%s' (expected build, info or verify)\n", argv[1]);
    usage(stderr);
    return 2;
}
