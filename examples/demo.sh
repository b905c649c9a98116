#!/usr/bin/env bash
# make demo: a byte-level GPT trained on text Debian ships, as a real Slurm
# job on the local 2-node cluster (examples/local.sbatch), with the loss
# falling, a checkpoint written and the loss curve drawn.
#
# PLAIT_DEMO_KEEP_CLUSTER=1 leaves the cluster running afterwards
# (make cluster-down stops it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=build/bin demo=build/demo
say() { printf '\n== %s\n' "$*"; }

for tool in plait-data plait-train plait-ckpt plait-plot; do
    [ -x "$bin/$tool" ] || { echo "demo: $bin/$tool missing: run make first" >&2; exit 1; }
done
[ -f build/lib/plait.so ] || { echo "demo: build/lib/plait.so missing: run make first" >&2; exit 1; }

say "dataset: licence and copyright texts from /usr/share, one token per byte"
rm -rf "$demo"
mkdir -p "$demo"
shopt -s nullglob
texts=(/usr/share/common-licenses/* /usr/share/doc/*/copyright)
[ ${#texts[@]} -gt 0 ] || { echo "demo: no text under /usr/share/common-licenses" >&2; exit 1; }
"$bin/plait-data" build -o "$demo/tokens.h5" "${texts[@]}"

say "the local Slurm cluster: 2 nodes"
tests/slurm/cluster up
eval "$(tests/slurm/cluster env)"
[ "${PLAIT_DEMO_KEEP_CLUSTER:-0}" = 1 ] || trap 'tests/slurm/cluster down' EXIT
sinfo

say "sbatch examples/local.sbatch"
job=$(sbatch --parsable examples/local.sbatch)
echo "job $job: 4 ranks (dp=2, pp=2) on n1 and n2; output in $demo/job-$job.out"
state=""
for _ in $(seq 3000); do
    state=$(scontrol show job "$job" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 0.2
done
out=$demo/job-$job.out
if [ "$state" != COMPLETED ]; then
    cat "$out"
    echo "demo: job $job is $state; expected COMPLETED" >&2
    exit 1
fi
# Step 1 and every 25th of the progress lines (all of them are in the file).
awk -F'[ /]' '!/^step / || $2 == 1 || $2 % 25 == 0' "$out"
echo "(every step's line: $out)"

say "the loss fell"
first=$(sed -n 's/^step 1\/[0-9]* | loss \([0-9.]*\).*/\1/p' "$out" | head -n 1)
last=$(grep '^step ' "$out" | tail -n 1 | sed 's/.* | loss \([0-9.]*\) .*/\1/')
echo "loss $first at step 1 -> $last at the last step (a uniform guess over 256 bytes: 5.545)"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1) }' ||
    { echo "demo: the loss did not fall by 1" >&2; exit 1; }

say "checkpoints"
"$bin/plait-ckpt" list "$demo/ckpt"
"$bin/plait-ckpt" verify "$demo/ckpt"
echo "(look inside: $bin/plait-ckpt inspect $demo/ckpt; one HDF5 file: $bin/plait-ckpt export $demo/ckpt OUT.h5)"

say "the loss curve"
svg=$("$bin/plait-plot" "$demo/metrics.jsonl")
echo "loss curve: $top/$svg (open it in a browser)"
