#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and integration tests on SQLite and
# PostgreSQL (a throwaway cluster started by the tests), the OpenAPI drift check, the
# client-only Trunk build, and the browser tests in headless Chromium.
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

step "cargo clippy"
if [ "$(cat target/.toolchain-route)" = debian ]; then
  # Debian's rustc-web ships no clippy: lint with rustup's toolchain in its own target dir.
  env -u RUSTC_BOOTSTRAP PATH="$HOME/.cargo/bin:$PATH" CARGO_TARGET_DIR=target/clippy \
    cargo clippy --all-targets --locked -- -D warnings
else
  cargo clippy --all-targets --locked -- -D warnings
fi

step "cargo leptos build (server + hydrate WASM)"
cargo leptos build "${LEPTOS_LIB_ARGS[@]}"

step "cargo test (unit + REST integration on SQLite and PostgreSQL)"
# setup.sh installed PostgreSQL's binaries, so its test variants must run, not skip.
VCORE_REQUIRE_POSTGRES=1 cargo test --locked --workspace --exclude vcore-frontend

step "trunk build (client-only SPA)"
CARGO_UNSTABLE_BUILD_STD="$TRUNK_STD" trunk build

step "browser tests (Playwright + Chromium)"
(cd end2end && VCORE_BIN="$PWD/../target/debug/vcore" LEPTOS_SITE_ROOT="$PWD/../target/site" npx playwright test)

step "all passed in $(( $(date +%s) - t0 )) s"
