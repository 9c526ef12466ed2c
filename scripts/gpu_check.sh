#!/usr/bin/env bash
# The GPU check, in one go on a machine with an NVIDIA GPU (well under 8
# minutes on one H100): the device probe, the GPU tests (cuda against the
# reference engine on every seeded edge shape, and the >2^32-value layer),
# compute-sanitizer memcheck and racecheck on a small profile, --verify of the
# bundled real network on the cuda engine, and the benchmark on a synthetic
# ResNet-50 trace. A short table comes last; full logs go to $LOG_DIR.
#
#   scripts/gpu_check.sh                  # uses build/ (built here if missing)
#   BUILD_DIR=.device/build scripts/gpu_check.sh
#
# A build made on another machine can be carried here: copy build/laconic,
# build/laconic_bench and build/tests/laconic_tests into one folder's same
# layout, with the OpenMP runtime (libgomp.so.1) in its lib/, and point
# BUILD_DIR at it (the CUDA runtime is linked statically). Configure such a
# build with -DLACONIC_ENABLE_MPI=OFF unless the GPU machine has Open MPI
# (libmpi.so.40): a build with MPI links it.
#
# Environment: BUILD_DIR (default build), LOG_DIR (default $OUT when set,
# else /tmp/laconic-gpu-check), BENCH_SAMPLES (ResNet-50 images, default 64),
# GPU_CHECK_ALLOW_NO_DEVICE=1 to run the plumbing on a machine without a GPU
# (the device steps then report "skipped").
#
# The test binary is run directly, not through ctest: a build carried from
# another machine keeps that machine's paths in its CTest files. The tests
# find this checkout and the carried CLI through LACONIC_SOURCE_DIR and
# LACONIC_BINARY.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
LOG_DIR=${LOG_DIR:-${OUT:-/tmp/laconic-gpu-check}}
BENCH_SAMPLES=${BENCH_SAMPLES:-64}
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

started=$(date +%s)
if [ ! -x "$BUILD_DIR/laconic" ]; then
  echo "gpu_check: no $BUILD_DIR/laconic; building" >&2
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" \
    >"$LOG_DIR/configure.log" 2>&1 && cmake --build "$BUILD_DIR" -j"$(nproc)" >"$LOG_DIR/build.log" 2>&1 \
    || { record build FAIL "see $LOG_DIR/build.log"; printf '%s\n' "${SUMMARY[@]}"; exit 1; }
fi
BUILD_DIR=$(realpath "$BUILD_DIR")
LACONIC="$BUILD_DIR/laconic"
TESTS="$BUILD_DIR/tests/laconic_tests"
BENCH="$BUILD_DIR/laconic_bench"
export LACONIC_SOURCE_DIR="$ROOT" LACONIC_BINARY="$LACONIC"

info=$("$LACONIC" info 2>&1)
echo "$info" >"$LOG_DIR/info.log"
device=$(echo "$info" | grep -m1 '^CUDA' || echo "CUDA: ?")
if echo "$info" | grep -q "engine auto: cuda"; then
  record "device" PASS "$device"
  have_device=1
else
  have_device=0
  if [ "${GPU_CHECK_ALLOW_NO_DEVICE:-0}" = 1 ]; then
    record "device" "none" "$device"
  else
    record "device" FAIL "$device"
    printf '\n| step | result | detail |\n| --- | --- | --- |\n'; printf '%s\n' "${SUMMARY[@]}"
    exit 1
  fi
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$LOG_DIR/nvidia-smi.log" 2>&1 || true

# 1. The whole GoogleTest suite: with a device, cuda joins every engine test
# (seeded edge shapes, hand-worked cases, determinism) and the >2^32-value
# layer runs.
if "$TESTS" >"$LOG_DIR/tests.log" 2>&1; then
  record "gpu tests" PASS "$(grep -E '^\[  (PASSED  |SKIPPED )\] [0-9]+ test' "$LOG_DIR/tests.log" | tr -s ' ' | tr '\n' ' ')"
else
  record "gpu tests" FAIL "$(grep -m3 -E 'FAILED|Failure' "$LOG_DIR/tests.log" | tr '\n' ' ' | cut -c1-200)"
fi

# 2. compute-sanitizer on a small profile (the synthetic tiny network).
if [ "$have_device" = 1 ] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    if compute-sanitizer --tool "$tool" --error-exitcode 9 "$LACONIC" profile datasets/tiny/manifest.json \
         --engine cuda -q >"$LOG_DIR/sanitizer-$tool.log" 2>&1; then
      record "compute-sanitizer $tool" PASS "$(grep -m1 'ERROR SUMMARY' "$LOG_DIR/sanitizer-$tool.log" || true)"
    else
      record "compute-sanitizer $tool" FAIL "$(grep -m1 -E 'ERROR SUMMARY|Error' "$LOG_DIR/sanitizer-$tool.log")"
    fi
  done
else
  record "compute-sanitizer" skipped "no device or no compute-sanitizer"
fi

# 3. The bundled real network on the cuda engine, checked against the reference engine.
engine=cuda; [ "$have_device" = 1 ] || engine=cpu
if "$LACONIC" profile datasets/mobilenetv2/manifest.json --engine "$engine" --verify \
     --json "$LOG_DIR/mobilenetv2.json" >"$LOG_DIR/verify.log" 2>&1; then
  record "verify mobilenetv2 ($engine)" PASS "every count equals the reference engine's"
else
  record "verify mobilenetv2 ($engine)" FAIL "$(tail -3 "$LOG_DIR/verify.log" | tr '\n' ' ' | cut -c1-200)"
fi

# 4. The benchmark on a synthetic ResNet-50 trace.
trace=/tmp/laconic-resnet50
if [ ! -f "$trace/manifest.json" ]; then
  "$LACONIC" synth resnet50 --out "$trace" --samples "$BENCH_SAMPLES" >"$LOG_DIR/synth.log" 2>&1 \
    || record "synth resnet50" FAIL "see $LOG_DIR/synth.log"
fi
engines=cuda,cpu; [ "$have_device" = 1 ] || engines=cpu
if "$BENCH" "$trace/manifest.json" --engines "$engines" --samples "$BENCH_SAMPLES" --repeat 3 \
     >"$LOG_DIR/bench.md" 2>"$LOG_DIR/bench.log"; then
  record "benchmark" PASS "$LOG_DIR/bench.md"
else
  record "benchmark" FAIL "$(tail -2 "$LOG_DIR/bench.log" | tr '\n' ' ')"
fi

echo
cat "$LOG_DIR/bench.md" 2>/dev/null
printf '\n| step | result | detail |\n| --- | --- | --- |\n'
printf '%s\n' "${SUMMARY[@]}"
echo
echo "gpu_check: $(( $(date +%s) - started )) s; logs in $LOG_DIR"
exit $FAILED
