#!/usr/bin/env bash
# Sets up what is missing, builds vcore (release: server + WASM), and serves it on SQLite at
# http://127.0.0.1:3000 (SERVER_HOST / SERVER_PORT / DB_URL … override; see .env.example).
# Each step prints its time; the server's last line says where to sign in, as whom, and
# where the password is.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
scripts/setup.sh --release
. scripts/env.sh
t1=$(date +%s)
target/xtask/release/vcore-xtask build --release "${WASM_CARGO_ARGS[@]}"
t2=$(date +%s)
printf '\033[1;34m[start]\033[0m setup %s s, build %s s, starting the server %s s after start.sh began\n' \
  $((t1 - t0)) $((t2 - t1)) $((t2 - t0))
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/vcore serve
