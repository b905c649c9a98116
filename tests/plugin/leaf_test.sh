#!/usr/bin/env bash
# Pipelines under one leaf switch, on 4 nodes of the local cluster whose
# topology.conf (given to plait.so as slurm_topology) puts n1,n3 under s1 and
# n2,n4 under s2:
# - with tp=2,pp=2 on 2 tasks per node the two pipelines go to {n1,n3} and
#   {n2,n4}: PLAIT_RANK is Slurm's task id moved by whole nodes, every task's
#   coordinates follow it, and plait-topo shows the same nodes for each rank;
# - the runtime's collectives test passes under srun --mpi=pmi2 with those
#   ranks (its PMI2 exchange is keyed by PLAIT_RANK, not by Slurm's id);
# - a node missing from topology.conf, or -m cyclic, keeps Slurm's order, and
#   the missing node is named once in slurmd's log.
set -euo pipefail
top=$PLAIT_TOP
build=$PLAIT_BUILD
cluster=$top/tests/slurm/cluster
fail() { echo "leaf_test: $*" >&2; exit 1; }

work=$(mktemp -d)
restore() { unset PLAIT_CLUSTER_PLUGIN_ARGS; "$cluster" up >/dev/null 2>&1 || true; }
trap 'restore; rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
printf 'SwitchName=s1 Nodes=n[1,3]\nSwitchName=s2 Nodes=n[2,4]\nSwitchName=top Switches=s[1-2]\n' \
    >topology.conf
export PLAIT_CLUSTER_PLUGIN_ARGS="topology=$top/etc/topology/local-cluster.xml slurm_topology=$work/topology.conf"
"$cluster" up --nodes 4 >/dev/null
eval "$("$cluster" env)"

step=(-N4 --ntasks-per-node=2 --gpus-per-node=2 --plait-layout=tp=2,pp=2)
report='echo "env $SLURMD_NODENAME $SLURM_PROCID $PLAIT_RANK $PLAIT_DP_RANK $PLAIT_PP_RANK $PLAIT_TP_RANK $PLAIT_LOCAL_RANK"'
collectives=$build/tests/runtime_collectives_test
[ -x "$collectives" ] || fail "$collectives missing (make tests)"
srun --mpi=pmi2 "${step[@]}" -o "out.%t" bash -c "$report; PLAIT_TIMEOUT=120 exec $collectives" || {
    tail -n 3 out.*
    fail "srun --mpi=pmi2 ${step[*]} $collectives failed"
}
# node procid rank dp pp tp local, by rank.
want="n1 0 0 0 0 0 0
n1 1 1 0 0 1 1
n3 4 2 0 1 0 0
n3 5 3 0 1 1 1
n2 2 4 1 0 0 0
n2 3 5 1 0 1 1
n4 6 6 1 1 0 0
n4 7 7 1 1 1 1"
got=$(sed -n 's/^env //p' out.* | sort -k3n)
[ "$got" = "$want" ] || fail "ranks under leaf switches: $got"
for t in 0 1 2 3 4 5 6 7; do
    rank=$(sed -n 's/^env [^ ]* [^ ]* \([0-9]*\) .*/\1/p' "out.$t")
    grep -q "^collectives rank $rank: [0-9]* checks, 0 failed$" "out.$t" ||
        fail "task $t (rank $rank): $(tail -n 3 "out.$t")"
done

# plait-topo: the same node for every rank.
"$build/bin/plait-topo" --topology "$top/etc/topology/local-cluster.xml" --layout tp=2,pp=2 \
    --tasks-per-node 2 --slurm-topology topology.conf --nodelist 'n[1-4]' >topo.txt
grep -q "^nodes in rank order, by leaf switch: n1,n3,n2,n4$" topo.txt || fail "plait-topo: $(cat topo.txt)"
topo=$(awk '/^node /{node=substr($3, 2, length($3) - 3)} /^  [0-9]/{print node, $3}' topo.txt | sort -k2n)
[ "$topo" = "$(echo "$got" | awk '{print $1, $3}')" ] || fail "plait-topo differs from the tasks: $topo"

# n4 missing from topology.conf: Slurm's order, and task 0's slurmd says so.
printf 'SwitchName=s1 Nodes=n[1,3]\nSwitchName=s2 Nodes=n2\n' >topology.conf
srun "${step[@]}" bash -c "$report" >missing.out 2>&1 || fail "n4 missing: $(cat missing.out)"
# srun's own notes ("queued and waiting for resources") may share the file.
[ "$(grep -c '^env ' missing.out)" = 8 ] || fail "n4 missing: $(cat missing.out)"
[ "$(awk '$1 == "env" && $3 != $4' missing.out)" = "" ] || fail "n4 missing: ranks moved: $(cat missing.out)"
grep -q "plait: slurm_topology $work/topology.conf: node n4 is not under any leaf switch" \
    "$(dirname "$SLURM_CONF")/log/slurmd-n1.log" || fail "n4 missing: no word in slurmd-n1.log"

# -m cyclic: Slurm's ids are not per-node blocks; they stay the ranks.
printf 'SwitchName=s1 Nodes=n[1,3]\nSwitchName=s2 Nodes=n[2,4]\n' >topology.conf
srun -m cyclic -N4 --ntasks-per-node=1 --gpus-per-node=1 --plait-layout=tp=1,pp=2 bash -c "$report" \
    >cyclic.out 2>&1 || fail "-m cyclic: $(cat cyclic.out)"
[ "$(grep -c '^env ' cyclic.out)" = 4 ] || fail "-m cyclic: $(cat cyclic.out)"
[ "$(awk '$1 == "env" && $3 != $4' cyclic.out)" = "" ] || fail "-m cyclic: ranks moved: $(cat cyclic.out)"
echo "leaf switches on 4 nodes: pipelines under one leaf, PMI2 collectives, Slurm's order kept: ok"
