#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (Clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, no CUDA) and runs each for SECONDS seconds,
# starting from its seeds (tests/fuzz/corpus/<target>/) and the inputs of past
# findings (tests/fuzz/regressions/<target>/). Prints, per target, the inputs
# it ran. A finding (crash, sanitizer report, leak, hang, or a broken check of
# tests/fuzz/harness.hpp) prints the report and the saved input and makes the
# script exit 1; fix it and keep the input in tests/fuzz/regressions/<target>/.
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   scripts/fuzz.sh 10 manifest           # one target, 10 s
#   BUILD_DIR=/tmp/fuzz scripts/fuzz.sh
#
# Environment: BUILD_DIR (default build-fuzz), FUZZ_CXX (default clang++).
# Needs clang, libclang-rt-*-dev (libFuzzer) and libomp-*-dev.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${BUILD_DIR:-$root/build-fuzz}")
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy npz manifest dnnsim)

cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLACONIC_FUZZ=ON -DLACONIC_ENABLE_CUDA=OFF -DLACONIC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

status=0
for target in "${targets[@]}"; do
  work=$build/fuzz-run/$target
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  # New inputs go to the work corpus (the first directory); the seeds and
  # regressions in the source tree are only read.
  # A target without past findings has no regressions directory yet.
  inputs=("$root/tests/fuzz/corpus/$target")
  [ -d "$root/tests/fuzz/regressions/$target" ] && inputs+=("$root/tests/fuzz/regressions/$target")
  set +e
  (cd "$work" && TMPDIR=$work/tmp "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 -dict="$root/tests/fuzz/$target.dict" \
     -artifact_prefix="$work/artifacts/" "$work/corpus" "${inputs[@]}") >"$work/log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $target: ${runs:-?} inputs in ${took:-?} s, $corpus new corpus entries, no finding"
  else
    status=1
    echo "fuzz: $target: FINDING after ${runs:-?} inputs (exit status $rc); the report:" >&2
    grep -v '^#[0-9]' "$work/log" | tail -40 >&2
    echo "fuzz: $target: saved input(s):" $(ls "$work"/artifacts/* 2>/dev/null) >&2
  fi
done
exit $status
