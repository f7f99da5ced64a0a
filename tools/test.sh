#!/usr/bin/env bash
# Builds everything (warnings are errors) and runs the whole test suite with ctest.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
tools/setup.sh
cmake --preset ci
cmake --build --preset ci -j"$(nproc)"
ctest --preset ci -j"$(nproc)" --timeout 600 "$@"
