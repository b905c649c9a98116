# Shared by the plait-train script tests: a small byte-level dataset, job
# configs for the tiny model, and loss-curve comparison. Source it after
# setting PLAIT_TOP and PLAIT_BUILD (tests/run sets both).
set -euo pipefail
bin=$PLAIT_BUILD/bin
# Small models on a 2-core machine: one thread per rank, no oversubscription.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export PLAIT_TIMEOUT=${PLAIT_TIMEOUT:-60}
# What run_layout starts on each rank: a test may put a tool in front of it
# (valgrind) or take another build's (ThreadSanitizer's).
train_cmd=("$bin/plait-train")

# make_dataset DIR: DIR/tokens.h5 from licence texts every Debian has.
make_dataset() {
    mkdir -p "$1"
    [ -f "$1/tokens.h5" ] && return 0
    "$bin/plait-data" build -o "$1/tokens.h5" /usr/share/common-licenses/GPL-3 \
        /usr/share/common-licenses/Apache-2.0 >/dev/null
}

# write_config FILE DATA METRICS [KEY=VALUE...]: the tiny model of etc/tiny.cfg;
# schedule=, split=, steps=, ckpt_dir=, ckpt_every=, overlap=, device= override.
write_config() {
    local file=$1 data=$2 metrics=$3
    shift 3
    local schedule=1f1b split=balanced steps=20 ckpt_dir="" ckpt_every=1000 overlap=true device=cpu precision=fp32 kv
    for kv in "$@"; do
        case $kv in
        schedule=*) schedule=${kv#*=} ;;
        split=*) split=${kv#*=} ;;
        steps=*) steps=${kv#*=} ;;
        ckpt_dir=*) ckpt_dir=${kv#*=} ;;
        ckpt_every=*) ckpt_every=${kv#*=} ;;
        overlap=*) overlap=${kv#*=} ;;
        device=*) device=${kv#*=} ;;
        precision=*) precision=${kv#*=} ;;
        *) echo "write_config: unknown $kv" >&2; return 1 ;;
        esac
    done
    cat >"$file" <<CFG
model = { vocab_size = 256; context = 16; layers = 4; heads = 4; dim = 32; };
optimizer = { lr = 3e-3; min_lr = 3e-4; warmup_steps = 4; clip = 1.0; };
batch = { micro = 2; global = 8; };
steps = $steps;
seed = 1234;
data = { path = "$data"; };
checkpoint = { dir = "$ckpt_dir"; every = $ckpt_every; keep = 2; };
log = { metrics = "$metrics"; };
pipeline = { schedule = "$schedule"; split = "$split"; };
dp = { overlap = $overlap; };
device = "$device";
precision = "$precision";
CFG
}

# run_layout NAME RANKS LAYOUT [KEY=VALUE...]: writes $tmp/NAME.cfg (write_config
# on $tmp/tokens.h5, metrics $tmp/NAME.jsonl) and trains it with RANKS processes
# through plait-run, the output in $tmp/NAME.log; prints its last line, or the
# whole log and exits on failure.
run_layout() {
    local name=$1 n=$2 layout=$3
    shift 3
    write_config "$tmp/$name.cfg" "$tmp/tokens.h5" "$tmp/$name.jsonl" "$@"
    "$bin/plait-run" -n "$n" --layout "$layout" -- "${train_cmd[@]}" --config "$tmp/$name.cfg" \
        >"$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; echo "$name failed"; exit 1; }
    tail -n 1 "$tmp/$name.log"
}

# compare_curves REF OTHER [LIMIT]: the same steps, and every loss within
# LIMIT (default 1e-4) relative difference; prints the largest.
compare_curves() {
    python3 - "$1" "$2" "${3:-1e-4}" <<'PY'
import json, sys
ref, other, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
def curve(path):
    return {j["step"]: j["loss"] for j in map(json.loads, open(path))}
a, b = curve(ref), curve(other)
assert sorted(a) == sorted(b), f"{other}: steps {sorted(b)} != {sorted(a)}"
assert len(a) > 0
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
print(f"{other}: {len(a)} steps, max relative loss difference {worst:.3g}")
assert worst < limit, f"{other}: {worst} >= {limit}"
PY
}

# wait_job ID: waits for the Slurm job to end; succeeds when it COMPLETED
# (a requeued job passes through PENDING and RUNNING again on the way).
wait_job() {
    local s=""
    for _ in $(seq 3000); do
        s=$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
        case $s in
        COMPLETED) return 0 ;;
        FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;;
        esac
        sleep 0.2
    done
    echo "job $1 ended ${s:-unknown}"
    return 1
}
