#!/usr/bin/env bash
# Host allreduce bus bandwidth (nccl-tests' definition) of libplait against
# Open MPI's MPI_Allreduce, 2 and 4 processes, 4 KiB to 64 MiB, in the same
# run. One JSON line per figure in build/bench/results.jsonl.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PLAIT_BUILD:-$top/build}
out=$build/bench/results.jsonl
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in 2 4; do
    "$build/bin/plait-run" -n "$n" "$build/tests/runtime_allreduce_bench" >"$work/plait.$n"
    mpirun --allow-run-as-root --oversubscribe -np "$n" \
        "$build/tests/runtime_mpi_allreduce_bench" >"$work/mpi.$n"
    paste -d' ' "$work/plait.$n" "$work/mpi.$n" | while read -r bytes _ busbw _ _ mbusbw; do
        goal=null
        [ "$bytes" -ge $((64 << 10)) ] && goal=1.0
        [ "$bytes" -eq $((16 << 20)) ] && goal=1.5
        python3 -c '
import json, sys
n, b, v, a, goal = sys.argv[1:]
v, a = float(v), float(a)
print(json.dumps({"bench": "runtime_allreduce", "metric": f"busbw_{n}ranks_{b}B", "value": v,
                  "unit": "GB/s", "anchor": "Open MPI MPI_Allreduce", "anchor_value": a,
                  "ratio": round(v / a, 3) if a > 0 else None,
                  "goal": None if goal == "null" else float(goal)}))' \
            "$n" "$bytes" "$busbw" "$mbusbw" "$goal" >>"$out"
        printf 'allreduce %d ranks %9s B  busbw %7.3f GB/s  (Open MPI %7.3f GB/s)\n' \
            "$n" "$bytes" "$busbw" "$mbusbw"
    done
done
