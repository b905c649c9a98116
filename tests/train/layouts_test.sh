#!/usr/bin/env bash
# Same math whatever the layout: for a fixed seed and global batch, 1 process,
# dp=2 (gradient all-reduce overlapped with the backward or not: the same sums,
# so the same losses exactly), tp=2, pp=2 (1F1B and ZB-H1: the same passes in
# another order, each gradient summed in the same order, so the same losses
# exactly), pp=3 (layers 2 + 1 + 1), pp=4 (ZB-H1) and dp=2,tp=2,pp=2 give the loss curve of one process
# (fp32 on the CPU) within 1e-4 relative, over 20 steps, through plait-run.
# The loss must also fall.
source "$PLAIT_TOP/tests/train/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_dataset "$tmp"

run_layout single 1 dp=1
python3 - "$tmp/single.jsonl" <<'PY'
import json, sys
loss = [json.loads(l)["loss"] for l in open(sys.argv[1])]
assert len(loss) == 20, len(loss)
assert loss[-1] < loss[0] - 0.5, loss
print(f"single: loss {loss[0]:.4f} -> {loss[-1]:.4f}")
PY
run_layout dp2 2 dp=2
run_layout dp2-serial 2 dp=2 overlap=false
run_layout tp2 2 tp=2
run_layout pp2 2 pp=2
run_layout pp2-zb 2 pp=2 schedule=zb-h1
run_layout pp3 3 pp=3
run_layout pp4-zb 4 pp=4 schedule=zb-h1
run_layout dp2tp2pp2 8 dp=2,tp=2,pp=2
for name in dp2 dp2-serial tp2 pp2 pp2-zb pp3 pp4-zb dp2tp2pp2; do
    compare_curves "$tmp/single.jsonl" "$tmp/$name.jsonl"
done
compare_curves "$tmp/dp2.jsonl" "$tmp/dp2-serial.jsonl" 1e-12
compare_curves "$tmp/pp2.jsonl" "$tmp/pp2-zb.jsonl" 1e-12
grep -q "dp=2 tp=2 pp=2" "$tmp/dp2tp2pp2.log"
echo "layouts_test: ok"
