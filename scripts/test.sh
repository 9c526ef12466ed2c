#!/usr/bin/env bash
# The test suite, as the README and CI run it: builds everything the tests
# need in build/ (configured by scripts/setup.sh first when it is not; the
# Python module too when its packages are installed), runs
# ctest, and lists the tests that did not run with the reason each gave
# (no GPU, no torch, running as root, ...).
#
#   scripts/test.sh                    # all tests
#   scripts/test.sh -R Engine          # options go to ctest
#   BUILD_DIR=/tmp/b scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}

[ -f "$build/CMakeCache.txt" ] || BUILD_DIR="$build" "$root/scripts/setup.sh"
# Configure again, so that packages installed since (the Python module's)
# are found; then build everything, and the Python module of live profiling
# (not part of a plain build) when it is configured.
cmake -S "$root" -B "$build" >/dev/null
targets=()
known=$(cmake --build "$build" --target help 2>/dev/null || true)
grep -qw laconic_python <<<"$known" && targets=(--target all laconic_python)
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
status=0
junit="$build/Testing/ctest-junit.xml"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --output-junit "$junit" "$@" || status=$?
[ -f "$junit" ] && python3 "$root/scripts/skipped_tests.py" "$junit" || true
exit "$status"
