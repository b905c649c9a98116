# Sourced by runtime_allgather.sh and runtime_reduce_scatter.sh: the setup and
# the rotation of the three programs they compare. Sets top, build, out (the
# results file), reps (PLAIT_BENCH_REPS, default 5), rounds
# (PLAIT_BENCH_ROUNDS, default 5) and work (a directory removed at exit).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${PLAIT_BUILD:-$top/build}
out=$build/bench/results.jsonl
reps=${PLAIT_BENCH_REPS:-5}
rounds=${PLAIT_BENCH_ROUNDS:-5}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_rotating PLAIT_PROG MPI_PROG (programs in $build/tests): for each of
# $reps repetitions and 2 and 4 ranks, libplait's node-local path (shm), Open
# MPI (mpi) and libplait's UCX algorithms (ucx, PLAIT_SHM=0), unbound, their
# order rotating every repetition; each program's output in
# $work/<shm|mpi|ucx>.<ranks>.<repetition>. Sets load_before and load_after.
run_rotating() {
    local plait=$build/tests/$1 mpi=$build/tests/$2 progs=(shm mpi ucx) rep n i p
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    for rep in $(seq "$reps"); do
        for n in 2 4; do
            for i in 0 1 2; do
                p=${progs[$(((i + rep) % 3))]}
                case $p in
                shm) "$build/bin/plait-run" -n "$n" "$plait" "$rounds" plain ;;
                ucx) PLAIT_SHM=0 "$build/bin/plait-run" -n "$n" "$plait" "$rounds" plain ;;
                mpi) mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$n" \
                    "$mpi" "$rounds" plain ;;
                esac >"$work/$p.$n.$rep"
            done
        done
    done
    load_after=$(cut -d' ' -f1 /proc/loadavg)
}
