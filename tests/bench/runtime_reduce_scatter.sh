#!/usr/bin/env bash
# Host reduce-scatter bus bandwidth (nccl-tests' definition: S / t * (n-1)/n,
# S the whole send buffer, n times a rank's output) of libplait against Open
# MPI's MPI_Reduce_scatter_block, 2 and 4 processes on this node, a rank's
# output 4 KiB to 64 MiB, and the barrier's latency against MPI_Barrier, in
# the same run, plain buffers. libplait's groups within a node take the
# shared-memory reduce-scatter and barrier; its UCX ring and dissemination
# barrier (PLAIT_SHM=0) on the same ranks are a second anchor. One JSON line
# per figure in build/bench/results.jsonl, the load average before and after
# in each.
#
# As runtime_allgather.sh: the three programs alternate PLAIT_BENCH_REPS
# times (default 5), their order rotating every repetition, unbound, each
# reporting the median of PLAIT_BENCH_ROUNDS timed rounds (default 5); each
# figure is the median over the repetitions.
source "$(dirname "$0")/runtime_collective_lib.sh"
run_rotating runtime_reduce_scatter_bench runtime_mpi_reduce_scatter_bench

python3 - "$work" "$reps" "$load_before" "$load_after" >>"$out" <<'PY'
import json, statistics, sys
work, reps, load0, load1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def read(name):
    # {output bytes: busbw GB/s, "barrier": us}
    with open(f"{work}/{name}") as f:
        rows = [l.split() for l in f if l.strip()]
    return {(r[0] if r[0] == "barrier" else int(r[0])): float(r[1] if r[0] == "barrier" else r[2])
            for r in rows}
def line(metric, v, unit, anchor, a, ratio, pairs, goal):
    print(json.dumps({"bench": "runtime_reduce_scatter", "metric": metric, "value": v,
                      "unit": unit, "anchor": anchor, "anchor_value": a, "ratio": round(ratio, 3),
                      "goal": goal, "reps": reps,
                      "pair_ratio_range": [round(min(pairs), 3), round(max(pairs), 3)],
                      "load": [load0, load1]}))
anchors = [("", "mpi", "Open MPI MPI_Reduce_scatter_block", "Open MPI MPI_Barrier"),
           ("_vs_ucx", "ucx", "libplait's UCX ring (PLAIT_SHM=0)",
            "libplait's UCX dissemination barrier (PLAIT_SHM=0)")]
for n in (2, 4):
    p = [read(f"shm.{n}.{r}") for r in range(1, reps + 1)]
    for sfx, files, anchor, banchor in anchors:
        m = [read(f"{files}.{n}.{r}") for r in range(1, reps + 1)]
        for size in sorted(k for k in p[0] if k != "barrier"):
            v = statistics.median(x[size] for x in p)
            a = statistics.median(x[size] for x in m)
            pairs = [x[size] / y[size] for x, y in zip(p, m)]
            goal = 1.0 if sfx == "" and size >= 64 << 10 else None
            line(f"busbw_{n}ranks_{size}B_out{sfx}", v, "GB/s", anchor + ", same ranks", a, v / a,
                 pairs, goal)
            print(f"reduce-scatter {n} ranks {size:9d} B out  busbw {v:7.3f} GB/s  ({files} {a:7.3f})"
                  f"  ratio {v / a:5.2f}  pairs {min(pairs):5.2f}-{max(pairs):5.2f}", file=sys.stderr)
        # Latency: the ratio is the anchor's time over libplait's (above 1: faster).
        v = statistics.median(x["barrier"] for x in p)
        a = statistics.median(x["barrier"] for x in m)
        pairs = [y["barrier"] / x["barrier"] for x, y in zip(p, m)]
        line(f"barrier_latency_{n}ranks{sfx}", v, "us", banchor + ", same ranks", a, a / v, pairs,
             None)
        print(f"barrier {n} ranks  {v:8.2f} us  ({files} {a:8.2f} us)  ratio {a / v:5.2f}"
              f"  pairs {min(pairs):5.2f}-{max(pairs):5.2f}", file=sys.stderr)
PY
echo "reduce-scatter: $reps repetitions, load average $load_before -> $load_after" >&2
