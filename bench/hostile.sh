#!/usr/bin/env bash
# Peak memory on the hostile lines of issue 14 (SPEC §3: memory for a line
# stays a small multiple of its size; lines past --max-line-bytes are never
# held). Not a timed test: it prints peak RSS (GNU time) per binary and
# input, for BENCHMARKS.md.
#
#   bench/hostile.sh                          # the release build
#   bench/hostile.sh old/segment-planhat target/release/segment-planhat
#
# Inputs (generated once under target/bench):
#   - envelope: a 90 KB batch envelope, 15,000 empty messages sharing a
#     context of 15,000 empty arrays (quadratic when the context is copied
#     into every message at once);
#   - long-line: one 50 MB line `[0,0,…]`;
#   - array-export: a 100 MB JSON array of messages on one line (an export
#     written with `jq -s -c`, an easy mistake).
# Each run is capped at BENCH_MEM_LIMIT_MB of virtual memory (default 4096)
# so that an old binary aborts instead of taking the machine's memory.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/time ]; then
  echo "GNU time (/usr/bin/time) is missing: apt-get install -y time" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "python3 is needed to generate the inputs" >&2; exit 2; }

DIR=${BENCH_DIR:-target/bench}
LIMIT_MB=${BENCH_MEM_LIMIT_MB:-4096}
mkdir -p "$DIR"
if [ $# -eq 0 ]; then
  cargo build --release --quiet --bin segment-planhat --example gen-events
  set -- target/release/segment-planhat
fi

envelope=$DIR/hostile-envelope.ndjson
long=$DIR/hostile-long-line.ndjson
export=$DIR/hostile-array-export.json
[ -s "$envelope" ] || python3 -c "import sys;n=15000;sys.stdout.buffer.write(b'{\"batch\":['+b','.join([b'{}']*n)+b'],\"context\":{\"x\":['+b','.join([b'[]']*n)+b']}}\n')" > "$envelope"
[ -s "$long" ] || python3 -c "import sys;n=25*1024*1024;sys.stdout.buffer.write(b'['+b'0,'*(n-1)+b'0]\n')" > "$long"
if [ ! -s "$export" ]; then
  [ -x target/release/examples/gen-events ] ||
    cargo build --release --quiet --example gen-events
  target/release/examples/gen-events --bytes 100M --seed 3 |
    awk 'BEGIN { printf "[" } NR > 1 { printf "," } { printf "%s", $0 } END { print "]" }' > "$export"
fi

printf '%-40s %-14s %10s %12s %8s %5s\n' binary input size peak_rss seconds exit
for bin in "$@"; do
  for input in "$envelope" "$long" "$export"; do
    size=$(stat -c %s "$input")
    log=$(mktemp)
    # validate reads and maps every line as send does, without a network.
    set +e
    (ulimit -v $((LIMIT_MB * 1024)); /usr/bin/time -v "$bin" validate "$input") \
      >/dev/null 2>"$log"
    code=$?
    set -e
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f MiB", $2 / 1024 }' "$log")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$log")
    if grep -q "memory allocation\|out of memory\|Cannot allocate" "$log"; then
      rss="$rss (aborted at the ${LIMIT_MB} MiB cap)"
    fi
    printf '%-40s %-14s %10s %12s %8s %5s\n' "$bin" "$(basename "$input" | sed 's/hostile-//; s/\..*//')" \
      "$((size / 1024)) KiB" "$rss" "$secs" "$code"
    rm -f "$log"
  done
done
