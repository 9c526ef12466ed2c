#!/usr/bin/env bash
# Fetches photos whose licences allow redistribution from Debian packages, without installing them
# (apt-get download + dpkg -x into a temporary directory). Each photo's package, path and licence are
# recorded in datasets/photos/SOURCES.md, and its bytes are checked against the sha256 there (a
# different package version may differ: a warning, not an error). Needs apt access, and `npm ci` in
# scripts/realnet for the PNG → JPEG re-encodings (coffee, astronaut).
#
#   scripts/realnet/fetch_photos.sh [DEST]                  the photos committed in datasets/photos
#                                                           (default DEST: datasets/photos)
#   scripts/realnet/fetch_photos.sh --set natural DEST      the 16 natural photos of objects and
#                                                           animals the larger trace sets use (not committed)
#
# Package versions are pinned (Debian bookworm); where a pinned version is gone the candidate is taken.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

set_name=bundled
dest=""
while [ $# -gt 0 ]; do
  case "$1" in
    --set) set_name="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fetch_photos: unknown option $1" >&2; exit 2 ;;
    *) dest="$1"; shift ;;
  esac
done

# file | Debian package | pinned version | path inside the package | how it is copied
photos_bundled="
chelsea.png|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/chelsea.png|copy
rocket.jpg|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/rocket.jpg|copy
coffee.jpg|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/coffee.png|jpeg90
astronaut.jpg|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/astronaut.png|jpeg90
eagle.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/eagle.jpg|copy
"
photos_natural="
apple.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/apple.jpg|copy
board.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/board.jpg|copy
butterfly.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/butterfly.jpg|copy
cars.jpg|libdlib19.1|19.24+dfsg-1|usr/share/doc/libdlib19.1/examples/mmod_cars_test_image.jpg|copy
chelsea.png|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/chelsea.png|copy
coffee.jpg|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/coffee.png|jpeg90
dog.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/dog.jpg|copy
eagle.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/eagle.jpg|copy
fruits.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/fruits.jpg|copy
giraffe.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/giraffe.jpg|copy
home.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/home.jpg|copy
horses.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/horses.jpg|copy
orange.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/orange.jpg|copy
person.jpg|darknet|0.0.0+git20180914.61c9d02e-2+b4|usr/share/darknet/data/person.jpg|copy
rocket.jpg|python3-skimage|0.19.3-8|usr/lib/python3/dist-packages/skimage/data/rocket.jpg|copy
squirrel.jpg|opencv-doc|4.6.0+dfsg-12|usr/share/doc/opencv-doc/examples/data/squirrel_cls.jpg|copy
"
case "$set_name" in
  bundled) list="$photos_bundled"; dest="${dest:-$repo/datasets/photos}" ;;
  natural) list="$photos_natural"; [ -n "$dest" ] || { echo "fetch_photos: --set natural needs a DEST folder" >&2; exit 2; } ;;
  *) echo "fetch_photos: --set must be bundled or natural" >&2; exit 2 ;;
esac

work="$(mktemp -d /tmp/realnet-photos.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"

# Each package once: the pinned version, else the candidate.
unpacked=" "
unpack() { # PACKAGE VERSION
  case "$unpacked" in *" $1 "*) return 0 ;; esac
  if ! (cd "$work" && apt-get download "$1=$2" >/dev/null 2>&1); then
    echo "fetch_photos: $1=$2 is not available; taking the candidate version" >&2
    (cd "$work" && apt-get download "$1" >/dev/null)
  fi
  local deb
  deb="$(ls "$work/$1"_*.deb)"
  mkdir -p "$work/$1"
  dpkg -x "$deb" "$work/$1"
  echo "fetch_photos: $(basename "$deb")" >&2
  unpacked="$unpacked$1 "
}

while IFS='|' read -r file package version inner how; do
  [ -n "$file" ] || continue
  unpack "$package" "$version"
  src="$work/$package/$inner"
  [ -f "$src" ] || { echo "fetch_photos: $package has no /$inner" >&2; exit 1; }
  case "$how" in
    copy) cp "$src" "$dest/$file" ;;
    jpeg90) node "$here/reencode_jpeg.mjs" "$src" "$dest/$file" --quality 90 ;;
    *) echo "fetch_photos: unknown action $how" >&2; exit 1 ;;
  esac
  # The bytes recorded in SOURCES.md.
  want="$(grep "^| \`$file\`" "$repo/datasets/photos/SOURCES.md" | grep -o '[0-9a-f]\{64\}' | head -n 1 || true)"
  got="$(sha256sum "$dest/$file" | cut -d' ' -f1)"
  if [ -z "$want" ]; then
    echo "fetch_photos: warning: $file has no sha256 in datasets/photos/SOURCES.md" >&2
  elif [ "$want" != "$got" ]; then
    echo "fetch_photos: warning: $file differs from SOURCES.md" >&2
  fi
done <<< "$list"
ls -l "$dest" >&2
