#!/usr/bin/env bash
# The GPU check, in one go on a machine with an NVIDIA GPU (meant to finish in
# well under 8 minutes on one H100/H200 with 16 cores): the device probe, the
# whole GoogleTest suite (cuda joins every engine test against the reference
# engine, and the >2^32-value layer runs), compute-sanitizer memcheck and
# racecheck on a small profile, --verify of every bundled network
# (datasets/*/manifest.json) on the cuda engine, one of them again under a
# small --device-memory, and the benchmark on a synthetic ResNet-50 trace
# (images/s of cuda and cpu on the same trace, the terms kernel against a
# device-to-device copy, end to end against pinned host-to-device
# bandwidth). A table comes last; full logs go to $LOG_DIR.
#
#   scripts/gpu_check.sh                  # uses build/ (configured and built here if missing)
#   BUILD_DIR=.device/build scripts/gpu_check.sh
#   scripts/gpu_check.sh --pack .device/build   # on the build machine: bundle build/ for carrying
#
# Carrying a build: on the machine that built it (Debian 12 or newer glibc
# on the GPU machine; the CUDA runtime is linked statically), `--pack DIR`
# copies laconic, laconic_bench, tests/laconic_tests and the OpenMP runtime
# (lib/libgomp.so.1) into DIR; carry DIR (about 15 MB; .device/ is ignored
# by git) and run `BUILD_DIR=DIR scripts/gpu_check.sh` on the GPU machine.
# The build holds sm_80/86/89/90 code and compute_90 PTX (CMakeLists.txt);
# the device row says when a card cannot run it.
# Configure such a build with -DLACONIC_ENABLE_MPI=OFF unless the GPU
# machine has Open MPI (libmpi.so.40): a build with MPI links it.
#
# Environment: BUILD_DIR (default build), LOG_DIR (default $OUT when set,
# else /tmp/laconic-gpu-check), BENCH_SAMPLES (ResNet-50 images, default 64),
# VERIFY_SAMPLES (samples per layer the reference engine checks on each
# bundled network but datasets/tiny, which is checked whole; default 1),
# GPU_CHECK_ALLOW_NO_DEVICE=1 to run the plumbing on a machine without a GPU
# (cuda steps then run on the cpu engine or report "skipped").
#
# The test binary is run directly, not through ctest: a build carried from
# another machine keeps that machine's paths in its CTest files. The tests
# find this checkout and the carried CLI through LACONIC_SOURCE_DIR and
# LACONIC_BINARY.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}

if [ "${1:-}" = "--pack" ]; then
  dest=${2:?"usage: scripts/gpu_check.sh --pack DIR"}
  for f in laconic laconic_bench tests/laconic_tests; do
    [ -x "$BUILD_DIR/$f" ] || { echo "gpu_check: no $BUILD_DIR/$f; build first" >&2; exit 1; }
  done
  mkdir -p "$dest/tests" "$dest/lib"
  cp "$BUILD_DIR/laconic" "$BUILD_DIR/laconic_bench" "$dest/"
  cp "$BUILD_DIR/tests/laconic_tests" "$dest/tests/"
  gomp=$(ldd "$BUILD_DIR/laconic" | awk '/libgomp/ {print $3}')
  [ -n "$gomp" ] && cp -L "$gomp" "$dest/lib/"
  du -sh "$dest"
  exit 0
fi

LOG_DIR=${LOG_DIR:-${OUT:-/tmp/laconic-gpu-check}}
BENCH_SAMPLES=${BENCH_SAMPLES:-64}
VERIFY_SAMPLES=${VERIFY_SAMPLES:-1}
mkdir -p "$LOG_DIR"
export PATH="$PATH:/usr/local/cuda/bin"
# A build carried from another machine may bring its OpenMP runtime along.
[ -d "$BUILD_DIR/lib" ] && export LD_LIBRARY_PATH="$(realpath "$BUILD_DIR/lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

declare -a SUMMARY=()
FAILED=0
record() {  # step, status, detail
  SUMMARY+=("| $1 | $2 | $3 |")
  [ "$2" = "FAIL" ] && FAILED=1
  echo "gpu_check: $1: $2 $3" >&2
}
table() {
  printf '\n| step | result | detail |\n| --- | --- | --- |\n'
  printf '%s\n' "${SUMMARY[@]}"
  echo
  echo "gpu_check: $(( $(date +%s) - started )) s; logs in $LOG_DIR"
}
# Runs a step under a time limit (seconds); its status is the command's.
limited() {
  local seconds=$1
  shift
  timeout --kill-after=10 "$seconds" "$@"
}

started=$(date +%s)
if [ ! -x "$BUILD_DIR/laconic" ]; then
  echo "gpu_check: no $BUILD_DIR/laconic; building" >&2
  if ! cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" >"$LOG_DIR/configure.log" 2>&1; then
    record configure FAIL "see $LOG_DIR/configure.log"
    table
    exit 1
  fi
  build_started=$(date +%s)
  if ! cmake --build "$BUILD_DIR" -j"$(nproc)" >"$LOG_DIR/build.log" 2>&1; then
    record build FAIL "see $LOG_DIR/build.log"
    table
    exit 1
  fi
  record build PASS "$(( $(date +%s) - build_started )) s with $(nproc) jobs; $(grep -c -i 'warning' "$LOG_DIR/build.log") warning line(s)"
fi
BUILD_DIR=$(realpath "$BUILD_DIR")
LACONIC="$BUILD_DIR/laconic"
TESTS="$BUILD_DIR/tests/laconic_tests"
BENCH="$BUILD_DIR/laconic_bench"
export LACONIC_SOURCE_DIR="$ROOT" LACONIC_BINARY="$LACONIC"

info=$("$LACONIC" info 2>&1)
echo "$info" >"$LOG_DIR/info.log"
device=$(echo "$info" | grep -m1 '^CUDA' || echo "CUDA: ?")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$LOG_DIR/nvidia-smi.log" 2>&1 || true
if echo "$info" | grep -q "engine auto: cuda"; then
  record "device" PASS "$device"
  have_device=1
else
  have_device=0
  if [ "${GPU_CHECK_ALLOW_NO_DEVICE:-0}" = 1 ]; then
    record "device" "none" "$device"
  else
    record "device" FAIL "$device"
    table
    exit 1
  fi
fi
engine=cuda; [ "$have_device" = 1 ] || engine=cpu

# 1. The whole GoogleTest suite: with a device, cuda joins every engine test
# (seeded edge shapes, hand-worked cases, determinism) and the >2^32-value
# layer runs.
if limited 300 "$TESTS" >"$LOG_DIR/tests.log" 2>&1; then
  record "test suite" PASS "$(grep -E '^\[  (PASSED  |SKIPPED )\] [0-9]+ test' "$LOG_DIR/tests.log" | tr -s ' ' | tr '\n' ' ')"
else
  record "test suite" FAIL "$(grep -m3 -E '^\[  FAILED  \]|Failure|timed out' "$LOG_DIR/tests.log" | tr '\n' ' ' | cut -c1-200) (see $LOG_DIR/tests.log)"
fi

# 2. compute-sanitizer on a small profile (the synthetic tiny network), every
# launch waited for so that a report names its kernel.
if [ "$have_device" = 1 ] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    if LACONIC_CUDA_SYNC=1 limited 120 compute-sanitizer --tool "$tool" --error-exitcode 9 "$LACONIC" profile \
         datasets/tiny/manifest.json --engine cuda -q >"$LOG_DIR/sanitizer-$tool.log" 2>&1; then
      record "compute-sanitizer $tool" PASS "$(grep -m1 'ERROR SUMMARY' "$LOG_DIR/sanitizer-$tool.log" || true)"
    else
      record "compute-sanitizer $tool" FAIL "$(grep -m1 -E 'ERROR SUMMARY|Error' "$LOG_DIR/sanitizer-$tool.log")"
    fi
  done
else
  record "compute-sanitizer" skipped "no device or no compute-sanitizer"
fi

# 3. Every bundled network on the cuda engine, checked against the reference
# engine (datasets/tiny whole, the others on their first VERIFY_SAMPLES
# samples per layer), then one of them with batches cut by a small budget.
verify() {  # label, manifest, extra arguments...
  local label=$1 manifest=$2
  shift 2
  if limited 240 "$LACONIC" profile "$manifest" --engine "$engine" --verify "$@" \
       --json "$LOG_DIR/$label.json" >"$LOG_DIR/verify-$label.log" 2>&1; then
    record "verify $label ($engine${*:+ $*})" PASS "$(grep -m1 'every count matches' "$LOG_DIR/verify-$label.log" | sed 's/^laconic: --verify: //')"
  else
    record "verify $label ($engine${*:+ $*})" FAIL "$(tail -3 "$LOG_DIR/verify-$label.log" | tr '\n' ' ' | cut -c1-200)"
  fi
}
for manifest in datasets/*/manifest.json; do
  name=$(basename "$(dirname "$manifest")")
  if [ "$name" = tiny ]; then verify "$name" "$manifest"; else verify "$name" "$manifest" --verify-samples "$VERIFY_SAMPLES"; fi
done
[ -f datasets/mobilenetv2/manifest.json ] && [ "$have_device" = 1 ] &&
  verify mobilenetv2-32M datasets/mobilenetv2/manifest.json --verify-samples "$VERIFY_SAMPLES" --device-memory 32M

# 4. The benchmark on a synthetic ResNet-50 trace: cuda and cpu on the same
# trace, the device table and the per-kernel table.
trace=/tmp/laconic-resnet50-$BENCH_SAMPLES
if [ ! -f "$trace/manifest.json" ]; then
  limited 240 "$LACONIC" synth resnet50 --out "$trace" --samples "$BENCH_SAMPLES" >"$LOG_DIR/synth.log" 2>&1 \
    || record "synth resnet50" FAIL "see $LOG_DIR/synth.log"
fi
engines=cuda,cpu; [ "$have_device" = 1 ] || engines=cpu
if limited 300 "$BENCH" "$trace/manifest.json" --engines "$engines" --samples "$BENCH_SAMPLES" --repeat 3 \
     >"$LOG_DIR/bench.md" 2>"$LOG_DIR/bench.log"; then
  record "benchmark" PASS "$(grep -m1 'engines agree' "$LOG_DIR/bench.md"); $LOG_DIR/bench.md"
else
  record "benchmark" FAIL "$(tail -2 "$LOG_DIR/bench.log" | tr '\n' ' ')"
fi

echo
cat "$LOG_DIR/info.log"
echo
cat "$LOG_DIR/bench.md" 2>/dev/null
table
exit $FAILED
