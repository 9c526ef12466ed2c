#!/usr/bin/env bash
# A checkpointed run killed with SIGKILL at random moments and resumed until
# it finishes gives the reports of an uninterrupted run, byte for byte.
#
#   tests/run/kill_resume.sh LACONIC [SEEDS]
#
# For each seed (1..SEEDS, default 4) the run is killed up to three times,
# each time after a delay drawn (seeded) from the length of a whole run, then
# resumed with --resume; a killed run must leave no report or a whole one. Exit 0
# when every seed gives the uninterrupted reports, 1 otherwise.
set -euo pipefail
laconic=$1
seeds=${2:-4}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$laconic" synth tiny --out "$dir/net" --samples 16 --seed 11 >/dev/null
run=(profile "$dir/net/manifest.json" --engine reference --threads 1 --unit-samples 1 --per-sample -q)
"$laconic" "${run[@]}" --json "$dir/expected.json" --csv "$dir/expected.csv" >"$dir/expected.md"

# The length of a checkpointed run (96 units of a few ms each, each synced), in milliseconds.
start=$(date +%s%N)
"$laconic" "${run[@]}" --checkpoint "$dir/timing" >/dev/null
length_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$length_ms" -ge 20 ] || length_ms=20
echo "kill_resume: a whole run takes ${length_ms} ms" >&2

failed=0
for seed in $(seq 1 "$seeds"); do
  RANDOM=$seed
  ck="$dir/ck-$seed"
  rm -f "$dir/out.json" "$dir/out.csv" "$dir/out.md"
  kills=0
  resume=()
  while :; do
    "$laconic" "${run[@]}" --checkpoint "$ck" "${resume[@]}" --json "$dir/out.json" --csv "$dir/out.csv" \
      >"$dir/out.md" 2>"$dir/err" &
    pid=$!
    if [ "$kills" -lt 3 ]; then
      delay_ms=$(( RANDOM % length_ms ))
      sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
      if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
        # Reports are renamed into place whole: a run killed after writing
        # one (before it exited) leaves it complete, never a part of one.
        for ext in json csv; do
          if [ -e "$dir/out.$ext" ] && ! cmp -s "$dir/out.$ext" "$dir/expected.$ext"; then
            echo "kill_resume: seed $seed: a run killed after ${delay_ms} ms left an incomplete $ext report" >&2
            failed=1
          fi
        done
        resume=(--resume)
        continue
      fi
    fi
    if ! wait "$pid"; then
      echo "kill_resume: seed $seed: the resumed run failed:" >&2
      cat "$dir/err" >&2
      failed=1
    fi
    break
  done
  units=$(cat "$ck"/*.log | wc -c)
  if cmp -s "$dir/out.json" "$dir/expected.json" && cmp -s "$dir/out.csv" "$dir/expected.csv" &&
     cmp -s "$dir/out.md" "$dir/expected.md"; then
    echo "kill_resume: seed $seed: killed $kills time(s), resumed to the uninterrupted reports ($units bytes of logs)" >&2
  else
    echo "kill_resume: seed $seed: killed $kills time(s); the resumed reports differ from the uninterrupted run's" >&2
    failed=1
  fi
done
exit "$failed"
