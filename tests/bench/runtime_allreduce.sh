#!/usr/bin/env bash
# Host allreduce bus bandwidth (nccl-tests' definition) of libplait against
# Open MPI's MPI_Allreduce, 2 and 4 processes, 4 KiB to 64 MiB, in the same
# run. One JSON line per figure in build/bench/results.jsonl.
#
# Fairness on a shared machine: both programs time the same sizes with the same
# warm-up and report the median of PLAIT_BENCH_ROUNDS timed rounds (default 5);
# plait and Open MPI runs alternate, PLAIT_BENCH_REPS times (default 5), the
# order flipping every repetition, and each figure is the median over the
# repetitions. Both bind their processes the same way: not at all by default
# (plait-run does not bind, so mpirun gets --bind-to none), or with
# PLAIT_BENCH_BIND=core each rank to core local_rank mod cores, through
# taskset for both. Open MPI keeps its normal shared-memory path (ob1 + vader,
# single copy through CMA, as libplait's UCX). The load average before and
# after goes into every JSON line.
#
# PLAIT_BENCH_MEM (default "plain registered"): plain runs both on malloc'd
# buffers; registered on plait_mem_alloc memory against Open MPI's
# MPI_Alloc_mem (metrics end in _registered).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PLAIT_BUILD:-$top/build}
out=$build/bench/results.jsonl
reps=${PLAIT_BENCH_REPS:-5}
rounds=${PLAIT_BENCH_ROUNDS:-5}
mems=${PLAIT_BENCH_MEM:-plain registered}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bind=${PLAIT_BENCH_BIND:-none}
case $bind in
none) pin=() ;;
core)
    # shellcheck disable=SC2016 # expanded by each rank's shell
    pin=(sh -c 'exec taskset -c $(( ${PLAIT_LOCAL_RANK:-$OMPI_COMM_WORLD_LOCAL_RANK} % '"$(nproc)"' )) "$@"' pin)
    ;;
*)
    echo "runtime_allreduce.sh: PLAIT_BENCH_BIND='$bind': expected none or core" >&2
    exit 2
    ;;
esac
plait() { "$build/bin/plait-run" -n "$1" "${pin[@]}" "$build/tests/runtime_allreduce_bench" "$rounds" "$2"; }
mpi() {
    mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$1" \
        "${pin[@]}" "$build/tests/runtime_mpi_allreduce_bench" "$rounds" "$2"
}

for mem in $mems; do
    case $mem in
    plain | registered) ;;
    *)
        echo "runtime_allreduce.sh: PLAIT_BENCH_MEM='$mems': expected plain and/or registered" >&2
        exit 2
        ;;
    esac
done

for mem in $mems; do
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    for rep in $(seq "$reps"); do
        for n in 2 4; do
            if [ $((rep % 2)) -eq 1 ]; then
                plait "$n" "$mem" >"$work/plait.$n.$rep"
                mpi "$n" "$mem" >"$work/mpi.$n.$rep"
            else
                mpi "$n" "$mem" >"$work/mpi.$n.$rep"
                plait "$n" "$mem" >"$work/plait.$n.$rep"
            fi
        done
    done
    load_after=$(cut -d' ' -f1 /proc/loadavg)

    python3 - "$work" "$reps" "$load_before" "$load_after" "$bind" "$mem" >>"$out" <<'PY'
import json, statistics, sys
work, reps, load0, load1, bind, mem = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
suffix = "" if mem == "plain" else "_" + mem
anchor = "Open MPI MPI_Allreduce" + ("" if mem == "plain" else " on MPI_Alloc_mem memory")
def read(name):
    with open(f"{work}/{name}") as f:
        return {int(l.split()[0]): float(l.split()[2]) for l in f if l.strip()}
for n in (2, 4):
    p = [read(f"plait.{n}.{r}") for r in range(1, reps + 1)]
    m = [read(f"mpi.{n}.{r}") for r in range(1, reps + 1)]
    for size in sorted(p[0]):
        v = statistics.median(x[size] for x in p)
        a = statistics.median(x[size] for x in m)
        pairs = [x[size] / y[size] for x, y in zip(p, m) if y[size] > 0]
        goal = 1.5 if size == 16 << 20 else 1.0 if size >= 64 << 10 else None
        print(json.dumps({"bench": "runtime_allreduce", "metric": f"busbw_{n}ranks_{size}B{suffix}",
                          "value": v, "unit": "GB/s", "anchor": anchor,
                          "anchor_value": a, "ratio": round(v / a, 3) if a > 0 else None,
                          "goal": goal, "reps": reps,
                          "pair_ratio_range": [round(min(pairs), 3), round(max(pairs), 3)],
                          "bind": bind, "mem": mem, "load": [load0, load1]}))
        print(f"allreduce {mem} {n} ranks {size:9d} B  busbw {v:7.3f} GB/s  (Open MPI {a:7.3f} GB/s)"
              f"  ratio {v / a:5.2f}  pairs {min(pairs):5.2f}-{max(pairs):5.2f}", file=sys.stderr)
PY
    echo "allreduce $mem: $reps repetitions, binding $bind, load average $load_before -> $load_after" >&2
done
