#!/usr/bin/env bash
# Type-checks abridge's CUDA build (`cargo check --features cuda`) on a machine with neither
# a GPU nor a CUDA toolkit. CUDA's compiler and headers come from the Python package index
# (NVIDIA's wheels), installed once with pip into a cache folder.
#
# `cargo check` still runs build scripts, and candle-kernels' build script compiles every
# .cu file with nvcc (to PTX, and the quantized-matmul kernels to a static library), so this
# is a real compile of the kernels, not only of the Rust code. Nothing is linked or run.
#
# Usage: scripts/check-cuda.sh [extra cargo check arguments]
# Environment: ABRIDGE_CUDA_DIR (default: ~/.cache/abridge-cuda), the pip target folder;
#   CUDA_COMPUTE_CAP (default 80), the GPU generation the kernels are compiled for.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${ABRIDGE_CUDA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/abridge-cuda}
# One CUDA release throughout: nvcc, its C runtime and NVVM, the runtime headers and CCCL
# (libcu++, CUB, Thrust). cudarc 0.19 knows CUDA 11.4 to 13.4; 13.0 is the oldest 13.x.
packages=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
)
cuda_home=$prefix/nvidia/cu13

if [ ! -x "$cuda_home/bin/nvcc" ]; then
  echo "check-cuda: installing CUDA 13.0's compiler into $prefix" >&2
  rm -rf "$prefix.partial"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --no-deps --target "$prefix.partial" "${packages[@]}"
  rm -rf "$prefix"
  mv "$prefix.partial" "$prefix"
fi

export CUDA_HOME=$cuda_home
export PATH=$CUDA_HOME/bin:$PATH
export CUDARC_CUDA_VERSION=13000
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}
nvcc --version | tail -n 2 >&2

cd "$root"
cargo check --features cuda --all-targets --target-dir target/cuda-check "$@"
