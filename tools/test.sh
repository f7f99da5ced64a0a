#!/usr/bin/env bash
# Builds everything (warnings are errors) and runs the whole test suite with ctest, then builds
# the libFuzzer targets with clang and runs each for a bounded time (20 s) on its seed corpus.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
tools/setup.sh
cmake --preset ci
# Style gate first (fails before the long build): clang-format and clang-tidy, see tools/check_style.sh.
if [[ "${SLUICE_CHECK_STYLE:-1}" == 1 ]]; then tools/check_style.sh; fi
cmake --build --preset ci -j"$(nproc)"
ctest --preset ci -j"$(nproc)" --timeout 600 "$@"
cmake --preset fuzz
cmake --build --preset fuzz -j"$(nproc)" --target fuzz_request_decoder fuzz_batch_validation fuzz_broker_requests fuzz_amqp_decoder
ctest --test-dir build/fuzz -R fuzz --timeout 300 --output-on-failure
