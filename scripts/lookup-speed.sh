#!/usr/bin/env bash
# Prompt-lookup decoding against plain decoding on an eval set's articles: summarizes each
# article (eval's settings: highlights of about 45 words) with and without `--no-lookup`,
# checks that every summary is the same both ways, and prints decode tokens per second of
# each, their ratio, and how many draft tokens were checked and kept.
#
# Usage: scripts/lookup-speed.sh SET.jsonl [--model NAME] [--rows N] [--batch-size N]
#   SET.jsonl: rows with an "id" and an "article" (e.g. ../shared/eval/cnndm-test-a.jsonl).
set -euo pipefail

usage() { sed -n '7,8p' "$0" | sed 's/^# //' >&2; exit 2; }
[ $# -ge 1 ] || usage
set_file=$1; shift
model=() rows=0 batch=1
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=(--model "$2"); shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    *) usage ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
abridge=$root/target/release/abridge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$set_file" "$work/articles" "$rows" <<'EOF'
import json, os, sys
source, folder, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(folder)
with open(source) as f:
    for i, line in enumerate(f):
        if rows and i >= rows:
            break
        row = json.loads(line)
        with open(os.path.join(folder, f"{i:04d}.txt"), "w") as out:
            out.write(row["article"])
EOF

for mode in lookup plain; do
  flags=(--style highlights --words 45 --batch-size "$batch" --format jsonl)
  [ "$mode" = plain ] && flags+=(--no-lookup)
  "$abridge" summarize "${model[@]}" "${flags[@]}" "$work"/articles/*.txt > "$work/$mode.jsonl"
done

python3 - "$work/lookup.jsonl" "$work/plain.jsonl" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" <<'EOF'
import json, sys
def read(path):
    return {r["input"]: r for r in map(json.loads, open(path)) if r.get("status", "ok") == "ok"}
lookup, plain, cpu = read(sys.argv[1]), read(sys.argv[2]), sys.argv[3].strip()
same = sum(lookup[k]["summary"] == plain[k]["summary"] for k in plain if k in lookup)
def rate(rows):
    tokens = sum(r["output_tokens"] for r in rows.values())
    seconds = sum(r["decoding"]["seconds"] for r in rows.values())
    return tokens, seconds, tokens / seconds
t, s, with_lookup = rate(lookup)
_, s0, without = rate(plain)
drafted = sum(r["decoding"]["drafted"] for r in lookup.values())
kept = sum(r["decoding"]["kept"] for r in lookup.values())
print(f"{len(plain)} articles, {t} output tokens; CPU {cpu}")
print(f"summaries the same with and without lookup: {same} of {len(plain)}")
print(f"decode tok/s: lookup {with_lookup:.1f} ({s:.1f} s), plain {without:.1f} ({s0:.1f} s), "
      f"ratio {with_lookup / without:.2f}x")
print(f"draft tokens: {drafted} checked, {kept} kept ({100 * kept / max(drafted, 1):.0f}%), "
      f"{100 * kept / max(t, 1):.0f}% of the output")
EOF
