#!/usr/bin/env bash
# Packs what the GPU checks need into build/gpu-bundle.tar.xz, for a device
# machine that has CUDA but none of Debian's libraries (UCX, HDF5, libconfig,
# OpenBLAS, ISA-L, PMI2) and cannot install them:
#
#   tests/gpu/bundle.sh                 (builds what it packs)
#   then, on the device machine, with build/gpu-bundle.tar.xz carried:
#   tests/gpu/device_check.sh tests     (and: ... bench)
#
# The bundle holds build/bin, build/tests, build/bench, the list of GPU tests,
# and build/gpu-libs: every shared library those programs load from the
# system except glibc's, the C++ runtime and CUDA's own (cudart, cuBLAS,
# cuBLASLt, NCCL), which the device machine's CUDA provides; UCX's transport
# modules go along. The device machine's glibc must be at least this one's.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
gpu_tests=$(make -s --no-print-directory print-GPU_TESTS)
make -s -j2 all $gpu_tests
libs=build/gpu-libs
rm -rf "$libs"
mkdir -p "$libs"
echo "$gpu_tests" >"$libs/GPU_TESTS"
provided='^(libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s|ld-linux-x86-64|libcudart|libcublas|libcublasLt|libnccl)\.so'
find build/bin build/tests build/bench -maxdepth 1 -type f -perm -u+x -exec ldd {} + 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    while read -r lib; do
        name=$(basename "$lib")
        [[ $name =~ $provided ]] || cp -L "$lib" "$libs/$name"
    done
ucx_modules=$(dirname "$(ldconfig -p | awk '/libucs\.so\.0 / { print $NF; exit }')")/ucx
mkdir -p "$libs/ucx"
cp -L "$ucx_modules"/*.so.0 "$libs/ucx/"
tar -cJf build/gpu-bundle.tar.xz build/bin build/tests build/bench "$libs"
echo "bundle: build/gpu-bundle.tar.xz, $(du -h build/gpu-bundle.tar.xz | cut -f1)" \
    "($(ls "$libs" | grep -c '\.so') libraries); carry it to the device machine"
