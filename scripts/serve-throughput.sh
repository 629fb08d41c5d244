#!/usr/bin/env bash
# Requests per minute through `abridge serve` at several numbers of concurrent clients: the
# server is started once (default model and options, --batch-size as given), each client
# posts eval-set articles one after another, and every level sends the same articles. A
# request's time is from its sending to its answer; the table gives requests/min, the
# median and worst latency, and how many requests were decoded together (from the
# server's log). The CPU is printed with the figures.
#
# Usage: scripts/serve-throughput.sh [SET.jsonl] [--model NAME] [--batch-size N]
#        [--clients 1,4,8] [--rows N]
#   SET.jsonl: rows with an "article" (default: the shared folder's cnndm-test-a.jsonl).
set -euo pipefail

usage() { sed -n '9,11p' "$0" | sed 's/^# //' >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
set_file=$root/../shared/eval/cnndm-test-a.jsonl model= batch=4 clients=1,4,8 rows=8
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    -*) usage ;;
    *) set_file=$1; shift ;;
  esac
done
[ -f "$set_file" ] || { echo "serve-throughput: no evaluation set at $set_file" >&2; exit 2; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
abridge=$root/target/release/abridge
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$abridge" serve --port 0 --batch-size "$batch" ${model:+--model "$model"} 2> "$work/log" &
server=$!
for _ in $(seq 600); do
  grep -q ' on http://' "$work/log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.5
done
address=$(grep -o 'on http://[^ ]*' "$work/log" | head -1 | cut -c4-)
[ -n "$address" ] || { echo "serve-throughput: the server never listened" >&2; exit 1; }

python3 - "$address" "$set_file" "$rows" "$clients" "$work/log" "$batch" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores;\
 $(grep -m1 -ow -e avx512_vnni -e avx512f -e avx2 /proc/cpuinfo | sort -u | xargs))" <<'EOF'
import json, re, statistics, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
address, set_file, rows, clients, log, batch, cpu = sys.argv[1:8]
articles = [json.loads(line)["article"] for line in open(set_file)][: int(rows)]
model = json.load(urllib.request.urlopen(address + "/health"))["model"]

def post(article):
    body = json.dumps({"text": article}).encode()
    request = urllib.request.Request(address + "/v1/summarize", body,
                                     {"Content-Type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=3600) as answer:
        json.load(answer)
    return time.monotonic() - started

print(f"model {model}, {len(articles)} articles per level, --batch-size {batch}, CPU: {cpu}")
print(f"{'clients':>7}  {'requests/min':>12}  {'median s':>8}  {'worst s':>7}  decoded together")
for count in map(int, clients.split(",")):
    seen = sum(1 for _ in open(log))
    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        latencies = list(pool.map(post, articles))
    minutes = (time.monotonic() - started) / 60
    together = [int(n) for n in re.findall(r", (\d+) decoded together\)",
                                           "".join(open(log).readlines()[seen:]))]
    print(f"{count:>7}  {len(articles) / minutes:>12.2f}  {statistics.median(latencies):>8.1f}"
          f"  {max(latencies):>7.1f}  {statistics.mean(together):.1f} on average")
EOF
