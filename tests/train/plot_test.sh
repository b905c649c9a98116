#!/usr/bin/env bash
# plait-plot: a metrics file becomes an SVG whose polyline has one point per
# step of the latest run (a requeued job's repeated steps replace the earlier
# ones); bad input is refused with one line.
set -euo pipefail
plot=$PLAIT_BUILD/bin/plait-plot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
    for s in 1 2 3 4 5 6; do echo "{\"step\":$s,\"loss\":$((10 - s)).5,\"lr\":0.001}"; done
    # resumed from the checkpoint of step 4: steps 5 and 6 again, lower
    for s in 5 6 7; do echo "{\"step\":$s,\"loss\":$((9 - s)).25,\"lr\":0.001}"; done
} >"$tmp/m.jsonl"
out=$("$plot" "$tmp/m.jsonl")
[ "$out" = "$tmp/m.svg" ] || { echo "printed '$out', expected $tmp/m.svg"; exit 1; }
python3 - "$tmp/m.svg" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
pts = root.find(ns + "polyline").get("points").split()
assert len(pts) == 7, pts
ys = [float(p.split(",")[1]) for p in pts]
xs = [float(p.split(",")[0]) for p in pts]
assert xs == sorted(xs), xs
# SVG y grows downwards: a falling loss has rising y
assert ys[4] > ys[3] and ys[6] > ys[5], ys
title = "".join(root.find(ns + "text").itertext())
assert "7 steps, last 2.2500" in title, title
print("svg ok:", len(pts), "points")
PY

"$plot" "$tmp/m.jsonl" -o "$tmp/other.svg" >/dev/null
[ -s "$tmp/other.svg" ]

if "$plot" "$tmp/missing.jsonl" 2>"$tmp/err"; then echo "missing file accepted"; exit 1; fi
grep -q "missing.jsonl: cannot open" "$tmp/err"
[ "$(wc -l <"$tmp/err")" -eq 1 ]
echo '{"step":1}' >"$tmp/empty.jsonl"
if "$plot" "$tmp/empty.jsonl" 2>"$tmp/err"; then echo "no points accepted"; exit 1; fi
grep -q "no step with a finite loss" "$tmp/err"
# --help on stdout, exit 0; a bad command line: one line naming it, exit 2.
"$plot" --help | grep -qx "usage: plait-plot METRICS.jsonl \[-o OUT.svg\]"
refused() { # expected-text args...
    local want=$1 rc=0
    shift
    "$plot" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || { echo "plait-plot $*: exit $rc, expected 2"; exit 1; }
    grep -qF -- "$want" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] ||
        { echo "plait-plot $*: expected one line with '$want':"; cat "$tmp/err"; exit 1; }
}
refused "unknown option '--out'" "$tmp/m.jsonl" --out x.svg
refused "-o without a file name" "$tmp/m.jsonl" -o
refused "a second metrics file '$tmp/n.jsonl'" "$tmp/m.jsonl" "$tmp/n.jsonl"
refused "no metrics file"
if "$plot" "$tmp/m.jsonl" -o "$tmp/nodir/m.svg" 2>"$tmp/err"; then echo "unwritable output accepted"; exit 1; fi
grep -q "^plait-plot: $tmp/nodir/m.svg: cannot write: No such file or directory$" "$tmp/err"
echo "plot_test: ok"
