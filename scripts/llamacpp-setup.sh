# Sourced by the scripts that compare abridge with llama.cpp (`source "$root/scripts/llamacpp-setup.sh"`
# with `root` set to the checkout): finds the project's shared folder and the llama.cpp
# binding's virtual environment, and builds abridge.
#   ABRIDGE_SHARED: the shared folder (default: `shared` beside this checkout, or beside the
#     main checkout of a git worktree).
#   ABRIDGE_ANCHOR_VENV: the binding's venv (default: shared/bench/setup-llamacpp.sh's, built
#     on first use, ~10 minutes).
# Sets `shared`, `venv` and `abridge`.
if [ -z "${ABRIDGE_SHARED:-}" ]; then
  # In a git worktree the `shared` folder sits beside the main checkout.
  main_checkout=$(dirname "$(git -C "$root" rev-parse --path-format=absolute --git-common-dir)")
  for candidate in "$root/../shared" "$main_checkout/../shared"; do
    if [ -d "$candidate/bench" ]; then ABRIDGE_SHARED=$(cd "$candidate" && pwd); break; fi
  done
fi
shared=${ABRIDGE_SHARED:?no shared folder found beside the checkout; set ABRIDGE_SHARED}
venv=${ABRIDGE_ANCHOR_VENV:-$(bash "$shared/bench/setup-llamacpp.sh")}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
abridge=$root/target/release/abridge
