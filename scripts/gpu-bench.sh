#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds abridge with `--features cuda` for that GPU, runs
# `abridge bench` on the GPU and on the CPU with the same model, prompt and settings, and
# prints one table (one row per device, with the GPU's and the CPU's names below it).
#
# Usage: scripts/gpu-bench.sh [MODEL] [--prompt-file FILE] [--gen N] [--runs N]
#   MODEL: a catalogue name or a GGUF path (default: the default model); it must be fetched
#   already where the machine is offline (`abridge models fetch MODEL` beforehand, or copy
#   its file and pass the path).
# Needs the NVIDIA driver (nvidia-smi) and a CUDA toolkit: nvcc on PATH or under CUDA_HOME,
# else the one scripts/check-cuda.sh installs from the Python package index. The first
# build compiles candle's CUDA kernels (minutes on many cores); later runs take seconds.
set -euo pipefail

usage() { sed -n '6,9p' "$0" | sed 's/^# //' >&2; exit 2; }
model=() prompt= gen=128 runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --prompt-file) prompt=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) model=(--model "$1"); shift ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-bench: no NVIDIA GPU here (nvidia-smi finds none)" >&2
  exit 1
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d .)
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-$cap}

if ! command -v nvcc >/dev/null; then
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
    export PATH=$CUDA_HOME/bin:$PATH
  else
    # The toolkit scripts/check-cuda.sh installs (and the version cudarc is told about).
    prefix=${ABRIDGE_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/abridge-cuda}
    if [ ! -x "$prefix/nvidia/cu13/bin/nvcc" ]; then
      bash "$root/scripts/check-cuda.sh" --quiet >/dev/null
    fi
    export CUDA_HOME=$prefix/nvidia/cu13 PATH=$prefix/nvidia/cu13/bin:$PATH
    export CUDARC_CUDA_VERSION=13000
  fi
fi

echo "gpu-bench: building for $gpu (compute capability $CUDA_COMPUTE_CAP)" >&2
cargo build --release --quiet --features cuda --target-dir "$root/target/cuda" \
  --manifest-path "$root/Cargo.toml"
abridge=$root/target/cuda/release/abridge
prompt=${prompt:-$root/examples/article.txt}

"$abridge" bench "${model[@]}" --device cuda,cpu --prompt-file "$prompt" \
  --gen "$gen" --runs "$runs"
echo "GPU: $gpu"
