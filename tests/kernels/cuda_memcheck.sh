#!/usr/bin/env bash
# The CUDA kernel and stage tests under compute-sanitizer: memcheck (no
# out-of-bounds, misaligned or uninitialised-pointer device access, no failing
# API call) on both, racecheck (shared-memory hazards of the flash-attention
# and column-sum kernels) on the kernel test. Skips without a GPU, without the
# CUDA tests built, or without compute-sanitizer (on the PATH or in
# $CUDA_HOME/bin).
set -uo pipefail
build=${PLAIT_BUILD:-$PLAIT_TOP/build}
sanitizer=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
tests=(test_cuda_kernel_ops test_cuda_stage)
for t in "${tests[@]}"; do
    [ -x "$build/tests/$t" ] || { echo "$build/tests/$t is not built (nvcc not found?)"; exit 77; }
done
"$build/tests/test_cuda_kernel_ops" >/dev/null 2>&1
[ $? -eq 77 ] && { echo "no usable GPU: $("$build/tests/test_cuda_kernel_ops" | tail -n 1)"; exit 77; }
[ -x "$sanitizer" ] || { echo "no compute-sanitizer at $sanitizer"; exit 77; }
failed=()
for t in "${tests[@]}"; do
    "$sanitizer" --tool memcheck --error-exitcode 3 "$build/tests/$t" || failed+=("memcheck $t")
done
"$sanitizer" --tool racecheck --error-exitcode 3 "$build/tests/test_cuda_kernel_ops" ||
    failed+=("racecheck test_cuda_kernel_ops")
[ ${#failed[@]} -eq 0 ] || { echo "cuda_memcheck: failed: ${failed[*]}"; exit 1; }
echo "cuda_memcheck: ${tests[*]} clean under memcheck, test_cuda_kernel_ops under racecheck"
