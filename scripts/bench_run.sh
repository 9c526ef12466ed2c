#!/usr/bin/env bash
# Benchmark of large runs (README "Large runs"): MPI ranks against threads,
# the cost of a checkpoint, and peak memory on a trace larger than memory.
# Prints tables; asserts nothing (the tests check the reports' equality).
#
#   scripts/bench_run.sh                    # 1 vs 2 ranks, checkpoint overhead (64 images)
#   BENCH_LARGE_GB=30 scripts/bench_run.sh  # also a 30 GB trace: peak RSS and images/s
#
# Environment: BUILD_DIR (default build), BENCH_DATA (where traces are
# written, default $BUILD_DIR/bench-data), BENCH_SAMPLES (images of the
# ResNet-50 trace for the first two tables, default 64), BENCH_REPEAT (runs
# of each row, the fastest counts; default 3), BENCH_LARGE_GB (size of the
# large trace in GB, 0 = skip; default 0), BENCH_KEEP_LARGE (1: keep it).
#
# Tables:
#  1. scale-out: one process with 1 thread, mpirun -np 2 with 1 thread each,
#     one process with 2 threads; wall seconds, CPU seconds, images/s, the
#     ratio to one rank, and whether the JSON reports are identical. On a
#     machine shared with other work the wall times say little, so the CPU
#     seconds of each rank are measured too (GNU time around each rank): one
#     process's CPU seconds over the busiest rank's is the ratio the two ranks
#     reach when each has a core of its own (a waiting rank polls, it does
#     not spin);
#  2. checkpoint: the 2-thread run without and with --checkpoint (a fresh
#     directory each time), and the overhead;
#  3. large trace: `laconic synth resnet50` of BENCH_LARGE_GB, profiled with
#     2 threads: size, the machine's memory, peak RSS (GNU time), images/s,
#     and the same for a small trace, to show the RSS does not grow with it;
#  4. projection: hours for 50,000 ResNet-50 images from the measured
#     per-image cost of table 1 (2 threads) on this machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
samples=${BENCH_SAMPLES:-64}
repeat=${BENCH_REPEAT:-3}
large_gb=${BENCH_LARGE_GB:-0}
data=${BENCH_DATA:-$build/bench-data}
laconic=$build/laconic

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target laconic >/dev/null
command -v /usr/bin/time >/dev/null || { echo "bench_run: needs GNU time (apt-get install time)" >&2; exit 1; }

mpirun_args=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_args+=(--allow-run-as-root)
have_mpi=0
if "$laconic" info | grep -q '^MPI: yes' && command -v mpirun >/dev/null; then have_mpi=1; fi

trace() {  # trace NAME IMAGES [extra synth options]: writes a ResNet-50 trace once
  local dir=$data/$1 images=$2
  shift 2
  if [ ! -f "$dir/manifest.json" ]; then
    echo "bench_run: writing a synthetic ResNet-50 trace of $images image(s) to $dir" >&2
    "$laconic" synth resnet50 --out "$dir" --samples "$images" --bits 16 --zero-fraction 0.5 "$@" >/dev/null
  fi
  echo "$dir/manifest.json"
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# best NAME CMD...: runs CMD BENCH_REPEAT times; sets wall, cpu, rss of the
# fastest run. $before, when set, is run before each (not timed).
before=""
best() {
  local name=$1
  shift
  wall=""
  for _ in $(seq 1 "$repeat"); do
    [ -z "$before" ] || eval "$before"
    /usr/bin/time -f "%e %U %S %M" -o "$scratch/time" "$@" >"$scratch/$name.md"
    read -r w u s m <"$scratch/time"
    if [ -z "$wall" ] || awk "BEGIN{exit !($w < $wall)}"; then
      wall=$w
      cpu=$(awk "BEGIN{printf \"%.2f\", $u + $s}")
      rss=$m
    fi
  done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

manifest=$(trace "resnet50-$samples" "$samples")
profile=("$laconic" profile "$manifest" --engine cpu -q)

echo "### Scale-out: $samples ResNet-50 images (synthetic), cpu engine, fastest of $repeat"
echo
echo "| run | wall s | CPU s | images/s | vs 1 rank | CPU s of each rank | 1 process CPU s / busiest rank's | report equal to 1 process |"
echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"
best one "${profile[@]}" --threads 1 --json "$scratch/one.json"
base=$wall
base_cpu=$cpu
printf "| 1 process, 1 thread | %s | %s | %.2f | 1.00 | %s | 1.00 | (reference) |\n" "$wall" "$cpu" \
  "$(awk "BEGIN{print $samples/$wall}")" "$cpu"
if [ "$have_mpi" = 1 ]; then
  # Each rank under GNU time, its CPU seconds in $scratch/rank.<rank> (of the last run).
  best two mpirun "${mpirun_args[@]}" -np 2 sh -c \
    'exec /usr/bin/time -f "%U %S" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$scratch/rank" \
    "${profile[@]}" --threads 1 --json "$scratch/two.json"
  same=$(cmp -s "$scratch/one.json" "$scratch/two.json" && echo yes || echo NO)
  ranks=$(for r in 0 1; do awk '{printf "%.2f", $1 + $2}' "$scratch/rank.$r"; echo; done | paste -sd/ -)
  busiest=$(for r in 0 1; do awk '{print $1 + $2}' "$scratch/rank.$r"; done | sort -g | tail -1)
  printf "| mpirun -np 2, 1 thread each | %s | %s | %.2f | %.2f | %s | %.2f | %s |\n" "$wall" "$cpu" \
    "$(awk "BEGIN{print $samples/$wall}")" "$(awk "BEGIN{print $base/$wall}")" "$ranks" \
    "$(awk "BEGIN{print $base_cpu/$busiest}")" "$same"
else
  echo "| mpirun -np 2, 1 thread each | | | | | | | (this build has no MPI) |"
fi
best threads "${profile[@]}" --threads 2 --json "$scratch/threads.json"
same=$(cmp -s "$scratch/one.json" "$scratch/threads.json" && echo yes || echo NO)
threads_wall=$wall
printf "| 1 process, 2 threads | %s | %s | %.2f | %.2f | | | %s |\n" "$wall" "$cpu" \
  "$(awk "BEGIN{print $samples/$wall}")" "$(awk "BEGIN{print $base/$wall}")" "$same"
echo

echo "### Checkpoint: the 2-thread run with and without --checkpoint, alternately, fastest of $repeat each"
echo
# Alternately, so that a change in the machine's load hits both alike.
plain_wall="" checkpointed_wall=""
for _ in $(seq 1 "$repeat"); do
  /usr/bin/time -f "%e" -o "$scratch/time" "${profile[@]}" --threads 2 >/dev/null
  w=$(cat "$scratch/time")
  if [ -z "$plain_wall" ] || awk "BEGIN{exit !($w < $plain_wall)}"; then plain_wall=$w; fi
  rm -rf "$scratch/ck"
  /usr/bin/time -f "%e" -o "$scratch/time" "${profile[@]}" --threads 2 --checkpoint "$scratch/ck" >/dev/null
  w=$(cat "$scratch/time")
  if [ -z "$checkpointed_wall" ] || awk "BEGIN{exit !($w < $checkpointed_wall)}"; then checkpointed_wall=$w; fi
done
log_bytes=$(cat "$scratch"/ck/*.log | wc -c)
echo "| run | wall s | overhead |"
echo "| --- | ---: | ---: |"
printf "| without --checkpoint | %s | |\n" "$plain_wall"
printf "| with --checkpoint (%s bytes of log) | %s | %+.1f %% |\n" "$log_bytes" "$checkpointed_wall" \
  "$(awk "BEGIN{print 100 * ($checkpointed_wall - $plain_wall) / $plain_wall}")"
echo

per_image=$(awk "BEGIN{print $threads_wall / $samples}")
if [ "$large_gb" != 0 ]; then
  echo "### Large trace: ${large_gb} GB of ResNet-50 activations, 2 threads, one run"
  echo
  per_image_bytes=21328896  # 16-bit activations of one ResNet-50 image
  images=$(awk "BEGIN{printf \"%d\", $large_gb * 1e9 / $per_image_bytes + 1}")
  large=$(trace "resnet50-large-$images" "$images" --samples-per-file 32)
  small=$manifest
  echo "| trace | images | size on disk | memory | peak RSS | wall s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  mem=$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
  for which in small large; do
    m=$small n=$samples
    [ "$which" = large ] && m=$large n=$images
    /usr/bin/time -f "%e %M" -o "$scratch/time" "$laconic" profile "$m" --engine cpu --threads 2 -q >/dev/null
    read -r w r <"$scratch/time"
    size=$(du -sh "$(dirname "$m")" | cut -f1)
    printf "| %s | %s | %s | %s | %.0f MiB | %s | %.2f |\n" "$which" "$n" "$size" "$mem" "$(awk "BEGIN{print $r/1024}")" \
      "$w" "$(awk "BEGIN{print $n/$w}")"
  done
  [ "${BENCH_KEEP_LARGE:-0}" = 1 ] || rm -rf "$(dirname "$large")"
  echo
fi

echo "### Projection: 50,000 ResNet-50 images"
echo
printf "From table 1 (1 process, 2 threads, wall): %.4f s per image on this machine: %.1f hours for 50,000 images.\n" \
  "$per_image" "$(awk "BEGIN{print $per_image * 50000 / 3600}")"
printf "From table 1 (1 process, 1 thread, CPU): %.4f CPU s per image: %.2f hours on 2 idle cores, %.2f hours on 16\n" \
  "$(awk "BEGIN{print $base_cpu / $samples}")" "$(awk "BEGIN{print $base_cpu / $samples * 50000 / 3600 / 2}")" \
  "$(awk "BEGIN{print $base_cpu / $samples * 50000 / 3600 / 16}")"
echo "(cores of this machine's speed, the work shared perfectly; the traces, 21 MB per image, must be read as fast)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
