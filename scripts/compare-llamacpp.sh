#!/usr/bin/env bash
# Compares abridge's CPU speed with llama.cpp's on the same GGUF file, prompt, threads and
# generated-token count: runs `abridge bench` and shared/bench/llamacpp_anchor.py, prints
# both rows and the ratios abridge ÷ llama.cpp.
#
# Usage: scripts/compare-llamacpp.sh MODEL [--threads N] [--gen N] [--runs N] [--article FILE]
#   MODEL: a catalogue name (fetched if needed) or a path to a GGUF file.
# Environment: ABRIDGE_SHARED (default: the `shared` folder beside the main checkout),
#   ABRIDGE_ANCHOR_VENV (default: setup-llamacpp.sh's; built on first use, ~10 minutes).
#
# The prompt: llama.cpp's is the anchor's ChatML template around the article file as it is;
# abridge is given the same file (`--prompt-file`, used as it is) and the anchor's
# instruction (`--instruction`), so both prompts are the same text. The script checks that
# the two prompt token counts agree and says so when they do not.
set -euo pipefail

usage() { sed -n '5,6p' "$0" | sed 's/^# //' >&2; exit 2; }
[ $# -ge 1 ] || usage
model=$1; shift
threads=2 gen=128 runs=3 article=
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --article) article=$2; shift 2 ;;
    *) usage ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/llamacpp-setup.sh"
anchor=$shared/bench/llamacpp_anchor.py
article=${article:-$shared/seeds/article.txt}
if [ -f "$model" ]; then gguf=$model; else gguf=$("$abridge" models path "$model"); fi

# The anchor's instruction: the user message of its PROMPT, up to the article.
instruction=$(python3 - "$anchor" <<'EOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
prompt = next(ast.literal_eval(node.value) for node in ast.walk(tree)
              if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PROMPT")
user = prompt.split("<|im_start|>user\n", 1)[1]
print(user.split("\n\nArticle:\n{article}", 1)[0])
EOF
)

python3 - "$venv/bin/python" "$anchor" "$abridge" "$gguf" "$article" "$instruction" \
  "$threads" "$gen" "$runs" <<'EOF'
import json, resource, subprocess, sys

python, anchor, abridge, gguf, article, instruction, threads, gen, runs = sys.argv[1:]
common = ["--threads", threads, "--gen", gen, "--runs", runs]

print(f"model {gguf}\narticle {article}, {threads} threads, {gen} generated tokens, "
      f"median of {runs} runs after a warm-up", flush=True)
# The anchor runs first, so this process's children's peak memory is its own.
llama = json.loads(subprocess.run([python, anchor, gguf, article, *common],
                                  check=True, capture_output=True, text=True).stdout)
llama["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e6
out = subprocess.run([abridge, "bench", "--model", gguf, "--device", "cpu", "--json",
                      "--prompt-file", article, "--instruction", instruction, *common],
                     check=True, capture_output=True, text=True).stdout
ours = next(r for r in map(json.loads, out.splitlines()) if r.get("device") == "cpu")

print(f"{'engine':<10} {'prompt tok':>10} {'prefill tok/s':>14} {'decode tok/s':>13} "
      f"{'peak RSS MB':>12}")
for name, row in (("abridge", ours), ("llama.cpp", llama)):
    print(f"{name:<10} {row['prompt_tokens']:>10} {row['prefill_tok_s']:>14.1f} "
          f"{row['decode_tok_s']:>13.1f} {row['peak_rss_mb'] or float('nan'):>12.0f}")
ratio = lambda key: (ours[key] or float("nan")) / llama[key]
print(f"{'ratio':<10} {'':>10} {ratio('prefill_tok_s'):>13.2f}x {ratio('decode_tok_s'):>12.2f}x "
      f"{ratio('peak_rss_mb'):>11.2f}x   (abridge / llama.cpp)")
if ours["prompt_tokens"] != llama["prompt_tokens"]:
    print(f"warning: the prompts differ: {ours['prompt_tokens']} tokens in abridge, "
          f"{llama['prompt_tokens']} in llama.cpp", file=sys.stderr)
EOF
