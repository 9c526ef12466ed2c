#!/usr/bin/env bash
# Installs the Debian packages laconic needs (if missing), configures a
# Release build in build/ and builds the command-line tool, build/laconic,
# and nothing else, so that the first profile does not wait for the test
# suite (scripts/test.sh builds the rest). The CUDA code is compiled when
# nvcc is at /usr/local/cuda/bin/nvcc (or CUDACXX names one); without it the
# CPU engines build alone. The Python module of live profiling needs more
# packages (python3-dev pybind11-dev python3-pybind11 libdlpack-dev, which
# .ci/run installs); scripts/test.sh configures again and builds it when
# they are there (README "Live profiling from Python").
# OpenMPI (libopenmpi-dev, openmpi-bin) gives MPI runs (mpirun -np N laconic
# profile ...) and their tests; the build works without it too.
#
#   scripts/setup.sh            # build/ in the repository
#   BUILD_DIR=/tmp/b scripts/setup.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}

packages=(cmake g++ make libcxxopts-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cuda=()
if [ -n "${CUDACXX:-}" ]; then
  cuda=(-DCMAKE_CUDA_COMPILER="$CUDACXX")
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${cuda[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target laconic
