#!/usr/bin/env bash
# Stop and resume: a dp=2,pp=2 ZB-H1 run sent SIGTERM at a random step finishes that
# step, checkpoints, exits; started again it resumes there and ends with
# parameters and optimizer moments identical, byte for byte, to a run that
# was never interrupted (h5diff of the exported checkpoints), and the same
# losses from the resumed step on. A flipped byte in the last checkpoint makes
# the next start fall back to the previous one. Resumed on another layout
# (tp=2), the checkpoint reshards and the loss carries on within 1e-4. Ctrl-C
# (SIGINT to the process group) checkpoints like SIGTERM.
source "$PLAIT_TOP/tests/train/lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
make_dataset "$tmp"

# A model big enough that 20 steps take a few seconds: the signal lands mid-run.
config() { # name
    write_config "$tmp/$1.cfg" "$tmp/tokens.h5" "$tmp/$1.jsonl" ckpt_dir="$tmp/$1.ckpt" ckpt_every=5 \
        schedule=zb-h1
    sed -i 's/context = 16; layers = 4; heads = 4; dim = 32;/context = 64; layers = 4; heads = 4; dim = 64;/' \
        "$tmp/$1.cfg"
}
train() { # name layout ranks
    "$bin/plait-run" -n "$3" --layout "$2" -- "$bin/plait-train" --config "$tmp/$1.cfg"
}

config straight
train straight dp=2,pp=2 4 >"$tmp/straight.out"
config stopped
"$bin/plait-run" -n 4 --layout dp=2,pp=2 -- "$bin/plait-train" --config "$tmp/stopped.cfg" \
    >"$tmp/stopped.out" 2>"$tmp/stopped.err" &
run=$!
pids+=("$run")
at=$((RANDOM % 8 + 3))
for _ in $(seq 1200); do
    [ -f "$tmp/stopped.jsonl" ] && [ "$(wc -l <"$tmp/stopped.jsonl")" -ge "$at" ] && break
    sleep 0.05
done
kill -TERM "$run"
if wait "$run"; then echo "exited 0 after SIGTERM"; exit 1; fi
cat "$tmp/stopped.err"
[ "$(grep -c 'exited with status 75' "$tmp/stopped.err")" -eq 4 ] || { echo "not every rank exited 75"; exit 1; }
stop=$(sed -n 's/^stopping after step \([0-9]*\) on a signal, checkpoint written$/\1/p' "$tmp/stopped.out")
[ -n "$stop" ] || { echo "no checkpoint on SIGTERM:"; tail -n 3 "$tmp/stopped.out"; exit 1; }
[ "$stop" -lt 20 ] || { echo "the run ended before the signal (step $stop)"; exit 1; }
echo "SIGTERM after step $at was seen: stopped after step $stop"
grep -qx "step-$(printf %08d "$stop")" "$tmp/stopped.ckpt/latest"
cp -r "$tmp/stopped.ckpt" "$tmp/reshard.ckpt"

train stopped dp=2,pp=2 4 >"$tmp/resumed.out"
grep "^resumed from .*step-$(printf %08d "$stop") at step $stop" "$tmp/resumed.out"
grep -q "^step $((stop + 1))/20 " "$tmp/resumed.out"
"$bin/plait-ckpt" export "$tmp/straight.ckpt" "$tmp/straight.h5" >/dev/null
"$bin/plait-ckpt" export "$tmp/stopped.ckpt" "$tmp/stopped.h5" >/dev/null
h5diff "$tmp/straight.h5" "$tmp/stopped.h5" || { echo "final checkpoints differ"; exit 1; }
echo "final parameters and moments identical"
# Every loss from the resumed step on, as written (9 significant digits).
diff <(tail -n $((20 - stop)) "$tmp/straight.jsonl" | sed 's/"step_s.*//') \
    <(tail -n $((20 - stop)) "$tmp/stopped.jsonl" | sed 's/"step_s.*//')

# One flipped byte in a shard of the last checkpoint: the next start falls back
# to the one before, with a warning naming the shard, and trains the same steps
# again to the same end.
shard=$tmp/straight.ckpt/step-00000020/shard-00001.h5
python3 - "$shard" <<'PY'
import os, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0xFF]))
PY
train straight dp=2,pp=2 4 >"$tmp/fallback.out" 2>"$tmp/fallback.err"
grep "shard-00001" "$tmp/fallback.err" || { echo "no warning naming the shard:"; cat "$tmp/fallback.err"; exit 1; }
grep "^resumed from .*step-00000015 at step 15" "$tmp/fallback.out"
"$bin/plait-ckpt" export "$tmp/straight.ckpt" "$tmp/fallback.h5" >/dev/null
h5diff "$tmp/fallback.h5" "$tmp/stopped.h5" || { echo "the retrained end differs"; exit 1; }
echo "corrupt checkpoint skipped; retrained to the same parameters"

config reshard
train reshard tp=2 2 >"$tmp/reshard.out"
grep "^resumed from .* (saved with dp=2 tp=1 pp=2" "$tmp/reshard.out"
python3 - "$tmp/straight.jsonl" "$tmp/reshard.jsonl" "$stop" <<'PY'
import json, sys
a = {j["step"]: j["loss"] for j in map(json.loads, open(sys.argv[1]))}
b = [json.loads(l) for l in open(sys.argv[2])]
b = {j["step"]: j["loss"] for j in b if j["step"] > int(sys.argv[3])}
assert sorted(b) == list(range(int(sys.argv[3]) + 1, 21)), sorted(b)
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in b)
print(f"resharded to tp=2: max relative loss difference {worst:.3g}")
assert worst < 1e-4
PY
# Ctrl-C at a terminal: SIGINT to plait-run and every rank (one process group).
# The ranks finish the step, checkpoint and exit 75; plait-run waits for them
# and exits 130.
config interrupted
setsid "$bin/plait-run" -n 4 --layout dp=2,pp=2 -- "$bin/plait-train" --config "$tmp/interrupted.cfg" \
    >"$tmp/interrupted.out" 2>"$tmp/interrupted.err" &
run=$!
pids+=("$run")
for _ in $(seq 1200); do
    [ -f "$tmp/interrupted.jsonl" ] && [ "$(wc -l <"$tmp/interrupted.jsonl")" -ge 3 ] && break
    sleep 0.05
done
kill -INT -- -"$run"
rc=0
wait "$run" || rc=$?
cat "$tmp/interrupted.err"
[ "$rc" -eq 130 ] || { echo "plait-run exited $rc after Ctrl-C; expected 130"; exit 1; }
[ "$(grep -c 'exited with status 75' "$tmp/interrupted.err")" -eq 4 ] || { echo "not every rank exited 75"; exit 1; }
stop=$(sed -n 's/^stopping after step \([0-9]*\) on a signal, checkpoint written$/\1/p' "$tmp/interrupted.out")
[ -n "$stop" ] || { echo "no checkpoint on Ctrl-C:"; tail -n 3 "$tmp/interrupted.out"; exit 1; }
grep -qx "step-$(printf %08d "$stop")" "$tmp/interrupted.ckpt/latest"
"$bin/plait-ckpt" verify "$tmp/interrupted.ckpt"
echo "Ctrl-C: stopped after step $stop with a checkpoint"
echo "resume_test: ok"
