#!/usr/bin/env bash
# kill -9 of every rank while a checkpoint is being written: the next load
# uses the newest committed one, intact, and the leftovers are never read.
set -euo pipefail
: "${PLAIT_BUILD:?}"
driver=$PLAIT_BUILD/tests/io_ckpt_driver ckpt=$PLAIT_BUILD/bin/plait-ckpt
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
rows=1024 cols=8192 # 32 MiB per checkpoint, two shards

for round in 1 2 3; do
    dir=$tmp/ck$round
    : >"$tmp/log"
    "$driver" write "$dir" 2 1 1000000 $rows $cols 2 >"$tmp/log" &
    pid=$!
    # Wait for a committed step and a save in flight, then kill at a
    # different moment of the write each round.
    for _ in $(seq 600); do
        if grep -q committed "$tmp/log" && compgen -G "$dir/.tmp-step-*" >/dev/null; then break; fi
        sleep 0.05
    done
    sleep "0.0$((round * 3))"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    left=$(compgen -G "$dir/.tmp-step-*" || true)
    last=$(grep committed "$tmp/log" | tail -n 1 | awk '{print $3}')
    [ -n "$last" ] || fail "round $round: nothing committed before the kill"
    "$driver" check "$dir" 3 $rows $cols >"$tmp/out" || fail "round $round: load failed"
    loaded=$(awk '{print $3}' "$tmp/out")
    # The step printed last is committed; one more may have been committed
    # between its rename and the kill.
    [ "$loaded" -eq "$last" ] || [ "$loaded" -eq $((last + 1)) ] ||
        fail "round $round: loaded step $loaded, last committed $last"
    "$ckpt" verify "$dir/step-$(printf %08d "$loaded")" >/dev/null
    echo "round $round: killed after step $last, loaded step $loaded; left: ${left:-nothing}"
done
echo "kill ok"
