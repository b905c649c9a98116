#!/usr/bin/env bash
# plait-train under ThreadSanitizer (build/tsan, make SANITIZE=thread): each
# rank's background checkpoint writer overlapping the training steps, the
# loader's prefetch thread and the kernels' OpenMP threads (two per rank),
# on dp=2,pp=2 with ZB-H1 saving every 2 steps; then resumed on tp=2, where
# the reader's CRC threads run. A race ends the rank with TSan's status 66,
# which fails the run. TSan sees the threads of one process: the ranks'
# shared-memory collectives are out of its sight.
source "$PLAIT_TOP/tests/train/lib.sh"
tsan_train=${PLAIT_TSAN_BUILD:-$PLAIT_TOP/build/tsan}/bin/plait-train
[ -x "$tsan_train" ] || {
    echo "$tsan_train not built (make SANITIZE=thread tsan-tests, with clang)"
    exit 77
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_dataset "$tmp"
export OMP_NUM_THREADS=2
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:ignore_noninstrumented_modules=1}
train_cmd=("$tsan_train")

run_layout saved 4 dp=2,pp=2 schedule=zb-h1 steps=8 ckpt_dir="$tmp/ckpt" ckpt_every=2
run_layout resumed 2 tp=2 steps=12 ckpt_dir="$tmp/ckpt" ckpt_every=2
grep "^resumed from .*step-00000008 at step 8 " "$tmp/resumed.log" ||
    { cat "$tmp/resumed.log"; echo "did not resume from step 8"; exit 1; }
echo "tsan_test: ok"
