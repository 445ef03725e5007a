#!/usr/bin/env bash
# What --stitch costs (SPEC §5.7, §8): peak RSS and wall time of `validate`,
# `send --dry-run` and `send --dry-run --stitch` on one corpus, so the first
# pass can be compared with a validate of the same input; then the same on
# a corpus of nothing but links, to see what the link table itself weighs.
#
#   bench/stitch.sh                          # a 200 MiB corpus, 1,000,000 links
#   bench/stitch.sh BIN CORPUS               # a given binary and corpus
#   STITCH_SIZE=1G STITCH_LINKS=5000000 bench/stitch.sh
#
# Without BIN it builds the release binary; without CORPUS it generates one
# with the deterministic generator (examples/gen-events.rs). GNU time
# measures; it is installed from Debian's packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${STITCH_SIZE:-200M}
LINKS=${STITCH_LINKS:-1000000}
DIR=${BENCH_DIR:-target/bench}
mkdir -p "$DIR"

[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

if [ $# -ge 1 ]; then
  BIN=$1
else
  cargo build --release --quiet --bin segment-planhat
  BIN=target/release/segment-planhat
fi
if [ $# -ge 2 ]; then
  corpus=$2
else
  corpus=$DIR/stitch-$SIZE.ndjson
  if [ ! -s "$corpus" ]; then
    cargo build --release --quiet --example gen-events
    target/release/examples/gen-events --bytes "$SIZE" --seed 3 > "$corpus"
  fi
fi

# LINKS identifies, each linking its own anonymousId to one of LINKS/5
# users, then one anonymous page view per link: the table at its largest.
links=$DIR/links-$LINKS.ndjson
if [ ! -s "$links" ]; then
  awk -v n="$LINKS" 'BEGIN {
    for (i = 0; i < n; i++)
      printf "{\"type\":\"identify\",\"userId\":\"user-%07d\",\"anonymousId\":\"3f1c9a52-7d7e-4b8f-%012d\",\"timestamp\":\"2024-03-01T12:00:00Z\"}\n", i % int(n / 5 + 1), i
    for (i = 0; i < n; i++)
      printf "{\"type\":\"page\",\"anonymousId\":\"3f1c9a52-7d7e-4b8f-%012d\",\"name\":\"Home\",\"timestamp\":\"2024-03-01T12:00:00Z\"}\n", i
  }' > "$links"
fi

# Runs one command under GNU time; prints its wall time and peak RSS.
measure() {
  local name=$1 input=$2
  shift 2
  local log
  log=$(mktemp)
  # Anonymous and rejected messages make exit code 1 on some corpora: that
  # is part of the work, not a failure of the benchmark.
  /usr/bin/time -v "$@" "$input" > /dev/null 2> "$log" || true
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  printf '| %-30s | %-28s | %10s | %9.1f |\n' "$name" "$(basename "$input")" "$wall" "$(awk -v kb="$rss" 'BEGIN { print kb / 1024 }')"
  rm -f "$log"
}

echo "| command | input | wall (m:ss) | peak RSS (MiB) |"
echo "|---|---|---:|---:|"
for input in "$corpus" "$links"; do
  measure "validate" "$input" "$BIN" validate
  measure "validate --stitch" "$input" "$BIN" validate --stitch
  measure "send --dry-run" "$input" "$BIN" send --dry-run -q
  measure "send --dry-run --stitch" "$input" "$BIN" send --dry-run -q --stitch
done
ls -l "$corpus" "$links" | awk '{print $5, $9}'
wc -l "$corpus" "$links"
