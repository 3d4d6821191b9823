#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and integration tests on SQLite and
# PostgreSQL (a throwaway cluster started by the tests), the OpenAPI drift check, the
# client-only Trunk build, and the browser tests in headless Chromium; the example
# application built on vcore (examples/notes) is built and tested with it.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
last=$t0
# Each step prints how long the previous one took, so a run doubles as a build-time report.
step() {
  local now; now=$(date +%s)
  [ "$now" -gt "$t0" ] && printf '   (%ss)\n' $((now - last))
  last=$now
  printf '\n\033[1;32m== %s\033[0m\n' "$*"
}

step "setup (tools and packages, skipped when present)"
scripts/setup.sh --test
. scripts/env.sh

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path xtask/Cargo.toml -- --check

step "cargo clippy"
lint=(env) ws_target=target xtask_target=target/xtask
if [ "$(cat target/.toolchain-route)" = debian ]; then
  # Debian's rustc-web ships no clippy: lint with rustup's toolchain in its own target dirs.
  lint=(env -u RUSTC_BOOTSTRAP -u RUSTC PATH="$HOME/.cargo/bin:$PATH")
  ws_target=target/clippy xtask_target=target/clippy-xtask
fi
"${lint[@]}" CARGO_TARGET_DIR=$ws_target cargo clippy --all-targets --locked -- -D warnings
# The build step (on the rustup route its release build is already there).
"${lint[@]}" cargo clippy --release --all-targets --locked --manifest-path xtask/Cargo.toml \
  --target-dir $xtask_target -- -D warnings

step "build (server + hydrate WASM, by the build step in xtask/)"
target/xtask/release/vcore-xtask build "${WASM_CARGO_ARGS[@]}"

step "build the example application (examples/notes: its server + hydrate WASM)"
target/xtask/release/vcore-xtask build "${WASM_CARGO_ARGS[@]}" \
  --frontend=notes-frontend --server=notes-server --bin=notes --site=target/site-notes

step "cargo test (unit + REST integration on SQLite and PostgreSQL, the example's too)"
# setup.sh installed PostgreSQL's binaries, so its test variants must run, not skip.
VCORE_REQUIRE_POSTGRES=1 VCORE_REQUIRE_PROMETHEUS=1 cargo test --locked --workspace --exclude vcore-frontend --exclude notes-frontend
cargo test --release --locked --manifest-path xtask/Cargo.toml --target-dir target/xtask

step "schemathesis (the REST API against its OpenAPI document, --checks all)"
scripts/schemathesis.sh target/debug/vcore

step "trunk build (client-only SPA)"
# Trunk runs `wasm-bindgen` from PATH: the build step's, at the version of Cargo.lock.
PATH="$PWD/target/xtask/bin:$PATH" CARGO_UNSTABLE_BUILD_STD="$TRUNK_STD" trunk build

step "browser tests (Playwright + Chromium)"
(cd end2end && VCORE_BIN="$PWD/../target/debug/vcore" LEPTOS_SITE_ROOT="$PWD/../target/site" \
  NOTES_BIN="$PWD/../target/debug/notes" NOTES_SITE_ROOT="$PWD/../target/site-notes" npx playwright test)

step "all passed in $(( $(date +%s) - t0 )) s"
