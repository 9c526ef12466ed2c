#!/usr/bin/env bash
# Benchmark: the engines on a synthetic ResNet-50-shaped trace (torchvision's
# 53 conv layers and fc at their real sizes, 16-bit values, half of the
# activations zero as after ReLU). Prints one table: per engine, seconds and
# ns per MAC for work, for cycles and for both, and the speedup over the
# reference engine measured in the same run.
#
#   scripts/bench.sh                 # 1 image, engines cpu and reference
#   BENCH_SAMPLES=4 BENCH_ENGINES=cpu scripts/bench.sh
#
# Environment: BUILD_DIR (default build), BENCH_DATA (where the trace is
# written, default $BUILD_DIR/bench-data), BENCH_SAMPLES (images, default 1),
# BENCH_ENGINES (default cpu,reference), BENCH_REPEAT (runs per engine and
# figure, the fastest counts; default 1), BENCH_PRESET (dnnsim or equal,
# default dnnsim), BENCH_CONFIG (a configuration file applied over it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
samples=${BENCH_SAMPLES:-1}
engines=${BENCH_ENGINES:-cpu,reference}
repeat=${BENCH_REPEAT:-1}
data=${BENCH_DATA:-$build/bench-data}/resnet50-$samples

if [ ! -f "$build/CMakeCache.txt" ]; then
  cuda=()
  [ -x /usr/local/cuda/bin/nvcc ] && cuda=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${cuda[@]}" >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target laconic laconic_bench >/dev/null

if [ ! -f "$data/manifest.json" ]; then
  echo "writing a synthetic ResNet-50 trace ($samples image(s)) to $data" >&2
  "$build/laconic" synth resnet50 --out "$data" --samples "$samples" --bits 16 --zero-fraction 0.5 >/dev/null
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
config=()
[ -n "${BENCH_CONFIG:-}" ] && config=(--config "$BENCH_CONFIG")
"$build/laconic_bench" "$data/manifest.json" --engines "$engines" --repeat "$repeat" --preset "${BENCH_PRESET:-dnnsim}" \
  "${config[@]}"
