#!/usr/bin/env bash
# Measures the performance targets of SPEC §8 on this machine and prints a
# table of ratios against them (the table in BENCHMARKS.md comes from here).
#
#   bench/run.sh                 # 200,000-message corpus and a 1 GiB one (about 25 min)
#   BENCH_QUICK=1 bench/run.sh   # every row on smaller inputs (about 3 min)
#   BENCH_COUNT=50000 BENCH_BIG=256M bench/run.sh   # one size smaller
#
# It builds in release mode, generates the corpora with the deterministic
# generator (examples/gen-events.rs), and measures side by side:
#   - validate and send --dry-run against a bare serde_json parse-and-write
#     of each line (examples/baseline.rs) and an equivalent jq mapping
#     (bench/map.jq), with hyperfine;
#   - send to the mock Planhat (examples/mock-planhat.rs) answering after a
#     simulated 20 ms round trip, at default settings, with --checkpoint,
#     with an API token (against send --dry-run with the same token; the
#     corpus interleaves identify and group calls with events as clients
#     send them), and with --batch-size 1 (one request per event, on a small
#     corpus);
#   - the cost of the first pass over files (SPEC §5.1, §5.7: user → company
#     associations, and --stitch's links), as validate on the file less
#     validate on standard input (read once, no first pass), against a
#     validate; and of a [metrics] table (bench/metrics-map.toml), dry-run
#     and sending;
#   - on a two-source export (the corpus split as Segment lays it out: the
#     backend's track events in a folder that sorts before the web app's
#     identify, group and page calls), the activities without a company
#     with the first pass (the folder) and without it (the same files on
#     standard input, which is read once, as every input was before);
#   - send --dry-run reading the corpus in place from a local S3-compatible
#     server (examples/s3-server.rs) against reading it from disk;
#   - peak RSS of validate, send --dry-run, send --dry-run --stitch and send
#     (to the mock, with and without an API token) on the big corpus, of
#     validate of the big corpus as one object on the S3-compatible server,
#     of validate on 1.5 million messages from a million distinct users, of
#     validate on 4 million group calls from 100 users (who move between
#     companies and back), and of send when Planhat's answers are 300 MiB
#     (GNU time);
#   - a nightly rerun (SPEC §6.1): send --checkpoint over a history of 1.5
#     million messages from a million users in ten files, then again with 2%
#     new messages in a new file, its time against the first run's, its peak
#     RSS, and the size of the memory it keeps;
#   - send with the first pass (files) against send from standard input.
# bench/hostile.sh (memory on hostile lines) and bench/stitch.sh (the link
# table at its largest) measure more; BENCHMARKS.md has their results.
# jq, hyperfine and GNU time are installed from Debian's packages if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

if [ -n "${BENCH_QUICK:-}" ]; then
  : "${BENCH_COUNT:=100000}" "${BENCH_BIG:=128M}" "${BENCH_USERS:=100000}"
  : "${BENCH_GROUP_CALLS:=400000}" "${BENCH_RUNS:=2}" "${BENCH_SEND_RUNS:=2}" "${BENCH_ONE_BY_ONE:=300}"
fi
COUNT=${BENCH_COUNT:-200000}
BIG=${BENCH_BIG:-1G}
USERS=${BENCH_USERS:-1000000}
GROUP_CALLS=${BENCH_GROUP_CALLS:-4000000}
ONE_BY_ONE=${BENCH_ONE_BY_ONE:-1000}
DIR=${BENCH_DIR:-target/bench}
mkdir -p "$DIR"

missing=()
command -v jq >/dev/null || missing+=(jq)
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo build --release --quiet --bin segment-planhat \
  --example gen-events --example baseline --example mock-planhat --example s3-server
BIN=target/release/segment-planhat
EX=target/release/examples

corpus=$DIR/corpus-$COUNT.ndjson
big=$DIR/big-$BIG.ndjson
small=$DIR/small-$ONE_BY_ONE.ndjson
[ -s "$corpus" ] || "$EX/gen-events" --count "$COUNT" --seed 1 > "$corpus"
[ -s "$big" ] || "$EX/gen-events" --bytes "$BIG" --seed 2 > "$big"
[ -s "$small" ] || head -n "$ONE_BY_ONE" "$corpus" > "$small"
users=$DIR/users-$USERS.ndjson
[ -s "$users" ] || "$EX/gen-events" --count $((USERS * 3 / 2)) --users "$USERS" --seed 3 > "$users"
groups=$DIR/groups-$GROUP_CALLS.ndjson
[ -s "$groups" ] || "$EX/gen-events" --count "$GROUP_CALLS" --users 100 --group-heavy --seed 4 > "$groups"
# The nightly rerun's export: the million-user corpus as history, in ten
# files, and 2% more messages of the same stream as the next day's file.
history=$((USERS * 3 / 2))
incr=$DIR/incremental-$USERS
if [ ! -s "$incr/new.ndjson" ]; then
  mkdir -p "$incr/export/day-1"
  "$EX/gen-events" --count $((history + history / 50)) --users "$USERS" --seed 3 > "$incr/all.ndjson"
  head -n "$history" "$incr/all.ndjson" > "$incr/history.ndjson"
  split -n l/10 -d "$incr/history.ndjson" "$incr/export/day-1/part-"
  tail -n $((history / 50)) "$incr/all.ndjson" > "$incr/new.ndjson"
  rm "$incr/all.ndjson" "$incr/history.ndjson"
fi
# The two-source export: backend (track) sorts before web (everything else).
logs=$DIR/two-source-$COUNT/segment-logs
if [ ! -s "$logs/web/2024-03-01/part-0.ndjson" ]; then
  mkdir -p "$logs/backend/2024-03-01" "$logs/web/2024-03-01"
  grep '"type":"track"' "$corpus" > "$logs/backend/2024-03-01/part-0.ndjson"
  grep -v '"type":"track"' "$corpus" > "$logs/web/2024-03-01/part-0.ndjson"
fi

# The corpus holds anonymous page views, which are rejected (exit 1): that
# is part of the work, so failures are not errors here (-i).
hyperfine --warmup 1 --runs "${BENCH_RUNS:-5}" -i --export-json "$DIR/parse.json" \
  -n baseline "$EX/baseline $corpus" \
  -n validate "$BIN validate $corpus" \
  -n validate-stdin "$BIN validate - < $corpus" \
  -n dry-run "$BIN send --dry-run -q $corpus" \
  -n dry-run-token "$BIN send --dry-run -q --api-token bench $corpus" \
  -n dry-run-stitch "$BIN send --dry-run -q --stitch $corpus" \
  -n dry-run-metrics "$BIN send --dry-run -q --map bench/metrics-map.toml $corpus" \
  -n jq "jq -c -f bench/map.jq $corpus" \
  --output=null
# The main-API requests a run with an API token makes: the dry-run prints
# the same requests that send sends.
api_requests=$("$BIN" send --dry-run -q --api-token bench "$corpus" 2>/dev/null | grep -c '"url":"https://api' || true)

port=$((20000 + RANDOM % 20000))
"$EX/mock-planhat" --port "$port" --delay-ms 20 --quiet 2>/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
sleep 0.5
url=http://127.0.0.1:$port
send="$BIN send -q --tenant-token bench --analytics-url $url --api-url $url --failed $DIR/failed.ndjson"
hyperfine --runs "${BENCH_SEND_RUNS:-5}" -i --export-json "$DIR/send.json" \
  --prepare "rm -f $DIR/failed.ndjson $DIR/checkpoint.json $DIR/checkpoint.json.memory" \
  -n send "$send $corpus" \
  -n send-stdin "$send - < $corpus" \
  -n send-checkpoint "$send --checkpoint $DIR/checkpoint.json $corpus" \
  -n send-token "$send --api-token bench $corpus" \
  -n send-metrics "$send --map bench/metrics-map.toml $corpus" \
  --output=null

# The nightly rerun: the first run over the history, then the rerun over
# the history and the new day (three times, each from the first run's
# checkpoint and memory).
incr_send="$send --checkpoint $incr/checkpoint.json"
rm -rf "$incr/export/day-2" "$incr/checkpoint.json" "$incr/checkpoint.json.memory" "$incr/saved"
incr_first=$({ /usr/bin/time -f "%e %M" $incr_send "$incr/export" 2>&1 >/dev/null || true; } | tail -n 1)
memory_bytes=$(stat -c %s "$incr/checkpoint.json.memory")
mkdir -p "$incr/saved" "$incr/export/day-2"
cp "$incr/checkpoint.json" "$incr/checkpoint.json.memory" "$incr/saved/"
cp "$incr/new.ndjson" "$incr/export/day-2/part-00"
hyperfine --runs 3 -i --export-json "$DIR/rerun.json" \
  --prepare "cp $incr/saved/checkpoint.json $incr/saved/checkpoint.json.memory $incr/" \
  -n rerun "$incr_send $incr/export" \
  --output=null
cp "$incr/saved/checkpoint.json" "$incr/saved/checkpoint.json.memory" "$incr/"
incr_rerun_rss=$({ /usr/bin/time -f "%M" $incr_send "$incr/export" 2>&1 >/dev/null || true; } | tail -n 1)
hyperfine --runs 1 -i --export-json "$DIR/one-by-one.json" \
  --prepare "rm -f $DIR/failed.ndjson" \
  -n send-batch-1 "$send --batch-size 1 $small" \
  --output=null

# Activities without a company on the two-source export, with the first
# pass (the folder) and read once (the same files in the same order on
# standard input), and the pass's peak RSS.
unplaced() { "$BIN" validate --json "$@" | python3 -c 'import json, sys; print(json.load(sys.stdin)["warnings"]["activity_without_company"]["count"])'; }
unplaced_pass=$(unplaced "$logs")
unplaced_once=$(cat "$logs"/backend/*/*.ndjson "$logs"/web/*/*.ndjson | unplaced -)
activities=$("$BIN" validate --json "$logs" | python3 -c 'import json, sys; print(json.load(sys.stdin)["routes"]["activity"])')
# The same corpora as objects: hard links under the server's bucket folder.
s3root=$DIR/s3
mkdir -p "$s3root/bench"
ln -f "$corpus" "$s3root/bench/corpus.ndjson"
ln -f "$big" "$s3root/bench/big.ndjson"
s3port=$((port + 1))
"$EX/s3-server" "$s3root" "$s3port" 2>/dev/null &
s3=$!
trap 'kill $mock $s3 2>/dev/null' EXIT
sleep 0.5
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3port AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
hyperfine --warmup 1 --runs "${BENCH_RUNS:-5}" -i --export-json "$DIR/s3.json" \
  -n dry-run-disk "$BIN send --dry-run -q $corpus" \
  -n dry-run-s3 "$BIN send --dry-run -q s3://bench/corpus.ndjson" \
  --output=null

rss() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -n 1; }
rss_two_source=$(rss "$BIN" validate "$logs")
rss_validate=$(rss "$BIN" validate "$big")
rss_dry=$(rss "$BIN" send --dry-run -q "$big")
rm -f "$DIR/failed.ndjson"
rss_send=$(rss $send "$big")
rm -f "$DIR/failed.ndjson"
rss_token=$(rss $send --api-token bench "$big")
rss_stitch=$(rss "$BIN" send --dry-run -q --stitch "$big")
rss_users=$(rss "$BIN" validate "$users")
rss_groups=$(rss "$BIN" validate "$groups")
rss_s3=$(rss "$BIN" validate s3://bench/big.ndjson)
# Planhat (or a proxy in front of it) answering 300 MiB to each upsert: the
# tool reads 16 MiB of an answer at most, then retries and fails the items.
huge_port=$((port + 2))
"$EX/mock-planhat" --port "$huge_port" --quiet --huge-answers 10 2>/dev/null &
huge=$!
trap 'kill $mock $s3 $huge 2>/dev/null' EXIT
sleep 0.5
head -n 2000 "$corpus" | grep '"type":"identify"' > "$DIR/identifies.ndjson"
rm -f "$DIR/failed.ndjson"
rss_huge=$(rss "$BIN" send -q --tenant-token bench --api-token bench --max-retries 2 \
  --analytics-url "http://127.0.0.1:$huge_port" --api-url "http://127.0.0.1:$huge_port" \
  --failed "$DIR/failed.ndjson" "$DIR/identifies.ndjson")

python3 - "$DIR" "$COUNT" "$ONE_BY_ONE" "$rss_validate" "$rss_dry" "$rss_send" "$big" \
  "$rss_token" "$rss_stitch" "$rss_users" "$users" "$api_requests" "$rss_s3" \
  "$unplaced_pass" "$unplaced_once" "$activities" "$rss_two_source" \
  "$rss_groups" "$GROUP_CALLS" "$rss_huge" "$incr_first" "$incr_rerun_rss" "$memory_bytes" "$history" \
  "$started" <<'EOF'
import json, os, platform, subprocess, sys, time
folder, count, one_by_one, rss_validate, rss_dry, rss_send, big = sys.argv[1:8]
rss_token, rss_stitch, rss_users, users, api_requests, rss_s3 = sys.argv[8:14]
unplaced_pass, unplaced_once, activities, rss_two_source = map(int, sys.argv[14:18])
rss_groups, groups, rss_huge = int(sys.argv[18]), int(sys.argv[19]), int(sys.argv[20])
first_seconds, first_rss = sys.argv[21].split()
rerun_rss, memory_bytes, history, started = map(int, sys.argv[22:26])
count, one_by_one = int(count), int(one_by_one)
def means(name):
    with open(os.path.join(folder, name)) as f:
        return {r["command"]: r["mean"] for r in json.load(f)["results"]}
parse, send, single = means("parse.json"), means("send.json"), means("one-by-one.json")
rerun = means("rerun.json")["rerun"]
first_seconds = float(first_seconds)
s3 = means("s3.json")
rate = lambda n, seconds: n / seconds
dry_rate = rate(count, parse["dry-run"])
send_rate = rate(count, send["send"])
checkpoint_rate = rate(count, send["send-checkpoint"])
token_rate = rate(count, send["send-token"])
token_dry_rate = rate(count, parse["dry-run-token"])
metrics_rate = rate(count, send["send-metrics"])
metrics_dry_rate = rate(count, parse["dry-run-metrics"])
first_pass = parse["validate"] - parse["validate-stdin"]
user_messages = sum(1 for _ in open(users, "rb"))
single_rate = rate(one_by_one, single["send-batch-1"])
mib = lambda kb: int(kb) / 1024
rows = [
    ("validate vs jq mapping", f'{parse["jq"] / parse["validate"]:.1f}x faster', ">= 10x", parse["jq"] / parse["validate"] >= 10),
    ("send --dry-run vs jq mapping", f'{parse["jq"] / parse["dry-run"]:.1f}x faster', ">= 10x", parse["jq"] / parse["dry-run"] >= 10),
    ("validate vs serde_json parse+write", f'{parse["validate"] / parse["baseline"]:.2f}x the time', "<= 2x", parse["validate"] / parse["baseline"] <= 2),
    ("send --dry-run vs serde_json parse+write", f'{parse["dry-run"] / parse["baseline"]:.2f}x the time', "<= 2x", parse["dry-run"] / parse["baseline"] <= 2),
    ("send (20 ms mock) vs dry-run rate", f'{send_rate / dry_rate:.2f}x ({send_rate:,.0f} vs {dry_rate:,.0f} msg/s)', ">= 0.8x", send_rate / dry_rate >= 0.8),
    ("send --checkpoint vs dry-run rate", f'{checkpoint_rate / dry_rate:.2f}x ({checkpoint_rate:,.0f} msg/s)', ">= 0.8x", checkpoint_rate / dry_rate >= 0.8),
    ("send with the first pass (a file) vs from standard input (read once)", f'{send["send"]:.2f} s vs {send["send-stdin"]:.2f} s', "(no goal)", True),
    ("send with an API token vs dry-run with it", f'{token_rate / token_dry_rate:.2f}x ({token_rate:,.0f} vs {token_dry_rate:,.0f} msg/s; {api_requests} main-API requests)', ">= 0.5x", token_rate / token_dry_rate >= 0.5),
    ("send --dry-run with [metrics] vs serde_json parse+write", f'{parse["dry-run-metrics"] / parse["baseline"]:.2f}x the time', "<= 2x", parse["dry-run-metrics"] / parse["baseline"] <= 2),
    ("send with [metrics] vs dry-run with it", f'{metrics_rate / metrics_dry_rate:.2f}x ({metrics_rate:,.0f} vs {metrics_dry_rate:,.0f} msg/s)', ">= 0.8x", metrics_rate / metrics_dry_rate >= 0.8),
    ("first pass (companies, links) vs validate", f'{first_pass:.2f} s vs {parse["validate-stdin"]:.2f} s read once', "<= 1x", first_pass <= parse["validate-stdin"]),
    ("two-source export: activities without a company", f"{unplaced_pass:,} of {activities:,} with the first pass, {unplaced_once:,} read once", "fewer", unplaced_pass < unplaced_once),
    ("peak RSS, validate, two-source export (first pass)", f"{mib(rss_two_source):.1f} MiB", "< 64 MiB", mib(rss_two_source) < 64),
    ("send vs --batch-size 1 rate", f'{send_rate / single_rate:,.0f}x ({single_rate:,.0f} msg/s one by one)', ">= 100x", send_rate / single_rate >= 100),
    (f"peak RSS, validate, {os.path.getsize(big) / 2**30:.2f} GiB input", f"{mib(rss_validate):.1f} MiB", "< 64 MiB", mib(rss_validate) < 64),
    (f"peak RSS, send --dry-run, {os.path.getsize(big) / 2**30:.2f} GiB input", f"{mib(rss_dry):.1f} MiB", "< 64 MiB", mib(rss_dry) < 64),
    (f"peak RSS, send to the mock, {os.path.getsize(big) / 2**30:.2f} GiB input", f"{mib(rss_send):.1f} MiB", "< 64 MiB", mib(rss_send) < 64),
    (f"peak RSS, send with an API token, {os.path.getsize(big) / 2**30:.2f} GiB input", f"{mib(rss_token):.1f} MiB", "< 64 MiB", mib(rss_token) < 64),
    (f"peak RSS, send --dry-run --stitch, {os.path.getsize(big) / 2**30:.2f} GiB input", f"{mib(rss_stitch):.1f} MiB", "< 64 MiB", mib(rss_stitch) < 64),
    ("send --dry-run from a local S3-compatible server vs from disk", f'{s3["dry-run-s3"] / s3["dry-run-disk"]:.2f}x the time ({s3["dry-run-s3"]:.2f} s vs {s3["dry-run-disk"]:.2f} s)', "(no goal)", True),
    (f"peak RSS, validate, {os.path.getsize(big) / 2**30:.2f} GiB object on the S3-compatible server", f"{mib(rss_s3):.1f} MiB", "< 64 MiB", mib(rss_s3) < 64),
    (f"peak RSS, validate, {user_messages:,} messages from {int(os.path.basename(users)[6:-7]):,} users", f"{mib(rss_users):.1f} MiB", "< 64 MiB", mib(rss_users) < 64),
    (f"peak RSS, validate, {groups:,} group calls from 100 users moving between companies", f"{mib(rss_groups):.1f} MiB", "< 64 MiB", mib(rss_groups) < 64),
    ("peak RSS, send when each upsert is answered with 300 MiB", f"{mib(rss_huge):.1f} MiB", "< 64 MiB", mib(rss_huge) < 64),
    (f"nightly rerun: history of {history:,} messages plus 2% new, vs the first run", f'{rerun / first_seconds:.1%} ({rerun:.2f} s vs {first_seconds:.2f} s)', "<= 15%", rerun / first_seconds <= 0.15),
    ("peak RSS, nightly rerun", f"{mib(rerun_rss):.1f} MiB (first run {mib(first_rss):.1f} MiB)", "< 64 MiB", mib(rerun_rss) < 64),
    (f"memory kept for the rerun, {int(os.path.basename(users)[6:-7]):,} users", f"{memory_bytes / 2**20:.1f} MiB", "(no goal)", True),
]
print()
print(f"corpus: {count:,} messages, {os.path.getsize(os.path.join(folder, f'corpus-{count}.ndjson')) / 2**20:.0f} MiB; "
      f"means of hyperfine runs: baseline {parse['baseline']:.2f} s, validate {parse['validate']:.2f} s, "
      f"dry-run {parse['dry-run']:.2f} s, dry-run with an API token {parse['dry-run-token']:.2f} s, "
      f"dry-run --stitch {parse['dry-run-stitch']:.2f} s, jq {parse['jq']:.2f} s, send {send['send']:.2f} s, "
      f"send --checkpoint {send['send-checkpoint']:.2f} s, send with an API token {send['send-token']:.2f} s")
print()
print("| target (SPEC §8) | measured | goal | met |")
print("|---|---|---|---|")
for name, measured, goal, ok in rows:
    print(f"| {name} | {measured} | {goal} | {'yes' if ok else 'NO'} |")
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
print()
print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}; "
      f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}")
took = int(time.time()) - started
print(f"bench/run.sh took {took // 60} min {took % 60} s ({time.strftime('%Y-%m-%d')})")
sys.exit(0 if all(ok for *_, ok in rows) else 1)
EOF
