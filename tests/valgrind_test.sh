#!/usr/bin/env bash
# Reads of uninitialised memory, which ASan and UBSan do not look for (MSan
# would need every library rebuilt with it), under valgrind's memcheck: fast
# unit programs of the normal build, then plait-train on two ranks saving a
# checkpoint in the background during a step, resumed on another layout. Any
# error fails. UCX, HDF5, OpenBLAS and libomp need no suppression today; one
# would name a frame of the library's own, never plait's.
source "$PLAIT_TOP/tests/train/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not found (make deps installs it)"; exit 77; }
# Leaks are LeakSanitizer's (the ASan build); --track-origins=yes tells where
# an uninitialised value came from, at twice the time: add it to look into one.
memcheck=(valgrind -q --error-exitcode=99 --leak-check=no)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in train_config_test test_request test_env test_slurmtopo test_layout test_config \
    test_io_dataset test_io_loader test_kernel_ops test_pipeline; do
    start=$SECONDS
    "${memcheck[@]}" "$PLAIT_BUILD/tests/$t" >"$tmp/$t.log" 2>&1 ||
        { cat "$tmp/$t.log"; echo "$t failed under memcheck"; exit 1; }
    echo "$t: clean, $((SECONDS - start)) s"
done

start=$SECONDS
make_dataset "$tmp"
train_cmd=("${memcheck[@]}" "$bin/plait-train")
run_layout saved 2 dp=2 steps=4 ckpt_dir="$tmp/ckpt" ckpt_every=2
run_layout resumed 2 pp=2 schedule=zb-h1 steps=5 ckpt_dir="$tmp/ckpt"
grep -q "^resumed from .*step-00000004 at step 4 " "$tmp/resumed.log" ||
    { cat "$tmp/resumed.log"; echo "did not resume from step 4"; exit 1; }
echo "plait-train: clean, $((SECONDS - start)) s"
