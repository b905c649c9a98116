#!/usr/bin/env bash
# libplait across the 2 nodes of the local Slurm cluster: srun --mpi=pmi2
# starts 4 ranks (2 per node), they bootstrap through PMI2 and run the whole
# collectives test with a dp=2,tp=2 layout: the world takes the hierarchical
# allreduce (2 nodes x 2 ranks), DP the UCX algorithms (one rank per node),
# TP the node-local path, and the test checks each took its own. Without
# --mpi=pmi2 the ranks must refuse with one line that says what to do.
set -euo pipefail
cluster=$PLAIT_TOP/tests/slurm/cluster
test=$PLAIT_BUILD/tests/runtime_collectives_test
fail() { echo "srun_test: $*" >&2; exit 1; }

$cluster up
eval "$($cluster env)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

srun --mpi=pmi2 -N2 --ntasks-per-node=2 -o "$work/out.%t" \
    env PLAIT_LAYOUT=dp=2,tp=2 PLAIT_TIMEOUT=120 "$test" || {
    tail -n 5 "$work"/out.*
    fail "srun --mpi=pmi2 -N2 -n4 $test failed"
}
for t in 0 1 2 3; do
    grep -q "^collectives rank $t: [0-9]* checks, 0 failed$" "$work/out.$t" ||
        fail "task $t: $(tail -n 3 "$work/out.$t")"
    grep -q "^bootstrap: pmi2" "$work/out.$t" || fail "task $t did not bootstrap through PMI2"
done
# The two nodes of the cluster: ranks 0-1 on n1, 2-3 on n2 (block placement).
grep -q "^bootstrap: pmi2 host n2 placement " "$work/out.3" || fail "task 3 not on n2: $(head -n 1 "$work/out.3")"

# With the plugin built (its branch merged), its --plait-layout reaches the
# runtime through the PLAIT_* contract instead of the SLURM_* fallback
# (placement=none: coordinates only, the fake GPUs have no topology).
if [ -f "$PLAIT_BUILD/lib/plait.so" ]; then
    srun --mpi=pmi2 -N2 --ntasks-per-node=2 --gpus-per-node=2 --plait-layout=dp=2,tp=2 --plait-placement=none \
        -o "$work/plugin.%t" env PLAIT_TIMEOUT=120 "$test" || {
        tail -n 5 "$work"/plugin.*
        fail "srun --plait-layout=dp=2,tp=2 $test failed"
    }
    for t in 0 1 2 3; do
        grep -q "^collectives rank $t: [0-9]* checks, 0 failed$" "$work/plugin.$t" ||
            fail "plugin task $t: $(tail -n 3 "$work/plugin.$t")"
        grep -q "placement PLAIT_\*$" "$work/plugin.$t" || fail "plugin task $t did not get PLAIT_*"
    done
    echo "with the plugin: --plait-layout=dp=2,tp=2 through the PLAIT_* contract"
else
    grep -q "placement SLURM_\*$" "$work/out.0" || fail "without the plugin task 0 did not use SLURM_*"
    echo "plugin not built here ($PLAIT_BUILD/lib/plait.so): SLURM_* fallback only"
fi

# A rank killed under srun (no plait-run to report it) in the world's
# hierarchical allreduce: every survivor names it and its node, and the step
# fails. Rank 3 shares n2 with it (the process check), rank 0 leads n1 and
# waits for it over UCX (PLAIT_TIMEOUT), rank 1 waits for rank 0 and takes
# over its line.
if srun --mpi=pmi2 -N2 --ntasks-per-node=2 env PLAIT_TIMEOUT=5 \
    "$PLAIT_BUILD/tests/runtime_failure_test" kill >"$work/kill" 2>&1; then
    fail "srun with a killed rank should fail"
fi
for r in 0 1 3; do
    grep -q "^rank $r: peer rank 2 (host n2)" "$work/kill" || fail "rank $r did not name rank 2 on n2: $(cat "$work/kill")"
done

if srun -N2 --ntasks-per-node=1 "$test" >"$work/nopmi" 2>&1; then
    fail "srun without --mpi=pmi2 should fail"
fi
grep -q "expected 'srun --mpi=pmi2'" "$work/nopmi" || fail "no hint about --mpi=pmi2: $(cat "$work/nopmi")"
echo "4 ranks on 2 nodes over PMI2: every collective matched its reference"
