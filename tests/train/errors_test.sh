#!/usr/bin/env bash
# Bad input stops plait-train before any work with one line naming the thing,
# the value and what was expected, and a non-zero exit: an unknown argument,
# a bad config (file:line), a layout the model cannot be split over, a missing
# dataset, a checkpoint directory that cannot be made. A rank that dies makes
# the others exit non-zero naming it. A closed stdout does not stop a run.
source "$PLAIT_TOP/tests/train/lib.sh"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
make_dataset "$tmp"

# refused EXPECTED-TEXT COMMAND...: fails, says EXPECTED-TEXT on one line, trains
# nothing. (plait-run adds a line per rank about its exit status.)
refused() {
    local want=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then echo "accepted: $*"; exit 1; fi
    grep -q "^step " "$tmp/out" && { echo "trained before refusing: $*"; exit 1; }
    grep -qF -- "$want" "$tmp/err" || { echo "expected '$want' in:"; cat "$tmp/err"; exit 1; }
    [ "$(grep -vc '^plait-run: rank' "$tmp/err")" -eq 1 ] || {
        echo "more than one line:"
        cat "$tmp/err"
        exit 1
    }
    echo "refused: $(grep -v '^plait-run: rank' "$tmp/err")"
}

"$bin/plait-train" --help | grep -q "^SIGUSR1, SIGTERM, Ctrl-C: checkpoint after the step and exit 75"
refused "unknown argument '--confg'" "$bin/plait-train" --confg x.cfg
refused "missing --config FILE" "$bin/plait-train"
refused "nope.cfg: cannot read" "$bin/plait-train" --config "$tmp/nope.cfg"
refused "--config without a FILE" "$bin/plait-train" --config
refused "$tmp: cannot read: a directory; expected a readable libconfig file" "$bin/plait-train" --config "$tmp"

write_config "$tmp/good.cfg" "$tmp/tokens.h5" ""
sed 's/seed = 1234;/seed = 1234;\nlearning_rate = 0.1;/' "$tmp/good.cfg" >"$tmp/unknown.cfg"
refused "unknown.cfg:6: unknown key 'learning_rate'" "$bin/plait-train" --config "$tmp/unknown.cfg"
sed 's/micro = 2;/micro = "two";/' "$tmp/good.cfg" >"$tmp/type.cfg"
refused "type.cfg:3: batch.micro: a string; expected an integer" \
    "$bin/plait-train" --config "$tmp/type.cfg"
sed 's/steps = 20;/steps = 0;/' "$tmp/good.cfg" >"$tmp/range.cfg"
refused "range.cfg:4: steps: 0 is out of range; expected an integer from 1" \
    "$bin/plait-train" --config "$tmp/range.cfg"
write_config "$tmp/bf16.cfg" "$tmp/tokens.h5" "" precision=bf16
refused "bf16.cfg:12: precision: \"bf16\" needs device = \"cuda\"" \
    "$bin/plait-train" --config "$tmp/bf16.cfg"
refused "PLAIT_CKPT_EVERY: 'often'" env PLAIT_CKPT_EVERY=often "$bin/plait-train" --config "$tmp/good.cfg"

# Known only with the layout: every rank knows it, rank 0 says it.
refused "good.cfg:1: model.heads: 4 heads cannot be split over tp=3" \
    "$bin/plait-run" -n 3 --layout tp=3 -- "$bin/plait-train" --config "$tmp/good.cfg"
refused "batch.global: 8 is not a multiple of batch.micro 2 x dp 3" \
    "$bin/plait-run" -n 3 --layout dp=3 -- "$bin/plait-train" --config "$tmp/good.cfg"

write_config "$tmp/nodata.cfg" "$tmp/missing.h5" ""
refused "missing.h5" "$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" --config "$tmp/nodata.cfg"
# Rank 0 prepares the checkpoint directory; its reason is said once.
write_config "$tmp/nockpt.cfg" "$tmp/tokens.h5" "" ckpt_dir="$tmp/good.cfg/ckpt"
refused "cannot create checkpoint directory '$tmp/good.cfg/ckpt': Not a directory" \
    "$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" --config "$tmp/nockpt.cfg"

# A rank killed mid-run: the others stop, naming it.
write_config "$tmp/long.cfg" "$tmp/tokens.h5" "$tmp/long.jsonl" steps=100000
"$bin/plait-run" -n 2 --layout pp=2 -- "$bin/plait-train" --config "$tmp/long.cfg" \
    >"$tmp/long.out" 2>"$tmp/long.err" &
run=$!
pids+=("$run")
for _ in $(seq 600); do [ -s "$tmp/long.jsonl" ] && break; sleep 0.1; done
[ -s "$tmp/long.jsonl" ] || { echo "never trained"; cat "$tmp/long.err"; exit 1; }
victim=$(pgrep -P "$run" | sort -n | tail -n 1)
kill -9 "$victim"
if wait "$run"; then echo "plait-run succeeded after a rank died"; exit 1; fi
cat "$tmp/long.err"
grep -q "plait-train: rank 0" "$tmp/long.err" || { echo "rank 0 did not report the failure"; exit 1; }
grep "plait-train: rank 0" "$tmp/long.err" | grep -q "rank 1" || { echo "rank 1 not named"; exit 1; }
# A closed stdout (plait-train | head) costs the progress lines, not the run:
# it trains to the end and leaves its checkpoint. The pipe is closed before
# plait-train starts, so its first line meets it.
write_config "$tmp/pipe.cfg" "$tmp/tokens.h5" "" steps=4 ckpt_dir="$tmp/pipe-ck"
/usr/bin/python3 - "$bin/plait-train" --config "$tmp/pipe.cfg" <<'PY' || { echo "plait-train died on a closed stdout"; exit 1; }
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
rc = subprocess.call(sys.argv[1:], stdout=w)
sys.exit(0 if rc == 0 else 1)
PY
[ -e "$tmp/pipe-ck/latest" ] || { echo "no checkpoint after a closed stdout"; exit 1; }

echo "errors_test: ok"
