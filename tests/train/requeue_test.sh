#!/usr/bin/env bash
# Preemption on the local Slurm cluster: an sbatch --requeue job of 4 ranks on
# 2 nodes (dp=2,pp=2) is sent SIGUSR1 mid-run (scancel --signal=USR1); every
# rank finishes its step, they checkpoint, exit 75, the batch script requeues
# the job (scontrol requeue); it starts again, logs SLURM_RESTART_COUNT=1 and
# resumes. Mid-way through that run an outside `scontrol requeue` makes Slurm
# send SIGTERM: the ranks checkpoint again within KillWait, the job comes back
# a second time (SLURM_RESTART_COUNT=2) and ends with parameters identical,
# byte for byte, to an uninterrupted job's.
source "$PLAIT_TOP/tests/train/lib.sh"
cluster=$PLAIT_TOP/tests/slurm/cluster
$cluster up
eval "$($cluster env)"
# Batch jobs run from here and read it: a directory every "node" sees.
tmp=$(mktemp -d "$PLAIT_BUILD/requeue_test.XXXXXX")
jobs=()
trap 'for j in "${jobs[@]}"; do scancel "$j" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
make_dataset "$tmp"

job() { # name [extra sbatch options]: submits, prints the job id
    local name=$1
    shift
    write_config "$tmp/$name.cfg" "$tmp/tokens.h5" "$tmp/$name.jsonl" ckpt_dir="$tmp/$name.ckpt" \
        ckpt_every=5 steps=60
    sed -i 's/context = 16; layers = 4; heads = 4; dim = 32;/context = 64; layers = 4; heads = 4; dim = 64;/' \
        "$tmp/$name.cfg"
    cat >"$tmp/$name.sbatch" <<JOB
#!/bin/bash
#SBATCH -N 2 --ntasks-per-node=2 --open-mode=append -o $tmp/$name.out
export OMP_NUM_THREADS=1 PLAIT_LAYOUT=dp=2,pp=2 PLAIT_TIMEOUT=60
srun --mpi=pmi2 $bin/plait-train --config $tmp/$name.cfg
rc=\$?
[ \$rc -eq 75 ] && scontrol requeue \$SLURM_JOB_ID
exit \$rc
JOB
    sbatch --parsable "$@" "$tmp/$name.sbatch"
}

straight=$(job straight)
jobs+=("$straight")
wait_job "$straight" || { cat "$tmp/straight.out"; exit 1; }

stopped=$(job stopped --requeue)
jobs+=("$stopped")
for _ in $(seq 1800); do
    [ -f "$tmp/stopped.jsonl" ] && [ "$(wc -l <"$tmp/stopped.jsonl")" -ge 5 ] && break
    sleep 0.1
done
scancel --signal=USR1 "$stopped"
# Back from the first requeue and a few steps further: requeue it from outside.
for _ in $(seq 1800); do
    grep -q "SLURM_RESTART_COUNT=1)" "$tmp/stopped.out" 2>/dev/null &&
        [ "$(grep -c '^step ' "$tmp/stopped.out")" -ge 10 ] && break
    sleep 0.1
done
scontrol requeue "$stopped"
wait_job "$stopped" || { cat "$tmp/stopped.out"; exit 1; }
cat "$tmp/stopped.out"
[ "$(grep -c "^stopping after step [0-9]* on a signal, checkpoint written" "$tmp/stopped.out")" -eq 2 ]
grep -q "^resumed from .* (saved with dp=2 tp=1 pp=2; SLURM_RESTART_COUNT=1)" "$tmp/stopped.out"
grep -q "^resumed from .* (saved with dp=2 tp=1 pp=2; SLURM_RESTART_COUNT=2)" "$tmp/stopped.out"
grep -q "^step 60/60 " "$tmp/stopped.out"

"$bin/plait-ckpt" export "$tmp/straight.ckpt" "$tmp/straight.h5" >/dev/null
"$bin/plait-ckpt" export "$tmp/stopped.ckpt" "$tmp/stopped.h5" >/dev/null
h5diff "$tmp/straight.h5" "$tmp/stopped.h5" || { echo "final checkpoints differ"; exit 1; }
echo "requeue_test: requeued job ends with the uninterrupted job's parameters"
