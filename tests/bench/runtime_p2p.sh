#!/usr/bin/env bash
# Point-to-point latency and bandwidth of libplait (plait-run -n 2
# runtime_p2p_bench) against ucx_perftest tag_lat/tag_bw over the same UCX, in
# the same run, 8 B to 64 MiB, best of 3 rounds each. One JSON line per figure in
# build/bench/results.jsonl; latency ratios are anchor/value (above 1: faster).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${PLAIT_BUILD:-$top/build}
out=$build/bench/results.jsonl
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

"$build/bin/plait-run" -n 2 "$build/tests/runtime_p2p_bench" $((64 << 20)) >"$work/plait"

port=$((20000 + RANDOM % 20000))
perftest() { # test size iters -> the CSV line of final numbers
    local test=$1 size=$2 iters=$3
    port=$((port + 1))
    ucx_perftest -p "$port" >/dev/null 2>&1 &
    server=$!
    local line="" try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.2
        line=$(ucx_perftest 127.0.0.1 -p "$port" -t "$test" -s "$size" -n "$iters" \
            -w $((iters / 10 + 1)) -f -v 2>/dev/null | tail -n 1) && break
    done
    wait "$server" 2>/dev/null || true
    server=""
    echo "$line"
}

while read -r size lat bw; do
    if [ "$size" -lt 4096 ]; then iters=20000; else iters=$(( (256 << 20) / size )); fi
    [ "$iters" -gt 20000 ] && iters=20000
    [ "$iters" -lt 8 ] && iters=8
    liters=$iters; [ "$liters" -gt 2000 ] && liters=2000
    # CSV: iterations,percentile_lat,avg_lat,overall_lat,avg_bw,overall_bw,avg_mr,overall_mr
    # Best of 3, like runtime_p2p_bench.
    plat=$(for r in 1 2 3; do perftest tag_lat "$size" "$liters" | cut -d, -f4; done | sort -g | head -n 1)
    pbw=$(for r in 1 2 3; do perftest tag_bw "$size" "$iters" | cut -d, -f6; done | sort -g | tail -n 1)
    goal=null
    [ "$size" -ge $((1 << 20)) ] && goal=0.95
    python3 - "$size" "$lat" "$plat" "$bw" "$pbw" "$goal" >>"$out" <<'PY'
import json, sys
size, lat, plat, bw, pbw, goal = sys.argv[1:]
size = int(size)
def line(metric, value, unit, anchor, anchor_value, ratio, goal):
    print(json.dumps({"bench": "runtime_p2p", "metric": metric, "value": value, "unit": unit,
                      "anchor": anchor, "anchor_value": anchor_value, "ratio": ratio,
                      "goal": goal}))
lat, plat, bw, pbw = float(lat), float(plat), float(bw), float(pbw)
line(f"latency_{size}B", lat, "us", "ucx_perftest tag_lat", plat, round(plat / lat, 3), None)
line(f"bandwidth_{size}B", bw, "MiB/s", "ucx_perftest tag_bw", pbw, round(bw / pbw, 3),
     None if goal == "null" else float(goal))
PY
    printf 'p2p %9s B  latency %8.2f us (ucx_perftest %8.2f)  bandwidth %9.1f MiB/s (ucx_perftest %9.1f)\n' \
        "$size" "$lat" "$plat" "$bw" "$pbw"
done <"$work/plait"
