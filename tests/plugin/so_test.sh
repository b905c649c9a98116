#!/usr/bin/env bash
# plait.so exports the SPANK interface only, needs nothing a GPU-less login
# node lacks (libc, hwloc, libconfig: no CUDA, NCCL, UCX, NVML), and is
# hardened (full RELRO, stack protector).
set -euo pipefail
so=$PLAIT_BUILD/lib/plait.so
fail() { echo "so_test: $*" >&2; exit 1; }
[ -f "$so" ] || fail "$so not built"

exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
want="plugin_name plugin_type plugin_version slurm_spank_exit slurm_spank_init slurm_spank_init_post_opt slurm_spank_local_user_init slurm_spank_task_init spank_plugin_version "
[ "$exported" = "$want" ] || fail "exports: $exported (expected: $want)"

needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
for lib in $needed; do
    case "$lib" in
    libc.so.* | libhwloc.so.* | libconfig.so.*) ;;
    *) fail "needs $lib (allowed: libc, libhwloc, libconfig)" ;;
    esac
done
readelf -d "$so" | grep -q 'BIND_NOW\|FLAGS.*NOW' || fail "not linked with -z now"
readelf -l "$so" | grep -q GNU_RELRO || fail "no RELRO segment"
# Into a variable first: grep -q exits at its match, and under pipefail the
# SIGPIPE nm then gets fails the check once nm writes more than one buffer.
symbols=$(nm -D "$so")
grep -q ' U __stack_chk_fail' <<<"$symbols" || fail "no stack protector"
# NVML only through dlopen, by name.
grep -q 'libnvidia-ml.so.1' "$so" && grep -q ' U dlopen' <<<"$symbols" || fail "no dlopen of libnvidia-ml.so.1"
echo "plait.so: exports $(echo $exported | wc -w) SPANK symbols, needs: $needed"
