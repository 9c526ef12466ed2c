#!/usr/bin/env bash
# Fetches the bundled photos (datasets/photos/) from Debian's python3-skimage package without
# installing it: apt-get download + dpkg -x into a temporary directory. chelsea.png and rocket.jpg
# are copied as they are; coffee.png and astronaut.png are re-encoded as JPEG (jpeg-js, quality 90)
# to stay under 300 KB. Needs apt access and `npm ci` in scripts/realnet (for the re-encoding).
# See datasets/photos/SOURCES.md.
#
#   scripts/realnet/fetch_photos.sh [DEST]          (default DEST: datasets/photos)
#   SKIMAGE_VERSION=0.19.3-8 pins the package version (default: 0.19.3-8, else the candidate).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="${1:-$repo/datasets/photos}"
version="${SKIMAGE_VERSION:-0.19.3-8}"
work="$(mktemp -d /tmp/realnet-photos.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cd "$work"
if ! apt-get download "python3-skimage=$version" >/dev/null 2>&1; then
  echo "fetch_photos: python3-skimage=$version is not available; taking the candidate version" >&2
  apt-get download python3-skimage >/dev/null
fi
deb="$(ls python3-skimage_*.deb)"
dpkg -x "$deb" pkg
data="$(find pkg -type d -path '*/skimage/data' | head -n 1)"
[ -n "$data" ] || { echo "fetch_photos: no skimage/data in $deb" >&2; exit 1; }
echo "fetch_photos: $deb" >&2

mkdir -p "$dest"
cp "$data/chelsea.png" "$dest/chelsea.png"
cp "$data/rocket.jpg" "$dest/rocket.jpg"
node "$here/reencode_jpeg.mjs" "$data/coffee.png" "$dest/coffee.jpg" --quality 90
node "$here/reencode_jpeg.mjs" "$data/astronaut.png" "$dest/astronaut.jpg" --quality 90

# The bytes recorded in SOURCES.md (a different package version may differ: a warning, not an error).
if [ -f "$repo/datasets/photos/SOURCES.md" ]; then
  (cd "$dest" && for f in chelsea.png rocket.jpg coffee.jpg astronaut.jpg; do
    want="$(grep -o "$f\` sha256 \`[0-9a-f]*" "$repo/datasets/photos/SOURCES.md" | grep -o '[0-9a-f]\{64\}' || true)"
    got="$(sha256sum "$f" | cut -d' ' -f1)"
    if [ -n "$want" ] && [ "$want" != "$got" ]; then echo "fetch_photos: warning: $f differs from SOURCES.md" >&2; fi
  done)
fi
ls -l "$dest" >&2
