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
# PLAIT_BENCH_MEM (default "plain registered hier"): plain runs both on
# malloc'd buffers; registered on plait_mem_alloc memory against Open MPI's
# MPI_Alloc_mem (metrics end in _registered); hier runs 4 ranks split into 2
# fake nodes of 2 (PLAIT_TEST_NODES=2,2), so the world takes the hierarchical
# allreduce, plain buffers, against Open MPI's 4 ranks (which cannot be told
# of fake nodes: it sees one node and keeps its shared-memory path) and
# against libplait's flat UCX algorithms on the same 4 ranks (PLAIT_SHM=0:
# what a group across nodes took before), metrics ending in _hier and
# _hier_vs_ucx. Both "nodes" share this machine, its memory and its cores.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PLAIT_BUILD:-$top/build}
out=$build/bench/results.jsonl
reps=${PLAIT_BENCH_REPS:-5}
rounds=${PLAIT_BENCH_ROUNDS:-5}
mems=${PLAIT_BENCH_MEM:-plain registered hier}
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
hier() { PLAIT_TEST_NODES=2,2 plait 4 plain; }
ucx() { PLAIT_SHM=0 plait 4 plain; }
mpi() {
    mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$1" \
        "${pin[@]}" "$build/tests/runtime_mpi_allreduce_bench" "$rounds" "$2"
}

for mem in $mems; do
    case $mem in
    plain | registered | hier) ;;
    *)
        echo "runtime_allreduce.sh: PLAIT_BENCH_MEM='$mems': expected plain, registered, hier" >&2
        exit 2
        ;;
    esac
done

# The hierarchical path and its two anchors, in an order that rotates with
# every repetition.
hier_runs() {
    local rep=$1 runs=(hier mpi4 ucx) i
    for i in 0 1 2; do
        case ${runs[$(((i + rep) % 3))]} in
        hier) hier >"$work/plait.4.$rep" ;;
        mpi4) mpi 4 plain >"$work/mpi.4.$rep" ;;
        ucx) ucx >"$work/ucx.4.$rep" ;;
        esac
    done
}

for mem in $mems; do
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    for rep in $(seq "$reps"); do
        if [ "$mem" = hier ]; then
            hier_runs "$rep"
            continue
        fi
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
def read(name):
    with open(f"{work}/{name}") as f:
        return {int(l.split()[0]): float(l.split()[2]) for l in f if l.strip()}
# (ranks, metric suffix, anchor's files, anchor, goal at 16 MiB and from 64 KiB)
if mem == "hier":
    figures = [(4, "_hier", "mpi", "Open MPI MPI_Allreduce, 4 ranks on one node", (None, None)),
               (4, "_hier_vs_ucx", "ucx", "libplait's UCX algorithms (PLAIT_SHM=0), same 4 ranks",
                (None, None))]
else:
    anchor = "Open MPI MPI_Allreduce" + ("" if mem == "plain" else " on MPI_Alloc_mem memory")
    figures = [(n, suffix, "mpi", anchor, (1.5, 1.0)) for n in (2, 4)]
for n, sfx, anchor_files, anchor, (goal16, goal) in figures:
    p = [read(f"plait.{n}.{r}") for r in range(1, reps + 1)]
    m = [read(f"{anchor_files}.{n}.{r}") for r in range(1, reps + 1)]
    for size in sorted(p[0]):
        v = statistics.median(x[size] for x in p)
        a = statistics.median(x[size] for x in m)
        pairs = [x[size] / y[size] for x, y in zip(p, m) if y[size] > 0]
        g = goal16 if size == 16 << 20 else goal if size >= 64 << 10 else None
        print(json.dumps({"bench": "runtime_allreduce", "metric": f"busbw_{n}ranks_{size}B{sfx}",
                          "value": v, "unit": "GB/s", "anchor": anchor,
                          "anchor_value": a, "ratio": round(v / a, 3) if a > 0 else None,
                          "goal": g, "reps": reps,
                          "pair_ratio_range": [round(min(pairs), 3), round(max(pairs), 3)],
                          "bind": bind, "mem": mem, "load": [load0, load1]}))
        print(f"allreduce {mem} {n} ranks {size:9d} B  busbw {v:7.3f} GB/s  ({anchor_files} {a:7.3f} GB/s)"
              f"  ratio {v / a:5.2f}  pairs {min(pairs):5.2f}-{max(pairs):5.2f}", file=sys.stderr)
PY
    echo "allreduce $mem: $reps repetitions, binding $bind, load average $load_before -> $load_after" >&2
done
