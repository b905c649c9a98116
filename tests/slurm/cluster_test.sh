#!/usr/bin/env bash
# The local cluster comes up idempotently with 2 nodes of 8 fake GPUs, runs an
# srun step and a batch job across both, and comes down leaving no daemon.
set -euo pipefail
cluster=$PLAIT_TOP/tests/slurm/cluster
fail() { echo "cluster_test: $*" >&2; exit 1; }

$cluster up
$cluster up
eval "$($cluster env)"

nodes=$(sinfo -h -N -o '%N %G %t' | sort)
[ "$nodes" = "n1 gpu:8 idle
n2 gpu:8 idle" ] || fail "unexpected nodes: $nodes"

out=$(srun -N2 --ntasks-per-node=1 --gpus-per-node=8 bash -c 'echo $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES' 2>/dev/null | sort)
[ "$out" = "n1 0,1,2,3,4,5,6,7
n2 0,1,2,3,4,5,6,7" ] || fail "srun gave: $out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/bash\n#SBATCH -N 2 --ntasks-per-node=1\nsrun bash -c "echo \\$SLURM_PROCID"\n' >"$work/job.sh"
sbatch --wait -o "$work/out" "$work/job.sh" >/dev/null 2>&1 || fail "sbatch --wait failed"
[ "$(grep -E '^[0-9]$' "$work/out" | sort | tr '\n' ' ')" = "0 1 " ] || fail "batch output: $(cat "$work/out")"

dir=$(dirname "${SLURM_CONF}")
pids=$(cat "$dir"/*.pid)
$cluster down
for p in $pids; do
    ! kill -0 "$p" 2>/dev/null || fail "daemon $p still running after down"
done
echo "cluster up/down, srun and sbatch across 2 nodes: ok"
