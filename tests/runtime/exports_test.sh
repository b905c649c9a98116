#!/usr/bin/env bash
# libplait.so exports exactly the functions plait.h declares: internal
# functions share the plait_ prefix and must stay private.
set -euo pipefail
declared=$(grep -oE '\bplait_[a-z_]+\(' "$PLAIT_TOP/runtime/plait.h" | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$PLAIT_BUILD/lib/libplait.so" | awk '$2 == "T" {print $3}' | sort -u)
if [ "$declared" != "$exported" ]; then
    echo "exports_test: plait.h and libplait.so differ (< header, > library):" >&2
    diff <(echo "$declared") <(echo "$exported") >&2 || true
    exit 1
fi
echo "libplait.so exports the $(echo "$exported" | wc -l) functions of plait.h"
