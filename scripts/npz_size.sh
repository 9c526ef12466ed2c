#!/usr/bin/env bash
# .npz against .npy on the synthetic ResNet-50 (torchvision's layer shapes,
# values as `laconic synth` draws them, or fitted to the bundled MobileNetV2
# with --fit): the bytes on disk, the seconds `synth` takes to write them and
# the seconds `laconic profile` (cpu engine, NPZ_THREADS threads, default 1,
# so that the difference is the reading and not the machine's load) takes to
# read and profile them (the fastest of NPZ_REPEAT runs, default 3).
# Prints one Markdown table.
#
#   scripts/npz_size.sh
#
# Environment: BUILD_DIR (default build), NPZ_DATA (where the traces are
# written, default $BUILD_DIR/npz-data; removed and rewritten), NPZ_REPEAT,
# NPZ_THREADS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
data=${NPZ_DATA:-$build/npz-data}
repeat=${NPZ_REPEAT:-3}
threads=${NPZ_THREADS:-1}
cmake --build "$build" -j "$(nproc)" --target laconic >/dev/null
rm -rf "$data" && mkdir -p "$data"

seconds() {  # seconds COMMAND...: the wall time of COMMAND, output discarded
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$start $end" | awk '{printf "%.1f", $2 - $1}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); profile on $threads thread(s)"
echo
echo "| values | format | bytes | of .npy | synth s | profile s |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for values in "16-bit" "8-bit" "8-bit, fitted"; do
  args=(--bits 16)
  case "$values" in
    "8-bit") args=(--bits 8) ;;
    "8-bit, fitted") args=(--bits 8 --fit "$root/datasets/mobilenetv2/manifest.json") ;;
  esac
  npy_bytes=0
  for format in npy npz; do
    out="$data/${values//[ ,]/_}-$format"
    extra=()
    [ "$format" = npz ] && extra=(--compress)
    synth_s=$(seconds "$build/laconic" synth resnet50 --out "$out" "${args[@]}" "${extra[@]}")
    bytes=$(du -sb "$out" | cut -f1)
    [ "$format" = npy ] && npy_bytes=$bytes
    profile_s=$(for _ in $(seq "$repeat"); do seconds env OMP_NUM_THREADS="$threads" "$build/laconic" profile "$out/manifest.json" -q --engine cpu; echo; done |
                sort -n | head -1)
    share=$(awk -v a="$bytes" -v b="$npy_bytes" 'BEGIN {printf "%.0f%%", 100 * a / b}')
    echo "| $values | .$format | $bytes | $share | $synth_s | $profile_s |"
  done
done
