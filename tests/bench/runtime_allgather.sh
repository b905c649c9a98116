#!/usr/bin/env bash
# Host allgather bus bandwidth (nccl-tests' definition, sizes are the whole
# output) of libplait against Open MPI's MPI_Allgather, 2 and 4 processes on
# this node, 4 KiB to 64 MiB, in the same run, plain buffers. libplait's
# groups within a node take the shared-memory allgather; its UCX ring
# (PLAIT_SHM=0) on the same ranks is a second anchor. One JSON line per figure
# in build/bench/results.jsonl, the load average before and after in each.
#
# As runtime_allreduce.sh: the three programs alternate PLAIT_BENCH_REPS
# times (default 5), their order rotating every repetition, unbound, each
# reporting the median of PLAIT_BENCH_ROUNDS timed rounds (default 5); each
# figure is the median over the repetitions.
source "$(dirname "$0")/runtime_collective_lib.sh"
run_rotating runtime_allgather_bench runtime_mpi_allgather_bench

python3 - "$work" "$reps" "$load_before" "$load_after" >>"$out" <<'PY'
import json, statistics, sys
work, reps, load0, load1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def read(name):
    with open(f"{work}/{name}") as f:
        return {int(l.split()[0]): float(l.split()[2]) for l in f if l.strip()}
anchors = [("", "mpi", "Open MPI MPI_Allgather, same ranks"),
           ("_vs_ucx", "ucx", "libplait's UCX ring (PLAIT_SHM=0), same ranks")]
for n in (2, 4):
    p = [read(f"shm.{n}.{r}") for r in range(1, reps + 1)]
    for sfx, files, anchor in anchors:
        m = [read(f"{files}.{n}.{r}") for r in range(1, reps + 1)]
        for size in sorted(p[0]):
            v = statistics.median(x[size] for x in p)
            a = statistics.median(x[size] for x in m)
            pairs = [x[size] / y[size] for x, y in zip(p, m) if y[size] > 0]
            print(json.dumps({"bench": "runtime_allgather", "metric": f"busbw_{n}ranks_{size}B{sfx}",
                              "value": v, "unit": "GB/s", "anchor": anchor, "anchor_value": a,
                              "ratio": round(v / a, 3) if a > 0 else None, "goal": None,
                              "reps": reps,
                              "pair_ratio_range": [round(min(pairs), 3), round(max(pairs), 3)],
                              "load": [load0, load1]}))
            print(f"allgather {n} ranks {size:9d} B  busbw {v:7.3f} GB/s  ({files} {a:7.3f} GB/s)"
                  f"  ratio {v / a:5.2f}  pairs {min(pairs):5.2f}-{max(pairs):5.2f}", file=sys.stderr)
PY
echo "allgather: $reps repetitions, load average $load_before -> $load_after" >&2
