#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/build.mk) over their seed corpora,
# tests/fuzz/corpus/<target>, and inputs they generate from them:
#   fuzz_test.sh [TARGET ...]              make check: -seed=1 and a fixed number
#                                          of runs each, so every run is the same
#   fuzz_test.sh --seconds S [TARGET ...]  make fuzz: S seconds each, new inputs
#                                          kept in build/fuzz/corpus/<target>
# A crash, hang, leak or sanitizer report fails; libFuzzer saves the input as
# build/fuzz/artifacts/<target>-crash-* (rerun: build/fuzz/bin/<target> FILE).
set -uo pipefail
top=${PLAIT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
seconds=""
if [ "${1:-}" = --seconds ]; then
    seconds=$2
    shift 2
fi
targets=${*:-$(make -s --no-print-directory print-FUZZ_TARGETS)}
bin=build/fuzz/bin
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
    for t in $targets; do
        [ -x "$bin/$t" ] || { echo "fuzz_test: ${FUZZ_CC:-clang} not found, fuzzers not built"; exit 77; }
    done
fi

# Runs per target in make check: about 3 s each on a shared core.
runs_of() {
    case $1 in
    fuzz_hwloc) echo 1000 ;;
    fuzz_manifest) echo 600 ;;
    fuzz_train_config | fuzz_plait_conf) echo 4000 ;;
    fuzz_slurm_topology) echo 15000 ;;
    *) echo 100000 ;;
    esac
}

export LSAN_OPTIONS=suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0
mkdir -p build/fuzz/artifacts build/fuzz/logs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
    [ -x "$bin/$t" ] || { echo "fuzz_test: $bin/$t is missing (make fuzzers)"; exit 1; }
    opts=(-timeout=25 -rss_limit_mb=2048 -print_final_stats=1
        "-artifact_prefix=build/fuzz/artifacts/$t-")
    [ -f "tests/fuzz/$t.dict" ] && opts+=("-dict=tests/fuzz/$t.dict")
    if [ -n "$seconds" ]; then
        out=build/fuzz/corpus/$t
        opts+=("-max_total_time=$seconds")
    else
        out=$work/$t
        opts+=(-seed=1 "-runs=$(runs_of "$t")")
    fi
    mkdir -p "$out"
    log=build/fuzz/logs/$t.log
    start=$SECONDS
    if "$bin/$t" "${opts[@]}" "$out" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        echo "$t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') inputs, $((SECONDS - start)) s"
    else
        echo "$t: FAILED after $((SECONDS - start)) s (log $log)"
        grep -A30 -m1 -E '^==[0-9]+==ERROR|runtime error|refused with|ALARM|out-of-memory' "$log"
        failed+=("$t")
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz_test: failed: ${failed[*]}"; exit 1; }
