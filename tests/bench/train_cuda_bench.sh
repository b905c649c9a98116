#!/usr/bin/env bash
# plait-train on one GPU, each figure against its anchor measured in the same
# run (three alternating rounds; the median of each side's steps, each run's
# first step left out):
# - the step time of one process training GPT-2 124M (B=16, T=1024, bf16
#   products, device = "cuda") against the kernels' own benchmark of the same step
#   (bench_train_step_cuda; goal: within 5%: the trainer adds no overhead);
# - the step time of pp=2 as 2 processes on the same GPU (4 micro-batches of
#   4, activations staged through pinned host memory over UCX) against one
#   process training the same batch in the same micro-batches.
# Without a GPU (or without CUDA in the build) it says it measured nothing.
# Appends to build/bench/results.jsonl (PLAIT_BENCH_RESULTS overrides).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export PLAIT_TOP=$top PLAIT_BUILD=$top/build
results=${PLAIT_BENCH_RESULTS:-$top/build/bench/results.jsonl}
kernels=build/bench/bench_train_step_cuda
if [ ! -x "$kernels" ]; then
    echo "train_cuda_bench: built without CUDA: nothing measured"
    exit 0
fi
mkdir -p "$(dirname "$results")"
source tests/train/lib.sh
bench=train_cuda
source tests/bench/train_lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
probe=$(PLAIT_BENCH_RESULTS=$tmp/probe.jsonl "$kernels" 1)
if grep -q 'no CUDA device' <<<"$probe"; then
    echo "train_cuda_bench: no GPU: nothing measured"
    exit 0
fi
make_dataset "$tmp"

gpt2_config() { # file metrics micro
    cat >"$1" <<CFG
model = { vocab_size = 50304; context = 1024; layers = 12; heads = 12; dim = 768; };
optimizer = { lr = 1e-4; warmup_steps = 0; };
batch = { micro = $3; global = 16; };
steps = 11;
data = { path = "$tmp/tokens.h5"; };
log = { metrics = "$2"; };
device = "cuda";
precision = "bf16";
CFG
}

for round in 1 2 3; do
    cut -d' ' -f1 /proc/loadavg >>"$tmp/load"
    PLAIT_BENCH_RESULTS=$tmp/kernels.jsonl "$kernels" 10 bf16 |
        sed -n 's/^step \([0-9]*\): loss [^,]*, \([0-9.]*\) s\b.*/\1 \2/p' |
        awk '$1 > 0 { print $2 }' >>"$tmp/kernel_steps"
    gpt2_config "$tmp/single.cfg" "$tmp/single-$round.jsonl" 16
    "$bin/plait-train" --config "$tmp/single.cfg" >/dev/null
    python3 -c "
import json
for j in map(json.loads, open('$tmp/single-$round.jsonl')):
    if j['step'] >= 2: print(j['step_s'])" >>"$tmp/train_steps"
    gpt2_config "$tmp/accum.cfg" "$tmp/accum-$round.jsonl" 4
    "$bin/plait-train" --config "$tmp/accum.cfg" >/dev/null
    cat "$tmp/accum-$round.jsonl" >>"$tmp/accum.jsonl"
    gpt2_config "$tmp/pp2.cfg" "$tmp/pp2-$round.jsonl" 4
    "$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" --config "$tmp/pp2.cfg" >/dev/null
    cat "$tmp/pp2-$round.jsonl" >>"$tmp/pp2.jsonl"
done
load="load average $(sort -n "$tmp/load" | sed -n '1p;$p' | paste -sd-)"
read -r kernel_step train_step < <(python3 -c "
import statistics
k = [float(x) for x in open('$tmp/kernel_steps')]
t = [float(x) for x in open('$tmp/train_steps')]
print(statistics.median(k), statistics.median(t))")
emit step_time_cuda_gpt2_124m_b16_t1024 "$train_step" s \
    "kernels benchmark step (bench_train_step_cuda)" "$kernel_step" "ratio <= 1.05 ($load)"
emit step_time_cuda_pp2_one_gpu "$(median_of "$tmp/pp2.jsonl" step_s 2)" s \
    "one process, same 4 micro-batches of 4" "$(median_of "$tmp/accum.jsonl" step_s 2)" \
    "recorded: 2 stages share one GPU, activations staged through host memory ($load)"
