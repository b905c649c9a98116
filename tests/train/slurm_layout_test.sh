#!/usr/bin/env bash
# The 8-rank layout as a real batch job: sbatch with #SBATCH --plait-layout=
# dp=2,tp=2,pp=2 on the 2 nodes of the local Slurm cluster (plait.so places the
# ranks, PMI2 bootstraps them) gives the loss curve of one process within 1e-4.
source "$PLAIT_TOP/tests/train/lib.sh"
[ -f "$PLAIT_BUILD/lib/plait.so" ] || { echo "plait.so not built: no --plait-layout to test"; exit 77; }
cluster=$PLAIT_TOP/tests/slurm/cluster
$cluster up
eval "$($cluster env)"
tmp=$(mktemp -d "$PLAIT_BUILD/slurm_layout_test.XXXXXX")
job=""
trap '[ -n "$job" ] && scancel "$job" 2>/dev/null; rm -rf "$tmp"' EXIT
make_dataset "$tmp"

write_config "$tmp/single.cfg" "$tmp/tokens.h5" "$tmp/single.jsonl"
"$bin/plait-train" --config "$tmp/single.cfg" >/dev/null

write_config "$tmp/job.cfg" "$tmp/tokens.h5" "$tmp/job.jsonl"
cat >"$tmp/job.sbatch" <<JOB
#!/bin/bash
#SBATCH -N 2 --ntasks-per-node=4 -o $tmp/job.out
#SBATCH --plait-layout=dp=2,tp=2,pp=2
export OMP_NUM_THREADS=1 PLAIT_TIMEOUT=120
srun --mpi=pmi2 $bin/plait-train --config $tmp/job.cfg
JOB
job=$(sbatch --parsable "$tmp/job.sbatch")
wait_job "$job" || { cat "$tmp/job.out"; exit 1; }
cat "$tmp/job.out"
grep -q "^plait-train: 8 ranks (dp=2 tp=2 pp=2, pmi2)" "$tmp/job.out"
compare_curves "$tmp/single.jsonl" "$tmp/job.jsonl"
echo "slurm_layout_test: ok"
