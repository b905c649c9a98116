#!/usr/bin/env bash
# plait-topo: text, --json and --svg output for the shipped topologies, the
# modelled costs, and one-line errors for bad input.
set -euo pipefail
topo=$PLAIT_BUILD/bin/plait-topo
fixtures=$PLAIT_TOP/etc/topology
fail() { echo "topo_test: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Text: a header, one table per node, one row per GPU, the costs.
"$topo" --topology "$fixtures/pcie-4gpu-nvlink.xml" --nodes 2 --layout tp=2,pp=2 >"$work/out.txt"
grep -q "2 node(s) x 4 tasks, dp=2,tp=2,pp=2, placement topo, NVLink from hwloc" "$work/out.txt" ||
    fail "header: $(head -1 "$work/out.txt")"
[ "$(grep -c '^node ' "$work/out.txt")" = 2 ] || fail "expected 2 node tables"
[ "$(grep -c '0000:' "$work/out.txt")" = 8 ] || fail "expected 8 GPU rows"
grep -Eq "^modelled communication cost per step: topo [0-9.]+ ms, block [0-9.]+ ms \(topo [0-9.]+% lower\)$" \
    "$work/out.txt" || fail "cost line: $(tail -1 "$work/out.txt")"
# NVLink joins GPUs 0 and 2: rank 0's tensor-parallel partner is on GPU 2.
grep -Eq "^  2 +0000:3b:00.0 +1 " "$work/out.txt" || fail "rank 1 not on GPU 2: $(cat "$work/out.txt")"

# JSON: one object per rank with the contract's keys; costs on stderr.
"$topo" --topology "$fixtures/dgx-h100.xml" --nodes 4 --layout tp=8,pp=2 --json \
    >"$work/out.json" 2>"$work/err.txt"
python3 - "$work/out.json" <<'PY' || fail "bad JSON"
import json, sys
ranks = json.load(open(sys.argv[1]))
assert len(ranks) == 32
for e in ranks:
    for k in ("rank", "node", "gpu", "dp", "tp", "pp", "cpus", "nic"):
        assert k in e, (k, e)
    assert e["rank"] == (e["dp"] * 2 + e["pp"]) * 8 + e["tp"], e
    assert e["node"] == e["rank"] // 8
for n in range(4):
    assert sorted(e["gpu"] for e in ranks if e["node"] == n) == list(range(8))
PY
grep -q "^modelled communication cost per step: topo" "$work/err.txt" || fail "no cost on stderr"

# SVG: a picture of every node.
"$topo" --topology "$fixtures/pcie-8gpu-2socket.xml" --nodes 2 --layout tp=2,pp=2 \
    --svg "$work/p.svg" >/dev/null
head -c 5 "$work/p.svg" | grep -q '<svg' || fail "not an SVG"
[ "$(grep -c 'rank ' "$work/p.svg")" = 16 ] || fail "SVG does not show 16 ranks"
python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" "$work/p.svg" ||
    fail "SVG is not well-formed XML"

# Block placement, leaf switches, the config checker.
"$topo" --topology "$fixtures/dgx-h100.xml" --nodes 4 --layout tp=8,pp=4 --placement block \
    --leaf-nodes 2 | grep -q "placement block" || fail "--placement block"
"$topo" --check-config "$PLAIT_TOP/etc/plait.conf" | grep -q ": ok" || fail "etc/plait.conf"
printf 'SwitchName=a Nodes=n[1-2]\nSwitchName=b Nodes=n[3-4]\n' >"$work/topology.conf"
"$topo" --topology "$fixtures/dgx-h100.xml" --layout tp=8,pp=4 --slurm-topology "$work/topology.conf" \
    --nodelist 'n[1-4]' >"$work/leaf.txt"
grep -q "^node 2 (n3), leaf switch 1$" "$work/leaf.txt" || fail "leaf switches: $(cat "$work/leaf.txt")"

# Errors: one line naming the thing and what is expected; exit 2 (1 for a
# bad config file).
expect_error() {
    local want=$1 code=$2; shift 2
    local rc=0
    "$topo" "$@" >"$work/o" 2>"$work/e" || rc=$?
    [ "$rc" = "$code" ] || fail "$*: exit $rc, expected $code"
    grep -qF -- "$want" "$work/e" || fail "$*: expected '$want', got: $(cat "$work/e")"
    [ "$(wc -l <"$work/e")" -le 1 ] || [ "$code" = 2 ] || fail "$*: more than one line"
}
expect_error "plait-topo: --layout=dp=3,tp=8,pp=1: dp*tp*pp = 24 but the job has 16 tasks" 2 \
    --topology "$fixtures/dgx-h100.xml" --nodes 2 --tasks-per-node 8 --layout dp=3,tp=8,pp=1
expect_error "plait-topo: --topology=/nonexistent.xml: cannot open it" 2 \
    --topology /nonexistent.xml --layout tp=2,pp=1
expect_error "plait-topo: --nodes=zero: expected a positive integer" 2 --nodes zero --layout tp=1,pp=1
expect_error "plait-topo: --placement=none: expected topo or block" 2 \
    --topology "$fixtures/dgx-h100.xml" --layout tp=8,pp=1 --placement none
expect_error "the tensor-parallel group of rank 4 (ranks 4-7) is split across nodes" 2 \
    --topology "$fixtures/dgx-h100.xml" --nodes 2 --tasks-per-node 6 --layout tp=4,pp=3
expect_error "--slurm-topology needs --nodelist" 2 \
    --topology "$fixtures/dgx-h100.xml" --layout tp=8,pp=1 --slurm-topology "$work/topology.conf"
printf 'placement = "topo";\nspeed = 3;\n' >"$work/bad.conf"
expect_error "$work/bad.conf:2: unknown key 'speed'" 1 --check-config "$work/bad.conf"
echo "plait-topo: text, JSON, SVG, errors: ok"
