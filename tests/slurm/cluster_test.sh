#!/usr/bin/env bash
# The local cluster comes up idempotently with 2 nodes of 8 fake GPUs, runs an
# srun step and a batch job across both, and comes down leaving no daemon. Its
# ports are below Linux's ephemeral range, and ports another process holds
# are passed over.
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
holder=""
trap '[ -z "$holder" ] || kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT
printf '#!/bin/bash\n#SBATCH -N 2 --ntasks-per-node=1\nsrun bash -c "echo \\$SLURM_PROCID"\n' >"$work/job.sh"
sbatch --wait -o "$work/out" "$work/job.sh" >/dev/null 2>&1 || fail "sbatch --wait failed"
[ "$(grep -E '^[0-9]$' "$work/out" | sort | tr '\n' ' ')" = "0 1 " ] || fail "batch output: $(cat "$work/out")"

dir=$(dirname "${SLURM_CONF}")
pids=$(cat "$dir"/*.pid)
$cluster down
for p in $pids; do
    ! kill -0 "$p" 2>/dev/null || fail "daemon $p still running after down"
done

base=$(cat "$dir/port")
[ "$base" -ge 20000 ] && [ $((base + 2)) -lt 32768 ] || fail "ports $base-$((base + 2)): expected 20000-32767"
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("held", flush=True)
time.sleep(300)' "$base" >"$work/held" &
holder=$!
for _ in $(seq 100); do [ -s "$work/held" ] && break; sleep 0.1; done
[ -s "$work/held" ] || fail "could not hold port $base"
$cluster up
[ "$(cat "$dir/port")" != "$base" ] || fail "came up on port $base, which another process holds"
srun -N2 true || fail "srun on the cluster that passed over port $base failed"
$cluster down
echo "cluster up/down, srun and sbatch across 2 nodes, a held port passed over: ok"
