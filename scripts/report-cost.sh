#!/usr/bin/env bash
# What `summarize --report` costs beside a plain summary of the same article: wall time of
# each command (model load included) and the `seconds` of its JSON (load excluded), the
# median of RUNS runs each, alternating, and their ratios. Prints the CPU it ran on.
# Usage: scripts/report-cost.sh [ARTICLE] [RUNS] [extra summarize arguments, e.g. --model M]
set -euo pipefail
cd "$(dirname "$0")/.."
article=${1:-../shared/seeds/article.txt}
runs=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
bin="${CARGO_TARGET_DIR:-target}/release/abridge"
[ -x "$bin" ] || cargo build --release --locked
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc), article: $article, runs: $runs"
python3 - "$bin" "$article" "$runs" "$@" <<'PY'
import json, statistics, subprocess, sys, time
bin, article, runs, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
times = {"plain": [], "report": []}
for _ in range(runs):
    for kind in times:
        command = [bin, "summarize", article, "--offline", "--format", "json", *extra]
        if kind == "report":
            command.append("--report")
        started = time.monotonic()
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        wall = time.monotonic() - started
        times[kind].append((wall, json.loads(out)["seconds"]))
median = {k: (statistics.median(w for w, _ in v), statistics.median(s for _, s in v))
          for k, v in times.items()}
for kind, (wall, seconds) in median.items():
    print(f"{kind:7} wall {wall:6.1f} s   summarizing {seconds:6.1f} s")
(pw, ps), (rw, rs) = median["plain"], median["report"]
print(f"report / plain: wall {rw / pw:.2f}x, summarizing {rs / ps:.2f}x")
PY
