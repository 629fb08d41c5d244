#!/usr/bin/env bash
# Runs abridge's whole test suite: fetches (once) and verifies the real models the
# end-to-end tests use, then runs every unit and integration test in release mode.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
for model in smollm2-135m-instruct qwen2.5-coder-1.5b-instruct; do
  ./target/release/abridge models fetch "$model" >/dev/null
done
cargo test --release --locked "$@"
