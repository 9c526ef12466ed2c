#!/usr/bin/env bash
# Produces the comparison with the Laconic paper in docs/datasets.md: ResNet-50 (Keras, ImageNet
# weights), MobileNetV2 and InceptionV3 (nsfwjs) on the same photos, at 8 and 16 bits, with the
# weights as the models store them and with BatchNorm folded in; per network the zero fractions and
# mean terms of activations and weights and the zero-skip, Stripes, Pragmatic and Laconic work
# potentials (MODEL.md §4) under the binary, booth and NAF encodings.
#
# ResNet-50 is also dumped at 10 and 12 bits (weights as stored), to show how the potentials depend
# on the values' precision within a 16-bit datapath.
#
# For each network, width and BatchNorm treatment it dumps the photos (dump_resnet50.mjs or
# dump_nsfwjs.mjs, 8- or 16-bit linear per-tensor integers, wasm backend), profiles the dump with
# `laconic profile --json` once per encoding against a baseline as wide as the traces (and, for the
# narrower dumps, also against the default 16-bit baseline), keeps the JSON reports and the manifest,
# deletes the dump (unless --keep), and finally prints the tables (paper_table.mjs). Every command
# it runs is written to WORK/commands.txt, in order.
#
#   scripts/realnet/paper_table.sh [--photos DIR] [--count N] [--work DIR] [--laconic BIN] [--keep]
#
#   --photos DIR   the photos (default: the natural set, fetched into WORK/photos by
#                  fetch_photos.sh --set natural)
#   --count N      the first N photos (default all: 16 for the natural set)
#   --work DIR     where dumps, reports and the table go (default /tmp/laconic-paper-table)
#   --laconic BIN  the laconic binary (default build/laconic)
#   --keep         keep the dumps (about 2.5 GB for 16 photos)
#
# Needs `npm ci` in scripts/realnet and scripts/realnet/fetch_resnet50.sh. On a 2-core VM the 16
# photos take about 10 minutes, most of it writing and reading the 16-bit dumps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

photos=""
count=""
work=/tmp/laconic-paper-table
laconic="$repo/build/laconic"
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --photos) photos="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --laconic) laconic="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "paper_table: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$laconic" ] || { echo "paper_table: $laconic is not an executable laconic (--laconic)" >&2; exit 1; }

mkdir -p "$work/reports"
log="$work/commands.txt"
: > "$log"
run() { # echo a command into the log, then run it
  printf '%s\n' "$*" >> "$log"
  "$@"
}

if [ -z "$photos" ]; then
  photos="$work/photos"
  if [ "$(ls "$photos" 2>/dev/null | wc -l)" -lt 16 ]; then run "$here/fetch_photos.sh" --set natural "$photos"; fi
fi
count_args=()
[ -n "$count" ] && count_args=(--count "$count")

for net in resnet50 mobilenetv2 inceptionv3; do
  widths="8 16"
  [ "$net" = resnet50 ] && widths="8 10 12 16"
  for bits in $widths; do
    for bn in separate folded; do
      if [ "$bits" = 10 ] || [ "$bits" = 12 ]; then [ "$bn" = separate ] || continue; fi
      tag="$net-$bits-$bn"
      dir="$work/$tag"
      rm -rf "$dir"
      if [ "$net" = resnet50 ]; then
        dump=(node "$here/dump_resnet50.mjs")
      else
        dump=(node "$here/dump_nsfwjs.mjs" --model "$net")
      fi
      if [ "$bn" = folded ]; then dump+=(--fold-batchnorm); else dump+=(--keep-batchnorm); fi
      echo "paper_table: $tag" >&2
      run "${dump[@]}" --backend wasm --images "$photos" "${count_args[@]}" --bits "$bits" --out "$dir" 2>"$work/reports/$tag.dump.log"
      cp "$dir/manifest.json" "$work/reports/$tag.manifest.json"
      cp "$dir/dump_info.json" "$work/reports/$tag.dump_info.json"
      for enc in binary booth naf; do
        run "$laconic" profile "$dir/manifest.json" -q --encoding "$enc" --baseline-width "$bits" \
          --json "$work/reports/$tag-$enc.json" >/dev/null
        if [ "$bits" -lt 16 ]; then
          run "$laconic" profile "$dir/manifest.json" -q --encoding "$enc" --baseline-width 16 \
            --json "$work/reports/$tag-$enc-b16.json" >/dev/null
        fi
      done
      [ "$keep" = 1 ] || rm -rf "$dir"
    done
  done
done
run node "$here/paper_table.mjs" "$work/reports" | tee "$work/table.md"
echo "paper_table: tables in $work/table.md, commands in $log" >&2
