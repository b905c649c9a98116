#!/usr/bin/env bash
# plait-data and plait-ckpt end to end: h5dump and h5py read datasets,
# checkpoints (through the manifest's virtual datasets) and exports; one
# flipped byte fails verify naming the shard and the load falls back.
set -euo pipefail
: "${PLAIT_BUILD:?}"
bin=$PLAIT_BUILD/bin driver=$PLAIT_BUILD/tests/io_ckpt_driver py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Datasets.
printf 'The quick brown fox\njumps over the lazy dog.\n' >"$tmp/a.txt"
head -c 5000 /dev/urandom >"$tmp/b.txt"
"$bin/plait-data" build -o "$tmp/text.h5" --chunk 1024 "$tmp/a.txt" "$tmp/b.txt"
"$bin/plait-data" verify "$tmp/text.h5"
h5dump -A "$tmp/text.h5" | grep -q '"crc32:' || fail "h5dump shows no checksum attribute"
h5dump -d /tokens -s 0 -c 3 "$tmp/text.h5" | grep -q '84, 104, 101' || fail "h5dump tokens"
$py - "$tmp" <<'PY'
import sys, zlib, h5py, numpy as np
d = sys.argv[1]
raw = open(d + "/a.txt", "rb").read() + open(d + "/b.txt", "rb").read()
with h5py.File(d + "/text.h5", "r") as f:
    t = f["tokens"]
    assert t.chunks == (1024,), t.chunks
    assert t.attrs["vocab_size"] == 256 and t.attrs["n_tokens"] == len(raw)
    assert (t[:] == np.frombuffer(raw, np.uint8)).all()
    crc = "crc32:%08x" % zlib.crc32(t[:].astype("<u2").tobytes())
    assert t.attrs["checksum"].decode() == crc, (t.attrs["checksum"], crc)
    assert t.attrs["source"].decode().endswith("b.txt")
PY
$py -c "import numpy as np; np.arange(70000, dtype='<u4').tofile('$tmp/t.u32')"
"$bin/plait-data" build --format u32 -o "$tmp/u32.h5" "$tmp/t.u32" | grep -q 'vocabulary 70000'
if "$bin/plait-data" build --format u64 -o "$tmp/x.h5" "$tmp/a.txt" 2>"$tmp/err"; then
    fail "--format u64 accepted"
fi
grep -q "format 'u64': expected text, u16 or u32" "$tmp/err" || fail "bad --format message"
[ ! -e "$tmp/x.h5" ] || fail "a failed build left its output"
expect_error() { # expected message, then the command
    local want=$1; shift
    if "$@" >/dev/null 2>"$tmp/err"; then fail "$* succeeded"; fi
    grep -q -- "$want" "$tmp/err" || fail "$*: got '$(cat "$tmp/err")', expected '$want'"
}
expect_error "--vocab 'abc': expected an integer in 1..4294967295" \
    "$bin/plait-data" build --vocab abc -o "$tmp/x.h5" "$tmp/a.txt"
expect_error "expected -o OUT.h5 and at least one input file" "$bin/plait-data" build "$tmp/a.txt"
expect_error "unknown command 'frob'" "$bin/plait-data" frob
expect_error "'frob' with 1 argument(s): expected list|verify|inspect" "$bin/plait-ckpt" frob x
expect_error "holds no valid checkpoint" "$bin/plait-ckpt" export "$tmp" "$tmp/x.h5"

# Checkpoints: 2 shards, steps 1..3, keep 2.
"$driver" write "$tmp/ck" 2 1 3 6 10 2 >/dev/null
"$bin/plait-ckpt" list "$tmp/ck" | tee "$tmp/list"
grep -q 'step-00000003 .* 3 .* 2 .* 1 .*\*' "$tmp/list" || fail "list"
[ "$(grep -c step- "$tmp/list")" -eq 2 ] || fail "retention kept other than 2"
"$bin/plait-ckpt" verify "$tmp/ck"
"$bin/plait-ckpt" inspect "$tmp/ck" | grep -q 'w .* f32 \[6,10\]' || fail "inspect"
"$bin/plait-ckpt" export "$tmp/ck" "$tmp/export.h5"
# Past ulimit -f: one line with the system's reason and no output left, not
# death by SIGXFSZ.
limited() { (ulimit -f 1 && exec "$@"); }
expect_error "^plait-data: cannot write tokens to '$tmp/big.h5': File too large$" \
    limited "$bin/plait-data" build -o "$tmp/big.h5" "$tmp/b.txt"
expect_error "^plait-ckpt: export failed: .*: File too large$" \
    limited "$bin/plait-ckpt" export "$tmp/ck" "$tmp/big.h5"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "export error is not one line"
[ ! -e "$tmp/big.h5" ] && [ ! -e "$tmp/big.h5.tmp" ] || fail "a failed write left its output"
(cd / && $py - "$tmp" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
want = ((3 * 131 + np.arange(60)) % 16777216).astype(np.float32).reshape(6, 10)
with h5py.File(d + "/export.h5", "r") as f:
    assert list(f.keys()) == ["w"] and f["w"].dtype == np.float32
    assert (f["w"][:] == want).all() and f.attrs["step"] == 3
with h5py.File(d + "/ck/step-00000003/manifest.h5", "r") as m:
    assert m["global/w"].is_virtual and (m["global/w"][:] == want).all()
    assert list(m["shards/file"][:]) == [b"shard-00000.h5", b"shard-00001.h5"]
PY
)

# One flipped byte.
shard=$tmp/ck/step-00000003/shard-00001.h5
$py - "$shard" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(os.path.getsize(sys.argv[1]) // 2); b = f.read(1); f.seek(-1, 1)
    f.write(bytes([b[0] ^ 1]))
PY
if "$bin/plait-ckpt" verify "$tmp/ck/step-00000003" 2>"$tmp/err"; then fail "verify passed"; fi
grep -q 'shard-00001.h5 has CRC32C' "$tmp/err" || fail "verify did not name the shard"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "verify error is not one line"
"$driver" check "$tmp/ck" 3 6 10 >"$tmp/out" 2>"$tmp/err"
grep -q 'loaded step 2' "$tmp/out" || fail "load did not fall back to step 2"
grep -q 'skipping checkpoint .*step-00000003: shard-00001.h5' "$tmp/err" || fail "no warning"
if "$bin/plait-ckpt" list "$tmp/nonexistent" 2>"$tmp/err"; then fail "list of nothing"; fi
grep -qx "plait-ckpt: cannot open checkpoint directory '$tmp/nonexistent': No such file or directory" "$tmp/err" ||
    fail "list error: $(cat "$tmp/err")"
echo "tools ok"
