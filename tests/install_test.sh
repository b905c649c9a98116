#!/usr/bin/env bash
# make install PREFIX=... DESTDIR=... puts every program, library, public
# header, man page and the plugstack.conf snippet where the docs say, and the
# installed headers compile on their own from include/plait.
set -euo pipefail
cd "$PLAIT_TOP"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
make -s install PREFIX=/opt/plait DESTDIR="$dest" >/dev/null
root=$dest/opt/plait
plugindir=$(make -s --no-print-directory print-SLURM_PLUGIN_DIR)
missing=()
for f in "$dest$plugindir/plait.so" \
    bin/plait-topo bin/plait-run bin/plait-train bin/plait-plot bin/plait-data bin/plait-ckpt \
    lib/libplait.so lib/libplait.a lib/libplait_placement.a lib/libplait_io.a \
    lib/libplait_kernels.a include/plait/plugin/placement.h include/plait/runtime/plait.h \
    include/plait/kernels/kernels.h include/plait/io/plait_io.h \
    share/man/man1/plait-topo.1 share/man/man5/plait.conf.5 share/man/man8/plait-spank.8 \
    etc/plait/plugstack.conf etc/plait/plait.conf share/plait/examples/local.sbatch \
    share/plait/topology/dgx-h100.xml; do
    case $f in /*) path=$f ;; *) path=$root/$f ;; esac
    [ -e "$path" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] || { echo "install_test: not installed: ${missing[*]}" >&2; exit 1; }
grep -q "^required $plugindir/plait.so config=/opt/plait/etc/plait/plait.conf$" \
    "$root/etc/plait/plugstack.conf" || { echo "install_test: plugstack.conf: $(cat "$root/etc/plait/plugstack.conf")" >&2; exit 1; }
for h in plugin/placement.h runtime/plait.h kernels/kernels.h io/plait_io.h; do
    printf '#include "%s"\nint main(void) { return 0; }\n' "$h" |
        cc -std=c11 -Wall -Werror -I"$root/include/plait" -x c -o /dev/null - ||
        { echo "install_test: installed $h does not compile on its own" >&2; exit 1; }
done
echo "install: $(find "$dest" -type f | wc -l) files, headers compile from include/plait"
