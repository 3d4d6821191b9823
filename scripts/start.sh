#!/usr/bin/env bash
# Sets up what is missing, builds vcore (release: server + WASM), and serves it on SQLite at
# http://127.0.0.1:3000 (SERVER_HOST / SERVER_PORT / DB_URL … override; see .env.example).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
. scripts/env.sh
echo "[start] cargo leptos build --release"
cargo leptos build --release --precompress "${LEPTOS_LIB_ARGS[@]}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/vcore serve
