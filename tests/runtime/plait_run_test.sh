#!/usr/bin/env bash
# plait-run's command line: bad input gets one line naming the value and what
# was expected; ranks get the placement contract; the exit status is the
# first failing rank's; an interrupt stops the ranks, a second kills them.
set -euo pipefail
run=$PLAIT_BUILD/bin/plait-run
fail() { echo "plait_run_test: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_error() { # expected-status expected-text args...
    local want=$1 text=$2 out rc=0
    shift 2
    out=$("$run" "$@" 2>&1) || rc=$?
    [ "$rc" -eq "$want" ] || fail "plait-run $*: exit $rc, expected $want ($out)"
    grep -qF -- "$text" <<<"$out" || fail "plait-run $*: no '$text' in: $out"
}

expect_error 2 "-n '0': expected a number of ranks from 1 to 4096" -n 0 true
expect_error 2 "-n N is required" true
expect_error 2 "no program given" -n 2
expect_error 2 "--layout: layout 'dp=3': dp*tp*pp = 3 but the job has 4 tasks" -n 4 --layout dp=3 true
expect_error 127 "cannot run '/nonexistent/prog'" -n 2 /nonexistent/prog
expect_error 3 "rank 1 (pid" -n 2 sh -c '[ "$PLAIT_RANK" = 1 ] && exit 3; exit 0'

# The contract: rank = (dp*PP+pp)*TP+tp, one line per rank.
out=$("$run" -n 8 --layout tp=2,pp=2 sh -c \
    'echo "$PLAIT_RANK $PLAIT_WORLD_SIZE $PLAIT_DP_RANK/$PLAIT_DP_SIZE $PLAIT_TP_RANK/$PLAIT_TP_SIZE $PLAIT_PP_RANK/$PLAIT_PP_SIZE $PLAIT_LOCAL_RANK/$PLAIT_LOCAL_SIZE"' | sort -n)
want="0 8 0/2 0/2 0/2 0/8
1 8 0/2 1/2 0/2 1/8
2 8 0/2 0/2 1/2 2/8
3 8 0/2 1/2 1/2 3/8
4 8 1/2 0/2 0/2 4/8
5 8 1/2 1/2 0/2 5/8
6 8 1/2 0/2 1/2 6/8
7 8 1/2 1/2 1/2 7/8"
[ "$out" = "$want" ] || fail "placement: got
$out"
# An interrupt: the ranks get SIGTERM and as long as they need to stop (here
# longer than the 10 s grace after a failure); a second interrupt kills them.
# plait-run exits 130 either way.
"$run" -n 1 sh -c 'trap "sleep 11; exit 75" TERM; while :; do sleep 0.1; done' 2>"$tmp/slow" &
pid=$!
sleep 1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "after one interrupt: exit $rc, expected 130 ($(cat "$tmp/slow"))"
grep -q "rank 0 (pid [0-9]*) exited with status 75" "$tmp/slow" || fail "the stopping rank was not waited for: $(cat "$tmp/slow")"
"$run" -n 2 sh -c 'trap "" TERM INT; exec sleep 60' 2>"$tmp/stuck" &
pid=$!
sleep 1
kill -INT "$pid"
sleep 0.5
kill -0 "$pid" || fail "plait-run ended before the second interrupt: $(cat "$tmp/stuck")"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "after two interrupts: exit $rc, expected 130 ($(cat "$tmp/stuck"))"
[ "$(grep -c "killed by signal 9" "$tmp/stuck")" -eq 2 ] || fail "the second interrupt did not kill both ranks: $(cat "$tmp/stuck")"
# An interrupt before every rank has joined: the ranks waiting in the
# bootstrap hear of it at once instead of waiting out the bootstrap timeout
# (300 s here); rank 1 never joins and ignores SIGTERM, so a second
# interrupt ends it.
PLAIT_TIMEOUT=300 "$run" -n 2 "$PLAIT_BUILD/tests/runtime_failure_test" never_joins 2>"$tmp/early" &
pid=$!
sleep 1
kill -INT "$pid"
for _ in $(seq 600); do
    grep -q "plait-run was interrupted (Interrupt) before every rank had joined" "$tmp/early" && break
    sleep 0.1
done
grep -q "plait-run was interrupted (Interrupt) before every rank had joined" "$tmp/early" ||
    fail "the joined rank was not told of the interrupt: $(cat "$tmp/early")"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "interrupted bootstrap: exit $rc, expected 130 ($(cat "$tmp/early"))"
echo "plait-run: options, placement contract, exit status and interrupts ok"
