# Shared by the plait-train benchmarks (train_bench.sh, train_cuda_bench.sh):
# source it after tests/train/lib.sh, with $bench (the JSON lines' "bench")
# and $results (the results file) set.

# median_of FILE KEY FIRST: median of KEY over the metrics lines from step FIRST on.
median_of() {
    python3 -c "
import json, statistics
v = [j['$2'] for j in map(json.loads, open('$1')) if j['step'] >= $3]
print(statistics.median(v))"
}

# emit METRIC VALUE UNIT ANCHOR ANCHOR_VALUE GOAL: one results line, also printed.
emit() {
    python3 -c "
import json, sys
b, m, v, u, a, av, g = sys.argv[1:]
print(json.dumps({'bench': b, 'metric': m, 'value': float(v), 'unit': u, 'anchor': a,
                  'anchor_value': float(av), 'ratio': float(v) / float(av), 'goal': g}))" \
        "$bench" "$@" | tee -a "$results"
}
