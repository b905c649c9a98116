#!/usr/bin/env bash
# A rank that dies under Slurm: a batch job of plait-train on the 2 nodes of the
# local cluster (--plait-layout=dp=1,pp=2, PMI2), rank 1 killed with SIGKILL once
# training has started. Rank 0 must exit non-zero, naming rank 1 and its host,
# and the job must end on its own (PLAIT_TIMEOUT=5 bounds the wait). srun is told not to kill the step itself
# (--kill-on-bad-exit=0), so it is the runtime's detection being tested.
source "$PLAIT_TOP/tests/train/lib.sh"
[ -f "$PLAIT_BUILD/lib/plait.so" ] || { echo "plait.so not built: no --plait-layout to test"; exit 77; }
cluster=$PLAIT_TOP/tests/slurm/cluster
$cluster up
eval "$($cluster env)"
tmp=$(mktemp -d "$PLAIT_BUILD/slurm_dead_rank_test.XXXXXX")
job=""
trap '[ -n "$job" ] && scancel "$job" 2>/dev/null; rm -rf "$tmp"' EXIT
make_dataset "$tmp"
write_config "$tmp/job.cfg" "$tmp/tokens.h5" "$tmp/job.jsonl" steps=100000

# Rank 1 arms a watcher on itself, then becomes plait-train (same pid): the
# kill lands mid-run, after rank 0 has logged a step.
cat >"$tmp/rank.sh" <<RANK
#!/bin/bash
if [ "\$SLURM_PROCID" = 1 ]; then
    hostname=\$SLURMD_NODENAME
    (for _ in \$(seq 600); do [ -s $tmp/job.jsonl ] && break; sleep 0.1; done
     echo "killing rank 1 on \$hostname"; kill -9 \$\$) &
fi
exec $bin/plait-train --config $tmp/job.cfg
RANK
chmod +x "$tmp/rank.sh"
cat >"$tmp/job.sbatch" <<JOB
#!/bin/bash
#SBATCH -N 2 --ntasks-per-node=1 -o $tmp/job.out -t 2
#SBATCH --plait-layout=dp=1,pp=2
export OMP_NUM_THREADS=1 PLAIT_TIMEOUT=5
srun --mpi=pmi2 --kill-on-bad-exit=0 $tmp/rank.sh
JOB
job=$(sbatch --parsable "$tmp/job.sbatch")
if wait_job "$job"; then
    cat "$tmp/job.out"
    echo "the job completed although rank 1 died"
    exit 1
fi
cat "$tmp/job.out"
victim=$(sed -n 's/^killing rank 1 on //p' "$tmp/job.out")
[ -n "$victim" ] || { echo "rank 1 was never killed"; exit 1; }
grep "^plait-train: rank 0 " "$tmp/job.out" | grep -qF "rank 1 (host $victim)" ||
    { echo "rank 0 did not report rank 1 on $victim"; exit 1; }
grep -qE "task 0: Exited with exit code [1-9]" "$tmp/job.out" ||
    { echo "rank 0 did not exit non-zero"; exit 1; }
grep -q "^step " "$tmp/job.out" || { echo "never trained"; exit 1; }
echo "slurm_dead_rank_test: ok"
