#!/usr/bin/env bash
# Every C, C++, header and CUDA file is formatted with the project's .clang-format.
set -euo pipefail
cd "$PLAIT_TOP"
files=$(git ls-files '*.c' '*.h' '*.cpp' '*.cu' '*.cuh')
[ -n "$files" ] || { echo "no sources tracked"; exit 77; }
clang-format --dry-run -Werror $files
echo "$(echo "$files" | wc -w) files formatted"
