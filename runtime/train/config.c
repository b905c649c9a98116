#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum key_kind {
    KEY_INT,
    KEY_INT64,
    KEY_FLOAT,
    KEY_BOOL,
    KEY_STRING,
    KEY_ENUM, /* one of key_spec.names, stored as its index in an enum field */
    KEY_CKPT_EVERY
};

/* One row per accepted key: its type, range and default. Keys without a
 * default must be set. */
struct key_spec {
    const char *path;
    enum key_kind kind;
    size_t offset;
    double min, max;
    int required;
    double def_num;
    const char *def_str;
    const char *const *names; /* KEY_ENUM: the accepted strings, NULL-terminated */
};

/* KEY_ENUM fields are stored through an int pointer. */
_Static_assert(sizeof(enum pipe_kind) == sizeof(int) && sizeof(enum pipe_split) == sizeof(int) &&
                   sizeof(enum train_device) == sizeof(int) &&
                   sizeof(enum train_precision) == sizeof(int),
               "enum keys are stored as int");
static const char *const schedule_names[] = {[PIPE_1F1B] = "1f1b", [PIPE_ZB_H1] = "zb-h1", NULL};
static const char *const split_names[] = {
    [PIPE_SPLIT_BALANCED] = "balanced", [PIPE_SPLIT_EVEN] = "even", NULL};
static const char *const device_names[] = {
    [TRAIN_DEVICE_CPU] = "cpu", [TRAIN_DEVICE_CUDA] = "cuda", NULL};
static const char *const precision_names[] = {[TRAIN_FP32] = "fp32", [TRAIN_BF16] = "bf16", NULL};

#define OFF(field) offsetof(struct train_config, field)

static const struct key_spec keys[] = {
    {"model.vocab_size", KEY_INT, OFF(model.vocab_size), 2, 1 << 20, 1, 0, NULL, NULL},
    {"model.context", KEY_INT, OFF(model.context), 1, 1 << 20, 1, 0, NULL, NULL},
    {"model.layers", KEY_INT, OFF(model.layers), 1, 4096, 1, 0, NULL, NULL},
    {"model.heads", KEY_INT, OFF(model.heads), 1, 4096, 1, 0, NULL, NULL},
    {"model.dim", KEY_INT, OFF(model.dim), 1, 1 << 20, 1, 0, NULL, NULL},
    {"optimizer.lr", KEY_FLOAT, OFF(optim.lr), 0, 10, 1, 0, NULL, NULL},
    {"optimizer.min_lr", KEY_FLOAT, OFF(optim.min_lr), 0, 10, 0, 0, NULL, NULL},
    {"optimizer.warmup_steps", KEY_INT, OFF(optim.warmup_steps), 0, 1e9, 0, 0, NULL, NULL},
    {"optimizer.beta1", KEY_FLOAT, OFF(optim.beta1), 0, 0.999999, 0, 0.9, NULL, NULL},
    {"optimizer.beta2", KEY_FLOAT, OFF(optim.beta2), 0, 0.999999, 0, 0.95, NULL, NULL},
    {"optimizer.eps", KEY_FLOAT, OFF(optim.eps), 1e-30, 1, 0, 1e-8, NULL, NULL},
    {"optimizer.weight_decay", KEY_FLOAT, OFF(optim.weight_decay), 0, 1, 0, 0.1, NULL, NULL},
    {"optimizer.clip", KEY_FLOAT, OFF(optim.clip), 0, 1e9, 0, 1.0, NULL, NULL},
    {"batch.micro", KEY_INT, OFF(micro_batch), 1, 1 << 20, 1, 0, NULL, NULL},
    {"batch.global", KEY_INT, OFF(global_batch), 1, 1 << 30, 1, 0, NULL, NULL},
    {"steps", KEY_INT, OFF(steps), 1, 1e9, 1, 0, NULL, NULL},
    {"seed", KEY_INT64, OFF(seed), 0, 9.2e18, 0, 1234, NULL, NULL},
    {"data.path", KEY_STRING, OFF(data_path), 0, 0, 1, 0, NULL, NULL},
    {"checkpoint.dir", KEY_STRING, OFF(ckpt_dir), 0, 0, 0, 0, "", NULL},
    {"checkpoint.every", KEY_CKPT_EVERY, 0, 0, 0, 0, 0, NULL, NULL},
    {"checkpoint.keep", KEY_INT, OFF(ckpt_keep), 1, 1000, 0, 2, NULL, NULL},
    {"log.metrics", KEY_STRING, OFF(metrics_path), 0, 0, 0, 0, "", NULL},
    {"log.peak_tflops", KEY_FLOAT, OFF(peak_tflops), 0, 1e6, 0, 0, NULL, NULL},
    {"pipeline.schedule", KEY_ENUM, OFF(schedule), 0, 0, 0, PIPE_1F1B, NULL, schedule_names},
    {"pipeline.split", KEY_ENUM, OFF(split), 0, 0, 0, PIPE_SPLIT_BALANCED, NULL, split_names},
    {"dp.overlap", KEY_BOOL, OFF(dp_overlap), 0, 0, 0, 1, NULL, NULL},
    {"device", KEY_ENUM, OFF(device), 0, 0, 0, TRAIN_DEVICE_CPU, NULL, device_names},
    {"precision", KEY_ENUM, OFF(precision), 0, 0, 0, TRAIN_FP32, NULL, precision_names},
};

#define NKEYS (sizeof keys / sizeof keys[0])
_Static_assert(NKEYS <= TRAIN_CONFIG_MAX_KEYS, "raise TRAIN_CONFIG_MAX_KEYS");

/* A string from the file as it may appear in a one-line message: libconfig
 * strings may hold newlines. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *expected(const struct key_spec *k, char *buf, size_t len)
{
    switch (k->kind) {
    case KEY_INT:
    case KEY_INT64:
        snprintf(buf, len, "an integer from %.0f to %.0f", k->min, k->max);
        break;
    case KEY_FLOAT:
        snprintf(buf, len, "a number from %g to %g", k->min, k->max);
        break;
    case KEY_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case KEY_STRING:
        snprintf(buf, len, "a string in quotes");
        break;
    case KEY_ENUM: {
        size_t used = 0;
        for (int i = 0; k->names[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"",
                                     i == 0            ? ""
                                     : k->names[i + 1] ? ", "
                                                       : " or ",
                                     k->names[i]);
        break;
    }
    case KEY_CKPT_EVERY:
        snprintf(buf, len, "N (steps, an integer >= 1) or \"Tmin\" (minutes, e.g. \"30min\")");
        break;
    }
    return buf;
}

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    default:
        return "a list";
    }
}

static const struct key_spec *find_key(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

static int is_group_prefix(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.')
            return 1;
    return 0;
}

int train_parse_ckpt_every(const char *text, int *steps, double *minutes)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !(v > 0) || !isfinite(v))
        return -1;
    if (strcmp(end, "min") == 0) {
        *steps = 0;
        *minutes = v;
        return 0;
    }
    if (*end || v != floor(v) || v > 1e9)
        return -1;
    *steps = (int)v;
    *minutes = 0;
    return 0;
}

static int set_value(struct train_config *cfg, const struct key_spec *k, const config_setting_t *s,
                     const char *where, char *err, size_t errlen)
{
    char want[128], shown[256];
    int type = config_setting_type(s);
    void *field = (char *)cfg + k->offset;
    double num = 0;
    const char *str = NULL;

    switch (k->kind) {
    case KEY_INT:
    case KEY_INT64:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            goto wrong_type;
        num = (double)config_setting_get_int64(s);
        break;
    case KEY_FLOAT:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64 && type != CONFIG_TYPE_FLOAT)
            goto wrong_type;
        num = type == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                        : (double)config_setting_get_int64(s);
        break;
    case KEY_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            goto wrong_type;
        *(int *)field = config_setting_get_bool(s);
        return 0;
    case KEY_STRING:
    case KEY_ENUM:
        if (type != CONFIG_TYPE_STRING)
            goto wrong_type;
        str = config_setting_get_string(s);
        break;
    case KEY_CKPT_EVERY:
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
            long long v = config_setting_get_int64(s);
            if (v < 1 || v > 1000000000)
                goto out_of_range;
            cfg->ckpt_every_steps = (int)v;
            cfg->ckpt_every_minutes = 0;
            return 0;
        }
        if (type != CONFIG_TYPE_STRING)
            goto wrong_type;
        str = config_setting_get_string(s);
        if (train_parse_ckpt_every(str, &cfg->ckpt_every_steps, &cfg->ckpt_every_minutes))
            goto bad_string;
        return 0;
    }

    switch (k->kind) {
    case KEY_INT:
        if (num < k->min || num > k->max)
            goto out_of_range;
        *(int *)field = (int)num;
        return 0;
    case KEY_INT64:
        if (num < k->min || num > k->max)
            goto out_of_range;
        *(int64_t *)field = config_setting_get_int64(s);
        return 0;
    case KEY_FLOAT:
        if (!(num >= k->min && num <= k->max))
            goto out_of_range;
        *(double *)field = num;
        return 0;
    case KEY_BOOL:
        break;
    case KEY_STRING:
        if (strlen(str) >= TRAIN_PATH_MAX) {
            fail(err, errlen, "%s: %s: string of %zu bytes is too long; expected under %d", where,
                 k->path, strlen(str), TRAIN_PATH_MAX);
            return -1;
        }
        strcpy((char *)field, str);
        return 0;
    case KEY_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (strcmp(str, k->names[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        goto bad_string;
    case KEY_CKPT_EVERY:
        break;
    }
    return 0;

wrong_type:
    fail(err, errlen, "%s: %s: %s; expected %s", where, k->path, type_name(type),
         expected(k, want, sizeof want));
    return -1;
out_of_range:
    if (type == CONFIG_TYPE_FLOAT)
        fail(err, errlen, "%s: %s: %g is out of range; expected %s", where, k->path,
             config_setting_get_float(s), expected(k, want, sizeof want));
    else
        fail(err, errlen, "%s: %s: %lld is out of range; expected %s", where, k->path,
             (long long)config_setting_get_int64(s), expected(k, want, sizeof want));
    return -1;
bad_string:
    fail(err, errlen, "%s: %s: \"%s\"; expected %s", where, k->path,
         printable(str, shown, sizeof shown), expected(k, want, sizeof want));
    return -1;
}

static void where_of(const config_setting_t *s, const char *file, char *buf, size_t len)
{
    const char *src = config_setting_source_file(s);
    snprintf(buf, len, "%s:%u", src ? src : file, config_setting_source_line(s));
}

static int walk(struct train_config *cfg, const config_setting_t *group, const char *prefix,
                int *seen, char *err, size_t errlen)
{
    char path[256], where[TRAIN_PATH_MAX + 32];
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        where_of(s, cfg->file, where, sizeof where);
        const struct key_spec *k = find_key(path);
        if (k) {
            if (set_value(cfg, k, s, where, err, errlen))
                return -1;
            seen[k - keys] = 1;
            cfg->lines[k - keys] = (int)config_setting_source_line(s);
        } else if (is_group_prefix(path)) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                fail(err, errlen, "%s: %s: %s; expected a group { ... }", where, path,
                     type_name(config_setting_type(s)));
                return -1;
            }
            if (walk(cfg, s, path, seen, err, errlen))
                return -1;
        } else {
            fail(err, errlen, "%s: unknown key '%s'; the keys are documented in etc/*.cfg", where,
                 path);
            return -1;
        }
    }
    return 0;
}

static void set_default(struct train_config *cfg, const struct key_spec *k)
{
    void *field = (char *)cfg + k->offset;
    switch (k->kind) {
    case KEY_INT:
    case KEY_BOOL:
        *(int *)field = (int)k->def_num;
        break;
    case KEY_INT64:
        *(int64_t *)field = (int64_t)k->def_num;
        break;
    case KEY_FLOAT:
        *(double *)field = k->def_num;
        break;
    case KEY_STRING:
        snprintf((char *)field, TRAIN_PATH_MAX, "%s", k->def_str);
        break;
    case KEY_ENUM:
        *(int *)field = (int)k->def_num;
        break;
    case KEY_CKPT_EVERY:
        break;
    }
}

/* Relations between keys, each reported at the line of the key to change. */
static int check_relations(const struct train_config *cfg, char *err, size_t errlen)
{
    char w[TRAIN_PATH_MAX + 32];
    const struct train_model_config *m = &cfg->model;
    if (m->dim % m->heads) {
        train_config_where(cfg, "model.heads", w, sizeof w);
        fail(err, errlen, "%s: model.heads: %d does not divide model.dim %d; expected a divisor", w,
             m->heads, m->dim);
        return -1;
    }
    if (cfg->optim.min_lr > cfg->optim.lr) {
        train_config_where(cfg, "optimizer.min_lr", w, sizeof w);
        fail(err, errlen, "%s: optimizer.min_lr: %g is above optimizer.lr %g; expected <= lr", w,
             cfg->optim.min_lr, cfg->optim.lr);
        return -1;
    }
    if (cfg->optim.warmup_steps > cfg->steps) {
        train_config_where(cfg, "optimizer.warmup_steps", w, sizeof w);
        fail(err, errlen, "%s: optimizer.warmup_steps: %d is more than steps %d; expected <= steps",
             w, cfg->optim.warmup_steps, cfg->steps);
        return -1;
    }
    if (cfg->global_batch % cfg->micro_batch) {
        train_config_where(cfg, "batch.global", w, sizeof w);
        fail(err, errlen, "%s: batch.global: %d is not a multiple of batch.micro %d", w,
             cfg->global_batch, cfg->micro_batch);
        return -1;
    }
    return 0;
}

int train_config_load(const char *file, struct train_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (strlen(file) >= sizeof cfg->file) {
        fail(err, errlen, "config path '%.64s...' is too long; expected under %d bytes", file,
             TRAIN_PATH_MAX);
        return -1;
    }
    strcpy(cfg->file, file);
    for (size_t i = 0; i < NKEYS; i++)
        set_default(cfg, &keys[i]);

    /* libconfig reads a directory as an empty, failing file with errno 0. */
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        fail(err, errlen, "%s: cannot read: a directory; expected a readable libconfig file", file);
        return -1;
    }
    config_t lc;
    config_init(&lc);
    int rc = -1;
    if (config_read_file(&lc, file) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            fail(err, errlen, "%s: cannot read: %s; expected a readable libconfig file", file,
                 strerror(errno));
        else
            fail(err, errlen, "%s:%d: %s; expected libconfig syntax (key = value;)",
                 config_error_file(&lc) ? config_error_file(&lc) : file, config_error_line(&lc),
                 config_error_text(&lc));
        goto out;
    }
    int seen[NKEYS] = {0};
    if (walk(cfg, config_root_setting(&lc), "", seen, err, errlen))
        goto out;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].required && !seen[i]) {
            char want[128];
            fail(err, errlen, "%s: missing key '%s'; expected %s", file, keys[i].path,
                 expected(&keys[i], want, sizeof want));
            goto out;
        }
    }
    if (!seen[find_key("optimizer.min_lr") - keys])
        cfg->optim.min_lr = cfg->optim.lr / 10;
    rc = check_relations(cfg, err, errlen);
out:
    config_destroy(&lc);
    return rc;
}

int train_config_apply_env(struct train_config *cfg, char *err, size_t errlen)
{
    const char *dir = getenv("PLAIT_CKPT_DIR");
    const char *every = getenv("PLAIT_CKPT_EVERY");
    if (dir && *dir) {
        if (strlen(dir) >= sizeof cfg->ckpt_dir) {
            fail(err, errlen, "PLAIT_CKPT_DIR: path of %zu bytes; expected under %d", strlen(dir),
                 TRAIN_PATH_MAX);
            return -1;
        }
        strcpy(cfg->ckpt_dir, dir);
    }
    if (every && *every &&
        train_parse_ckpt_every(every, &cfg->ckpt_every_steps, &cfg->ckpt_every_minutes)) {
        fail(err, errlen, "PLAIT_CKPT_EVERY: '%s'; expected N (steps) or Tmin (minutes)", every);
        return -1;
    }
    return 0;
}

int train_config_check_layout(const struct train_config *cfg, int dp, int tp, int pp, char *err,
                              size_t errlen)
{
    char w[TRAIN_PATH_MAX + 32];
    if (cfg->model.heads % tp) {
        train_config_where(cfg, "model.heads", w, sizeof w);
        fail(err, errlen,
             "%s: model.heads: %d heads cannot be split over tp=%d; expected a "
             "multiple of tp",
             w, cfg->model.heads, tp);
        return -1;
    }
    if (cfg->model.layers < pp) {
        train_config_where(cfg, "model.layers", w, sizeof w);
        fail(err, errlen, "%s: model.layers: %d layers for pp=%d stages; expected at least pp", w,
             cfg->model.layers, pp);
        return -1;
    }
    /* In long: batch.micro and dp may each be up to 2^20. */
    if (cfg->global_batch % ((long)cfg->micro_batch * dp)) {
        train_config_where(cfg, "batch.global", w, sizeof w);
        fail(err, errlen, "%s: batch.global: %d is not a multiple of batch.micro %d x dp %d", w,
             cfg->global_batch, cfg->micro_batch, dp);
        return -1;
    }
    return 0;
}

void train_config_where(const struct train_config *cfg, const char *key, char *buf, size_t len)
{
    const struct key_spec *k = find_key(key);
    int line = k ? cfg->lines[k - keys] : 0;
    if (line)
        snprintf(buf, len, "%s:%d", cfg->file, line);
    else
        snprintf(buf, len, "%s", cfg->file);
}

int train_config_accum(const struct train_config *cfg, int dp)
{
    return (int)(cfg->global_batch / ((long)cfg->micro_batch * dp));
}

double train_lr_at(const struct train_optim_config *o, int steps, int step)
{
    if (step < o->warmup_steps)
        return o->lr * (step + 1) / o->warmup_steps;
    int decay = steps - o->warmup_steps;
    double progress = decay > 1 ? (double)(step - o->warmup_steps) / (decay - 1) : 1.0;
    if (progress > 1)
        progress = 1;
    return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1 + cos(M_PI * progress));
}
