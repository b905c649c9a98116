/* The job config: every example in etc/ loads; unknown keys, wrong types,
 * out-of-range values and inconsistent keys are refused with file:line and
 * the expected form; the learning-rate schedule has its shape. */
#include "../check.h"
#include "../../runtime/train/config.h"

#include <stdlib.h>
#include <unistd.h>

static const char *base = "model = { vocab_size = 256; context = 32; layers = 2; heads = 4;\n"
                          "  dim = 64; };\n"
                          "optimizer = { lr = 1e-3; warmup_steps = 2; };\n"
                          "batch = { micro = 2; global = 8; };\n"
                          "steps = 20;\n"
                          "data = { path = \"tokens.h5\"; };\n";

static char path[64];

static int load_text(const char *text, struct train_config *cfg, char *err, size_t len)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return train_config_load(path, cfg, err, len);
}

/* Loads BASE with EXTRA appended (line 7 onwards) and expects refusal. */
static void refused(const char *extra, const char *want1, const char *want2)
{
    char text[2048], err[512] = "", where[96];
    struct train_config cfg;
    snprintf(text, sizeof text, "%s%s", base, extra);
    CHECK_MSG(load_text(text, &cfg, err, sizeof err) == -1, "accepted: %s", extra);
    snprintf(where, sizeof where, "%s:", path);
    CHECK_STR_CONTAINS(err, where);
    CHECK_STR_CONTAINS(err, want1);
    CHECK_STR_CONTAINS(err, want2);
    CHECK_MSG(strchr(err, '\n') == NULL, "more than one line: %s", err);
}

int main(void)
{
    char err[512] = "";
    struct train_config cfg;
    snprintf(path, sizeof path, "/tmp/train_config_test.%d.cfg", (int)getpid());

    CHECK_MSG(load_text(base, &cfg, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(cfg.model.dim, 64);
    CHECK_INT_EQ(cfg.global_batch, 8);
    CHECK(fabs(cfg.optim.lr - 1e-3) < 1e-15);
    CHECK(fabs(cfg.optim.min_lr - 1e-4) < 1e-15); /* default lr / 10 */
    CHECK(fabs(cfg.optim.beta2 - 0.95) < 1e-15);
    CHECK_INT_EQ(cfg.seed, 1234);
    CHECK_INT_EQ(cfg.schedule, PIPE_1F1B);
    CHECK_INT_EQ(cfg.split, PIPE_SPLIT_BALANCED);
    CHECK_INT_EQ(cfg.dp_overlap, 1);
    CHECK_INT_EQ(cfg.device, TRAIN_DEVICE_CPU);
    CHECK_INT_EQ(cfg.precision, TRAIN_FP32);
    CHECK_STR_EQ(cfg.data_path, "tokens.h5");
    CHECK_STR_EQ(cfg.ckpt_dir, "");
    CHECK_INT_EQ(train_config_accum(&cfg, 2), 2);
    char where[128];
    train_config_where(&cfg, "batch.global", where, sizeof where);
    char want[128];
    snprintf(want, sizeof want, "%s:4", path);
    CHECK_STR_EQ(where, want);

    char cuda[1024];
    snprintf(cuda, sizeof cuda, "%sdevice = \"cuda\";\n", base);
    CHECK_MSG(load_text(cuda, &cfg, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(cfg.device, TRAIN_DEVICE_CUDA);
    snprintf(cuda, sizeof cuda, "%sdevice = \"cuda\";\nprecision = \"bf16\";\n", base);
    CHECK_MSG(load_text(cuda, &cfg, err, sizeof err) == 0, "%s", err);
    CHECK_INT_EQ(cfg.precision, TRAIN_BF16);

    refused("log = { metric = \"m.jsonl\"; };\n", ":7:", "unknown key 'log.metric'");
    refused("colour = \"red\";\n", ":7:", "unknown key 'colour'");
    refused("seed = \"x\";\n", ":7:", "a string; expected an integer");
    refused("checkpoint = { keep = 0; };\n",
            ":7:", "0 is out of range; expected an integer from 1");
    refused("log = { peak_tflops = -1.5; };\n", ":7:", "-1.5 is out of range");
    refused("pipeline = { schedule = \"gpipe\"; };\n", ":7:", "\"1f1b\" or \"zb-h1\"");
    refused("pipeline = { split = \"uniform\"; };\n", ":7:", "\"balanced\" or \"even\"");
    refused("dp = { overlap = 1; };\n", ":7:", "dp.overlap: an integer; expected true or false");
    refused("dp = { overlap = \"no\"; };\n", ":7:", "a string; expected true or false");
    refused("device = \"gpu\";\n", ":7:", "device: \"gpu\"; expected \"cpu\" or \"cuda\"");
    refused("device = 1;\n", ":7:", "device: an integer; expected \"cpu\" or \"cuda\"");
    refused("precision = \"fp16\";\n", ":7:", "precision: \"fp16\"; expected \"fp32\" or \"bf16\"");
    /* Found by fuzz_train_config: a string's newline went into the message. */
    refused("device = \"cu\nda\";\n", ":7:", "device: \"cu?da\"; expected");
    refused("checkpoint = { every = \"5 hours\"; };\n", ":7:", "\"Tmin\"");
    refused("checkpoint = { every = 0; };\n", ":7:", "out of range");
    refused("model2 = 1;\n", ":7:", "unknown key 'model2'");
    refused("pipeline = 3;\n", ":7:", "expected a group");
    refused("steps = ;\n", ":7:", "syntax");
    refused("steps = 3;\n", ":7:", "duplicate");

    /* Relations and missing keys. */
    CHECK(load_text("model = { vocab_size = 256; context = 32; layers = 2; heads = 5; dim = 64; "
                    "};\noptimizer = { lr = 1e-3; };\nbatch = { micro = 2; global = 8; };\n"
                    "steps = 20;\ndata = { path = \"x\"; };\n",
                    &cfg, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, ":1: model.heads: 5 does not divide model.dim 64");
    CHECK(load_text("model = { vocab_size = 256; context = 32; layers = 2; heads = 4; dim = 64; "
                    "};\nbatch = { micro = 2; global = 8; };\nsteps = 20;\n"
                    "data = { path = \"x\"; };\n",
                    &cfg, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "missing key 'optimizer.lr'");
    CHECK(load_text("model = { vocab_size = 256; context = 32; layers = 2; heads = 4; dim = 64; "
                    "};\noptimizer = { lr = 1e-3; warmup_steps = 30; };\n"
                    "batch = { micro = 2; global = 8; };\nsteps = 20;\ndata = { path = \"x\"; };\n",
                    &cfg, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, ":2: optimizer.warmup_steps: 30 is more than steps 20");
    CHECK(train_config_load("/nonexistent/job.cfg", &cfg, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/job.cfg: cannot read");

    /* Checkpoint interval, in the file and from the plugin's variables. */
    char text[2048];
    snprintf(text, sizeof text, "%scheckpoint = { dir = \"ck\"; every = \"2.5min\"; };\n", base);
    CHECK_MSG(load_text(text, &cfg, err, sizeof err) == 0, "%s", err);
    CHECK(cfg.ckpt_every_steps == 0 && fabs(cfg.ckpt_every_minutes - 2.5) < 1e-12);
    setenv("PLAIT_CKPT_DIR", "/scratch/run", 1);
    setenv("PLAIT_CKPT_EVERY", "7", 1);
    CHECK(train_config_apply_env(&cfg, err, sizeof err) == 0);
    CHECK_STR_EQ(cfg.ckpt_dir, "/scratch/run");
    CHECK(cfg.ckpt_every_steps == 7 && cfg.ckpt_every_minutes == 0);
    setenv("PLAIT_CKPT_EVERY", "7x", 1);
    CHECK(train_config_apply_env(&cfg, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "PLAIT_CKPT_EVERY: '7x'");
    unsetenv("PLAIT_CKPT_DIR");
    unsetenv("PLAIT_CKPT_EVERY");

    /* Layout-dependent checks point at the key to change. */
    CHECK_MSG(load_text(base, &cfg, err, sizeof err) == 0, "%s", err);
    CHECK(train_config_check_layout(&cfg, 2, 2, 2, err, sizeof err) == 0);
    CHECK(train_config_check_layout(&cfg, 8, 1, 1, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, ":4: batch.global: 8 is not a multiple of batch.micro 2 x dp 8");
    CHECK(train_config_check_layout(&cfg, 1, 8, 1, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, ":1: model.heads");
    CHECK(train_config_check_layout(&cfg, 1, 1, 4, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "model.layers: 2 layers for pp=4");
    /* Found by fuzz_train_config: batch.micro x dp overflowed an int. */
    cfg.micro_batch = cfg.global_batch = 1 << 20;
    CHECK(train_config_check_layout(&cfg, 1 << 20, 1, 1, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "is not a multiple of batch.micro 1048576 x dp 1048576");

    /* Warmup rises linearly to lr, cosine falls to min_lr at the last step. */
    struct train_optim_config o = {.lr = 1.0, .min_lr = 0.1, .warmup_steps = 4};
    CHECK(fabs(train_lr_at(&o, 20, 0) - 0.25) < 1e-12);
    CHECK(fabs(train_lr_at(&o, 20, 3) - 1.0) < 1e-12);
    CHECK(fabs(train_lr_at(&o, 20, 4) - 1.0) < 1e-12);
    CHECK(fabs(train_lr_at(&o, 20, 19) - 0.1) < 1e-12);
    CHECK(fabs(train_lr_at(&o, 20, 4 + 15 / 2.0) - 0.55) < 0.1);
    for (int s = 5; s < 20; s++)
        CHECK(train_lr_at(&o, 20, s) < train_lr_at(&o, 20, s - 1));

    /* Every shipped example loads. */
    const char *top = getenv("PLAIT_TOP") ? getenv("PLAIT_TOP") : ".";
    const char *examples[] = {"etc/tiny.cfg", "etc/demo.cfg", "etc/gpt2-124m.cfg"};
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", top, examples[i]);
        CHECK_MSG(train_config_load(p, &cfg, err, sizeof err) == 0, "%s", err);
    }
    unlink(path);
    return check_status("train_config_test");
}
