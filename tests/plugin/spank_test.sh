#!/usr/bin/env bash
# plait.so on the local cluster (2 nodes, 8 fake GPUs each, described by
# etc/topology/local-cluster.xml through the cluster's plugstack line):
# - a batch job with #SBATCH --plait-* lines: every rank's variables match the
#   contract and plait-topo's mapping, and its CPU affinity is the computed
#   set intersected with the CPUs this host has (the fake nodes claim 8 cores,
#   the host has fewer; a task none of whose cores exists keeps its CPUs);
# - bad values are refused at submission with the expected one-line message;
# - a job without plait options is untouched; --plait-placement=none only
#   exports coordinates;
# - a user's --plait-topology is read with the user's rights in the task.
set -euo pipefail
top=$PLAIT_TOP
build=$PLAIT_BUILD
fail() { echo "spank_test: $*" >&2; exit 1; }

"$top/tests/slurm/cluster" up
eval "$("$top/tests/slurm/cluster" env)"
grep -q "^required .*plait.so" "$(dirname "$SLURM_CONF")/plugstack.conf" || fail "plait.so not in plugstack.conf"

work=$(mktemp -d)
restore() { unset PLAIT_CLUSTER_PLUGIN_ARGS; "$top/tests/slurm/cluster" up >/dev/null 2>&1 || true; }
trap 'restore; rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"

# Each task reports its environment and its real affinity.
report='echo "rank=$SLURM_PROCID node=$SLURMD_NODENAME localid=$SLURM_LOCALID'\
' P_RANK=${PLAIT_RANK-} P_WORLD=${PLAIT_WORLD_SIZE-} P_LOCAL=${PLAIT_LOCAL_RANK-}'\
' P_LOCAL_SIZE=${PLAIT_LOCAL_SIZE-} P_DP=${PLAIT_DP_RANK-} P_DPS=${PLAIT_DP_SIZE-}'\
' P_TP=${PLAIT_TP_RANK-} P_TPS=${PLAIT_TP_SIZE-} P_PP=${PLAIT_PP_RANK-} P_PPS=${PLAIT_PP_SIZE-}'\
' CVD=${CUDA_VISIBLE_DEVICES-} ORDER=${CUDA_DEVICE_ORDER-} UCX=${UCX_NET_DEVICES-} NIC=${PLAIT_NIC-}'\
' P_CPUS=${PLAIT_CPUS-} CKPT=${PLAIT_CKPT_DIR-} EVERY=${PLAIT_CKPT_EVERY-}'\
' AFF=$(sed -n "s/^Cpus_allowed_list:\t//p" /proc/self/status)"'

cat >job.sh <<EOF
#!/bin/bash
#SBATCH -N 2 --ntasks-per-node=8 --gpus-per-node=8
#SBATCH --plait-layout=pp=2,tp=4
#SBATCH --plait-ckpt-dir=$work/ckpt --plait-ckpt-every=30min
echo "batch CKPT=\$PLAIT_CKPT_DIR EVERY=\$PLAIT_CKPT_EVERY RANK=\${PLAIT_RANK-none}"
srun bash -c '$report'
UCX_NET_DEVICES=lo srun bash -c 'echo "user UCX=\$UCX_NET_DEVICES NIC=\${PLAIT_NIC-}"'
EOF
sbatch --wait -o out.txt job.sh >/dev/null 2>sbatch.err || fail "plait job failed: $(cat sbatch.err out.txt)"
grep -q "^batch CKPT=$work/ckpt EVERY=30min RANK=none$" out.txt || fail "batch step: $(head -1 out.txt)"
[ "$(grep -c '^user UCX=lo NIC=mlx5_' out.txt)" = 16 ] ||
    fail "a user's UCX_NET_DEVICES was not kept: $(grep '^user' out.txt | head -2)"

"$build/bin/plait-topo" --topology "$top/etc/topology/local-cluster.xml" --nodes 2 \
    --layout pp=2,tp=4 --json >expected.json 2>/dev/null || fail "plait-topo failed"
# The CPUs a task may run on here, as slurmstepd gives them.
online=$(bash -c 'sed -n "s/^Cpus_allowed_list:\t//p" /proc/self/status')

python3 - out.txt expected.json "$online" "$work/ckpt" <<'PY' || fail "ranks do not match the contract"
import json, os, sys

def cpus(text):
    out = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out

lines = [l for l in open(sys.argv[1]) if l.startswith("rank=")]
expected = {e["rank"]: e for e in json.load(open(sys.argv[2]))}
online = cpus(sys.argv[3])
ckpt = sys.argv[4]
assert len(lines) == 16, f"{len(lines)} task lines, expected 16"
seen, gpus = set(), {}
for line in lines:
    f = dict(kv.split("=", 1) for kv in line.split())
    r = int(f["rank"])
    e = expected[r]
    seen.add(r)
    dp, tp, pp = int(f["P_DP"]), int(f["P_TP"]), int(f["P_PP"])
    assert int(f["P_RANK"]) == r, line
    assert (dp * 2 + pp) * 4 + tp == r, line                     # rank = (dp*PP+pp)*TP+tp
    assert (f["P_DPS"], f["P_TPS"], f["P_PPS"], f["P_WORLD"]) == ("2", "4", "2", "16"), line
    assert f["P_LOCAL"] == f["localid"] and f["P_LOCAL_SIZE"] == "8", line
    assert f["node"] == f"n{r // 8 + 1}", line                    # block distribution
    assert (dp, tp, pp) == (e["dp"], e["tp"], e["pp"]), line
    assert int(f["CVD"]) == e["gpu"] and f["ORDER"] == "PCI_BUS_ID", line
    assert f["NIC"] == e["nic"], line
    # UCX is pointed at the NIC only where the device exists (not on this host).
    dev, _, port = e["nic"].partition(":")
    present = os.path.exists(f"/sys/class/infiniband/{dev}/ports/{port}")
    assert f["UCX"] == (e["nic"] if present else ""), line
    assert cpus(f["P_CPUS"]) == cpus(e["cpus"]) and f["P_CPUS"], line
    want = cpus(f["P_CPUS"]) & online or online
    assert cpus(f["AFF"]) == want, f"{line}: affinity {f['AFF']}, expected {sorted(want)}"
    assert f["CKPT"] == ckpt and f["EVERY"] == "30min", line
    gpus.setdefault(f["node"], set()).add(f["CVD"])
assert seen == set(range(16))
assert all(len(g) == 8 for g in gpus.values()), gpus                 # one GPU per task
PY

# Refused at submission, with the one line that says why; nothing queued.
before=$(squeue -h | wc -l)
cat >bad.sh <<'EOF'
#!/bin/bash
#SBATCH -N 2 --ntasks-per-node=8 --gpus-per-node=8
#SBATCH --plait-layout=dp=3,tp=4,pp=2
srun true
EOF
if sbatch bad.sh >bad.out 2>bad.err; then fail "bad layout accepted: $(cat bad.out)"; fi
grep -q "plait: --plait-layout=dp=3,tp=4,pp=2: dp\*tp\*pp = 24 but the job has 16 tasks (expected a product equal to the number of tasks)" bad.err ||
    fail "unexpected refusal: $(cat bad.err)"
[ "$(squeue -h | wc -l)" = "$before" ] || fail "the refused job was queued"
refuse() {
    local want=$1; shift
    if "$@" >r.out 2>r.err; then fail "accepted: $*"; fi
    grep -qF "$want" r.err || fail "$*: expected '$want', got: $(cat r.err)"
}
refuse "plait: --plait-layout=tp=4,pp=1: tp=4 but the job has 6 tasks per node" \
    sbatch -N2 --ntasks-per-node=6 --plait-layout=tp=4,pp=1 --wrap true
refuse "plait: --plait-placement=nearest: expected topo, block or none" \
    sbatch -N1 -n2 --plait-placement=nearest --wrap true
refuse "plait: --plait-ckpt-every=5m: expected N (steps) or Tmin" \
    sbatch -N1 -n2 --plait-ckpt-every=5m --wrap true
refuse "plait: --plait-layout=dp=2,tp=2,pp=1: dp*tp*pp = 4 but the job has 3 tasks" \
    srun -N1 -n3 --plait-layout=dp=2,tp=2,pp=1 true
refuse "plait: --plait-placement=topo: 4 tasks per node but 2 GPUs per node" \
    srun -N1 --ntasks-per-node=4 --gpus-per-node=2 --plait-layout=tp=2,pp=1 true

# No plait options: no PLAIT_* variables, Slurm's GPUs, no binding.
srun -N2 --ntasks-per-node=2 --gpus-per-node=8 bash -c "$report" >plain.txt 2>&1 || fail "plain job: $(cat plain.txt)"
[ "$(grep -c '^rank=' plain.txt)" = 4 ] || fail "plain job: $(cat plain.txt)"
# srun's own notes ("queued and waiting for resources") may share the file.
if grep '^rank=' plain.txt | grep -v 'P_RANK= P_WORLD= P_LOCAL= P_LOCAL_SIZE= P_DP= P_DPS= P_TP= P_TPS= P_PP= P_PPS= CVD=0,1,2,3,4,5,6,7 ORDER= UCX= NIC= P_CPUS= CKPT= EVERY=' plain.txt | grep -q .; then
    fail "a job without plait options was changed: $(cat plain.txt)"
fi
grep -q "AFF=$online\$" plain.txt || fail "plain job affinity changed: $(cat plain.txt)"

# --plait-placement=none: coordinates only.
srun -N1 -n4 --gpus-per-node=4 --plait-layout=tp=2,pp=1 --plait-placement=none bash -c "$report" >none.txt 2>&1 ||
    fail "placement none: $(cat none.txt)"
grep -q "rank=3 .*P_RANK=3 .*P_DP=1 P_DPS=2 P_TP=1 P_TPS=2 .*CVD=0,1,2,3 ORDER= UCX= NIC= P_CPUS= " none.txt ||
    fail "placement none: $(cat none.txt)"

# A topology file the job user cannot read is not read for them: srun (run
# in a/) can read a/topo.xml, the tasks (in b/) meet b/topo.xml, root's only.
if id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
    mkdir -p a b && chmod 777 a b
    cp "$top/etc/topology/local-cluster.xml" a/topo.xml && chmod 644 a/topo.xml
    cp a/topo.xml b/topo.xml && chmod 600 b/topo.xml
    if (cd a && runuser -u nobody -- srun -N1 -n2 --gpus-per-node=2 --chdir="$work/b" \
        --plait-layout=tp=2,pp=1 --plait-topology=topo.xml true) >priv.out 2>priv.err; then
        fail "a task read a topology file its user cannot read"
    fi
    grep -q "plait: --plait-topology=topo.xml: cannot open it: Permission denied" priv.err ||
        fail "unexpected error: $(cat priv.err)"
    (cd a && runuser -u nobody -- srun -N1 -n2 --gpus-per-node=2 --plait-layout=tp=2,pp=1 \
        --plait-topology=topo.xml bash -c 'echo $(id -u) $PLAIT_RANK') >priv.ok 2>&1 ||
        fail "job as nobody: $(cat priv.ok)"
    [ "$(sort priv.ok | tr '\n' ' ')" = "65534 0 65534 1 " ] || fail "job as nobody: $(cat priv.ok)"
fi
# The admin's plait.conf: a default placement applies; an unknown key refuses
# plait jobs with file:line and leaves other jobs alone.
printf 'placement = "block";\n' >good.conf
export PLAIT_CLUSTER_PLUGIN_ARGS="topology=$top/etc/topology/local-cluster.xml config=$work/good.conf"
"$top/tests/slurm/cluster" up >/dev/null
srun -N1 -n2 --gpus-per-node=2 --plait-layout=tp=2,pp=1 bash -c 'echo $PLAIT_PLACEMENT' >adm.out 2>adm.err ||
    fail "admin default: $(cat adm.out adm.err)"
[ "$(sort -u adm.out)" = block ] || fail "admin default placement not applied: $(cat adm.out)"
# Slurm's topology.conf: n1 and n2 under two leaf switches; a missing file
# fails plait steps with its name.
printf 'SwitchName=l1 Nodes=n1\nSwitchName=l2 Nodes=n2\nSwitchName=top Switches=l[1-2]\n' >topology.conf
printf 'slurm_topology = "%s/topology.conf";\n' "$work" >leaf.conf
export PLAIT_CLUSTER_PLUGIN_ARGS="topology=$top/etc/topology/local-cluster.xml config=$work/leaf.conf"
"$top/tests/slurm/cluster" up >/dev/null
srun -N2 --ntasks-per-node=2 --gpus-per-node=2 --plait-layout=tp=2,pp=2 bash -c 'echo $PLAIT_PP_RANK' \
    >leaf.out 2>&1 || fail "job with slurm_topology: $(cat leaf.out)"
[ "$(sort leaf.out | tr '\n' ' ')" = "0 0 1 1 " ] || fail "job with slurm_topology: $(cat leaf.out)"
printf 'slurm_topology = "%s/missing.conf";\n' "$work" >leaf.conf
if srun -N1 -n2 --plait-layout=tp=2,pp=1 true >leaf.out 2>&1; then fail "missing topology.conf accepted"; fi
grep -q "plait: slurm_topology $work/missing.conf: cannot open it" leaf.out || fail "$(cat leaf.out)"

printf 'placement = "topo";\nspeed = 3;\n' >bad.conf
export PLAIT_CLUSTER_PLUGIN_ARGS="topology=$top/etc/topology/local-cluster.xml config=$work/bad.conf"
"$top/tests/slurm/cluster" up >/dev/null
refuse "plait: admin configuration: $work/bad.conf:2: unknown key 'speed'" \
    srun -N1 -n2 --plait-layout=tp=2,pp=1 true
srun -N1 -n2 true || fail "a job without plait options failed under a bad plait.conf"
restore

echo "plait.so on 2 nodes: ranks, GPUs, NICs, cores, affinity, refusals, untouched jobs: ok"
