#!/usr/bin/env bash
# plait-train figures, each against its anchor measured in the same run:
# - the pipeline bubble (idle fraction of a stage over the pipeline's span) of
#   pp=2 with 8 micro-batches, 1F1B against (p-1)/(m+p-1) (goal: within 5
#   points), ZB-H1 against (p-1)/(3m) and against Qi et al.'s ZB-H1 model
#   with the forward, input- and weight-gradient pass times measured in the
#   same steps; ZB-H1's step time against 1F1B's, and its pipeline span at
#   equal pass times against the model's; each stage's pass times and idle time
#   by cause on stderr;
# - the step time of one process training GPT-2 124M (B=4, T=64) against the
#   kernels' own benchmark of the same step (goal: within 5%: the trainer
#   adds no overhead);
# - the step time of dp=2 with the gradient all-reduce overlapped with the
#   backward pass against without (dp.overlap = false);
# - the step time of pp=2 with the layers split by cost (pipeline.split =
#   "balanced") against split evenly.
# Appends to build/bench/results.jsonl (PLAIT_BENCH_RESULTS overrides).
# Usage: train_bench.sh [pipeline] [overhead] [dp_overlap] [split] (default: all four).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export PLAIT_TOP=$top PLAIT_BUILD=$top/build
results=${PLAIT_BENCH_RESULTS:-$top/build/bench/results.jsonl}
mkdir -p "$(dirname "$results")"
source tests/train/lib.sh
bench=train
source tests/bench/train_lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_dataset "$tmp"

# Pipeline bubble: 2 stages of 2 layers, 8 micro-batches of 4 x 64 tokens per
# step, one core each; passes long enough (tens of ms) that the transfers and
# the scheduler's jitter are small next to them. Three alternating rounds of
# the two schedules (the machine's load moves); the median over all rounds'
# steps from the fourth on.
pipeline() {
    for round in 1 2 3; do
        for schedule in 1f1b zb-h1; do
            cut -d' ' -f1 /proc/loadavg >>"$tmp/pipe-load"
            write_config "$tmp/$schedule.cfg" "$tmp/tokens.h5" "$tmp/$schedule-$round.jsonl" \
                steps=12 schedule="$schedule"
            sed -i 's/dim = 32;/dim = 256;/; s/micro = 2; global = 8;/micro = 4; global = 32;/;
                s/context = 16;/context = 64;/' "$tmp/$schedule.cfg"
            "$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" \
                --config "$tmp/$schedule.cfg" >/dev/null
            cat "$tmp/$schedule-$round.jsonl" >>"$tmp/$schedule.jsonl"
        done
    done
    pipe_load="load average $(sort -n "$tmp/pipe-load" | sed -n '1p;$p' | paste -sd-)"
    # From the steps 4 on of both schedules' rounds (medians): the bubbles; Qi et
    # al.'s ZB-H1 model with each ZB-H1 step's own F, B and W (per pass, mean of
    # the stages), (p-1)(F+B-W) idle per stage where 1F1B idles (p-1)(F+B+W): its
    # bubble, and its pipeline span over 1F1B's applied to 1F1B's pipeline part of
    # the step (the rest, optimizer and all, is the same work in both); the step
    # times; the model's span ratio alone. Each stage's pass times and idle time
    # by cause go to stderr.
    read -r bubble_1f1b bubble_zb bubble_zb_model step_1f1b step_zb step_ratio_model span_ratio < <(
        python3 - "$tmp/1f1b.jsonl" "$tmp/zb-h1.jsonl" <<'PY'
import json, statistics, sys
med = statistics.median
runs = [[j for j in map(json.loads, open(f)) if j["step"] >= 4] for f in sys.argv[1:]]
p, m = len(runs[0][0]["stages"]), 8
def model(j):
    f, b, w = (sum(s[k] for s in j["stages"]) / (p * m) for k in ("forward", "backward", "weight"))
    idle = (p - 1) * (f + b - w)
    return idle / (m * (f + b + w) + idle), (m * (f + b + w) + idle) / ((m + p - 1) * (f + b + w))
span = lambda j: max(s["span"] for s in j["stages"])
span_1f1b, step_1f1b = med(span(j) for j in runs[0]), med(j["step_s"] for j in runs[0])
span_ratio = med(model(j)[1] for j in runs[1])
print(med(j["bubble"] for j in runs[0]), med(j["bubble"] for j in runs[1]),
      med(model(j)[0] for j in runs[1]), step_1f1b, med(j["step_s"] for j in runs[1]),
      (span_1f1b * span_ratio + step_1f1b - span_1f1b) / step_1f1b, span_ratio)
for name, steps in zip(("1F1B", "ZB-H1"), runs):
    for s in range(p):
        st = lambda f: med(f(j["stages"][s], j) for j in steps) * 1e3
        t = lambda k: st(lambda x, j: x[k])
        other = st(lambda x, j: x["span"] - sum(x[k] for k in ("forward", "backward", "weight",
                                                             "wait_act", "wait_grad", "wait_send")))
        print(f"{name} stage {s}: per pass F {t('forward') / m:.1f} B {t('backward') / m:.1f} "
              f"W {t('weight') / m:.1f} ms; per step (ms): span {t('span'):.0f} of a step "
              f"{st(lambda x, j: j['step_s']):.0f}; waiting for activations {t('wait_act'):.1f}, "
              f"for gradients {t('wait_grad'):.1f} (of these warm-up {t('warmup'):.1f}, "
              f"cool-down {t('cooldown'):.1f}), for sends {t('wait_send'):.1f}; other "
              f"{other:.1f}; done before the slowest stage "
              f"{st(lambda x, j: span(j) - x['span']):.1f}",
              file=sys.stderr)
PY
    )
    emit pipeline_bubble_1f1b_pp2_m8 "$bubble_1f1b" fraction "1F1B model (p-1)/(m+p-1)" \
        "$(python3 -c 'print(1/9)')" "within 0.05 of the anchor ($pipe_load)"
    emit pipeline_bubble_zbh1_pp2_m8 "$bubble_zb" fraction "ZB-H1 unit-time model (p-1)/(3m)" \
        "$(python3 -c 'print(1/24)')" "about the anchor ($pipe_load)"
    emit pipeline_bubble_zbh1_pp2_m8_measured_passes "$bubble_zb" fraction \
        "ZB-H1 model with the measured F, B, W: (p-1)(F+B-W)/(m(F+B+W)+(p-1)(F+B-W))" \
        "$bubble_zb_model" "about the anchor ($pipe_load)"
    local goal
    goal="ratio <= $(printf %.3f "$step_ratio_model"): the ZB-H1 model with the measured F, B, W"
    goal+=" for the pipeline part of the step (unit times: 25/27 = 0.926 of it) ($pipe_load)"
    emit step_time_zbh1_pp2_m8 "$step_zb" s "1F1B step time, same model and rounds" "$step_1f1b" \
        "$goal"
    # The pipeline span is the stages' mean pass time over 1 - bubble: at equal
    # pass times ZB-H1's span is (1 - 1F1B's bubble) / (1 - ZB-H1's) of 1F1B's,
    # a comparison the load's swings between runs do not reach.
    emit pipeline_span_zbh1_pp2_m8_same_passes \
        "$(python3 -c "print((1 - $bubble_1f1b) / (1 - $bubble_zb))")" fraction \
        "ZB-H1 model with the measured F, B, W" "$span_ratio" \
        "ratio <= 1: ZB-H1's span over 1F1B's at equal pass times, as the model says ($pipe_load)"
}

# Trainer overhead: the kernels' benchmark step and plait-train on the same
# model with the same threads (OpenMP threads split the GEMMs, BLAS runs one
# thread: the kernels set that themselves; the OpenMP wait policy is left at
# its default for both), alternated five times (the machine is shared and its
# load moves): the median of each side's per-run medians, each run's first step
# left out (first touch of the buffers) as the kernels' benchmark does.
overhead() {
    threads=${PLAIT_BENCH_THREADS:-2}
    cat >"$tmp/gpt2.cfg" <<CFG
model = { vocab_size = 50304; context = 64; layers = 12; heads = 12; dim = 768; };
optimizer = { lr = 1e-4; warmup_steps = 0; };
batch = { micro = 4; global = 4; };
steps = 5;
data = { path = "$tmp/tokens.h5"; };
log = { metrics = "$tmp/gpt2.jsonl"; };
CFG
    for _ in 1 2 3 4 5; do
        cut -d' ' -f1 /proc/loadavg >>"$tmp/load"
        OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 PLAIT_BENCH_THREADS=$threads \
            PLAIT_BENCH_RESULTS=$tmp/kernels.jsonl build/bench/bench_train_step 4 >/dev/null
        OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$bin/plait-train" \
            --config "$tmp/gpt2.cfg" >/dev/null
        median_of "$tmp/gpt2.jsonl" step_s 2 >>"$tmp/train_steps"
    done
    read -r kernel_step train_step < <(python3 -c "
import json, statistics
k = [j['value'] for j in map(json.loads, open('$tmp/kernels.jsonl')) if j['metric'] == 'step_time']
t = [float(x) for x in open('$tmp/train_steps')]
print(statistics.median(k), statistics.median(t))")
    local load
    load=$(sort -n "$tmp/load" | sed -n '1p;$p' | paste -sd-)
    emit step_time_gpt2_124m_b4_t64 "$train_step" s "kernels benchmark step (bench_train_step)" \
        "$kernel_step" "ratio <= 1.05 (load average $load)"
}

# Data-parallel overlap: dp=2 (one core each) on a model with many parameters
# (25M: a 100 MB all-reduce every step) and few tokens (16 a rank), so that
# the all-reduce matters next to the backward pass: the per-layer all-reduces
# started during the backward (dp.overlap = true) against all after it
# (false), and what the all-reduce costs at all (false against one process
# doing one rank's work); three alternating rounds, the median over their
# steps from the third on.
dp_config() { # file metrics global overlap
    cat >"$1" <<CFG
model = { vocab_size = 256; context = 16; layers = 8; heads = 8; dim = 512; };
optimizer = { lr = 1e-4; warmup_steps = 0; };
batch = { micro = 1; global = $3; };
steps = 12;
data = { path = "$tmp/tokens.h5"; };
log = { metrics = "$2"; };
dp = { overlap = $4; };
CFG
}
dp_overlap() {
    for round in 1 2 3; do
        for run in true false single; do
            if [ "$run" = single ]; then
                dp_config "$tmp/dp.cfg" "$tmp/dp-$run-$round.jsonl" 1 true
                "$bin/plait-train" --config "$tmp/dp.cfg" >/dev/null
            else
                dp_config "$tmp/dp.cfg" "$tmp/dp-$run-$round.jsonl" 2 "$run"
                "$bin/plait-run" -n 2 --layout dp=2 -- "$bin/plait-train" --config "$tmp/dp.cfg" \
                    >/dev/null
            fi
            cat "$tmp/dp-$run-$round.jsonl" >>"$tmp/dp-$run.jsonl"
        done
    done
    emit step_time_dp2_overlap "$(median_of "$tmp/dp-true.jsonl" step_s 3)" s \
        "same model and rounds, dp.overlap = false" "$(median_of "$tmp/dp-false.jsonl" step_s 3)" \
        "ratio < 1: the overlap hides part of the all-reduce"
    emit step_time_dp2_no_overlap "$(median_of "$tmp/dp-false.jsonl" step_s 3)" s \
        "one process, one rank's work, same rounds" "$(median_of "$tmp/dp-single.jsonl" step_s 3)" \
        "the all-reduce's cost: ratio - 1"
}

# Layer split: pp=2 (1F1B, one core a stage) on a model whose classifier
# weighs 8.1 layers (vocabulary 50304, d=512, T=64: V / (12 d + T)), 6 layers:
# pipeline.split = "balanced" (5 + 1 layers: the busiest stage 9.1 layers'
# work in the model) against "even" (3 + 3: 11.1); two alternating rounds,
# the median over their steps from the second on.
split() {
    for round in 1 2; do
        for how in even balanced; do
            cat >"$tmp/split.cfg" <<CFG
model = { vocab_size = 50304; context = 64; layers = 6; heads = 8; dim = 512; };
optimizer = { lr = 1e-4; warmup_steps = 0; };
batch = { micro = 4; global = 32; };
steps = 4;
data = { path = "$tmp/tokens.h5"; };
log = { metrics = "$tmp/split-$how-$round.jsonl"; };
pipeline = { split = "$how"; };
CFG
            cut -d' ' -f1 /proc/loadavg >>"$tmp/split-load"
            "$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" --config "$tmp/split.cfg" \
                >/dev/null
            cat "$tmp/split-$how-$round.jsonl" >>"$tmp/split-$how.jsonl"
        done
    done
    local load
    load=$(sort -n "$tmp/split-load" | sed -n '1p;$p' | paste -sd-)
    emit step_time_pp2_split_balanced "$(median_of "$tmp/split-balanced.jsonl" step_s 2)" s \
        "same model and rounds, pipeline.split = even" "$(median_of "$tmp/split-even.jsonl" step_s 2)" \
        "ratio < 1; the split's cost model says 9.1 / 11.1 = 0.82 (load average $load)"
}

parts=("$@")
[ $# -gt 0 ] || parts=(pipeline overhead dp_overlap split)
for part in "${parts[@]}"; do
    case $part in
    pipeline | overhead | dp_overlap | split) "$part" ;;
    *) echo "train_bench.sh: $part: expected pipeline, overhead, dp_overlap or split" >&2; exit 2 ;;
    esac
done
