#!/usr/bin/env bash
# Everything that needs a GPU, for a session that has one, in two calls that
# each fit the device machine's 10-minute limit:
#
#   tests/gpu/device_check.sh tests    (from the repository root)
#   tests/gpu/device_check.sh bench
#
# Both log nvidia-smi and build what the GPU checks need (a second call finds
# the first one's build), or, when build/gpu-bundle.tar.xz is there
# (tests/gpu/bundle.sh, for a machine without Debian's libraries), unpack it
# and use its programs and libraries instead. "tests" runs every GPU test (make print-GPU_TESTS),
# the compute-sanitizer script and plait-train's GPU test through tests/run;
# "bench" runs the kernels' GPU benchmark in bf16 and fp32, plait-train's GPU
# benchmark and, where nsys is installed, a per-kernel time table of two bf16
# steps. It goes on past failures and ends with one summary line; exit 0 when
# everything passed, 1 otherwise, 77 at once when there is no GPU. Logs go to
# build/device-check/ (the tests' own logs to build/test-logs/, bench figures
# to build/bench/results.jsonl) and are copied under $OUT when it is set.
# Every step has a time limit; each phase's limits add up to under 10 minutes.
set -uo pipefail
phase=${1:-}
case $phase in
tests | bench) ;;
*)
    echo "device_check: phase '$phase': expected tests or bench" >&2
    exit 2
    ;;
esac
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "device_check: no GPU (nvidia-smi missing or lists none): nothing checked"
    exit 77
fi
logs=$top/build/device-check
mkdir -p "$logs" "$top/build/nsys"
failed=()

step() { # step NAME SECONDS COMMAND...: runs and logs one step, noting a failure
    local name=$1 secs=$2 rc
    shift 2
    echo "== $name"
    timeout --kill-after=10 "$secs" "$@" >"$logs/$name.log" 2>&1
    rc=$?
    tail -n 15 "$logs/$name.log"
    [ $rc -eq 0 ] || { echo "-- $name: exit $rc"; failed+=("$name"); }
}

copy_out() {
    [ -n "${OUT:-}" ] || return 0
    mkdir -p "$OUT/device-check"
    cp -r "$logs/." "$OUT/device-check/"
    [ -d build/test-logs ] && cp -r build/test-logs "$OUT/device-check/"
    [ -f build/bench/results.jsonl ] && cp build/bench/results.jsonl "$OUT/device-check/"
}
trap copy_out EXIT

step nvidia-smi 30 nvidia-smi
if [ -f build/gpu-bundle.tar.xz ]; then
    # Built elsewhere (tests/gpu/bundle.sh): this machine has CUDA but not
    # Debian's libraries; CUDA's own come from here, wherever they are.
    tar -xJf build/gpu-bundle.tar.xz
    gpu_tests=$(cat build/gpu-libs/GPU_TESTS)
    cuda_dirs=
    for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
        [ -e "${CUDA_HOME:-/usr/local/cuda}/lib64/$lib" ] && continue
        found=$(find /usr /opt -name "$lib" -print -quit 2>/dev/null)
        [ -n "$found" ] && cuda_dirs=$cuda_dirs:$(dirname "$found")
    done
    export LD_LIBRARY_PATH=$top/build/gpu-libs$cuda_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export UCX_MODULE_DIR=$top/build/gpu-libs/ucx
    echo "== prebuilt bundle; LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    step ldd 30 ldd build/bin/plait-train build/tests/runtime_nccl_test
else
    gpu_tests=$(make -s --no-print-directory print-GPU_TESTS)
    # -k: whatever builds is still checked when one part does not.
    step build 150 make -k -j16 all $gpu_tests
fi
if [ "$phase" = tests ]; then
    names=$(for t in $gpu_tests; do [ -x "$t" ] && basename "$t"; done | tr '\n' ' ')
    PLAIT_TEST_TIMEOUT=200 step tests 360 tests/run --build build --gpu "$names" \
        tests/kernels/cuda_memcheck.sh tests/train/cuda_test.sh
    summary="tests: $(tail -n 1 "$logs/tests.log")"
else
    step bench_train_step_cuda_bf16 60 build/bench/bench_train_step_cuda 5 bf16
    step bench_train_step_cuda_fp32 40 build/bench/bench_train_step_cuda 3 fp32
    step train_cuda_bench 240 tests/bench/train_cuda_bench.sh
    nsys=$(command -v nsys || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nsys")
    if [ -x "$nsys" ]; then
        PLAIT_BENCH_RESULTS=/dev/null step nsys_bench_bf16 60 "$nsys" profile --stats=true \
            --force-overwrite=true -o "$top/build/nsys/bench_bf16" \
            build/bench/bench_train_step_cuda 2 bf16
    else
        echo "== nsys: not installed, no per-kernel table"
    fi
    summary="bench figures: build/bench/results.jsonl"
fi
echo "device_check $phase: ${#failed[@]} failed step(s)${failed:+: ${failed[*]}}; $summary;" \
    "logs: $logs"
[ ${#failed[@]} -eq 0 ]
