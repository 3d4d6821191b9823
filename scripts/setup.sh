#!/usr/bin/env bash
# Installs what building and testing vcore needs, and nothing that is already there.
# Idempotent: a second run checks versions and returns in seconds.
#
#   scripts/setup.sh            toolchain + cargo-leptos + wasm-bindgen (debug builds)
#   scripts/setup.sh --release  also wasm-opt, which cargo-leptos requires for release builds
#   scripts/setup.sh --test     also Chromium, PostgreSQL, Node packages, Trunk (to test)
#
# WASM route: rustup's wasm32-unknown-unknown target when it can be had (tried once, with
# a short timeout); otherwise Debian's rustc-web + std sources, building std for wasm with
# -Zbuild-std. The decision is cached in target/.toolchain-route (delete it to decide again);
# scripts/env.sh turns it into the environment every build command uses.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
want_release=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --release) want_release=1 ;;
    *) echo "usage: scripts/setup.sh [--release] [--test]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
SUDO=""
[ "$(id -u)" -ne 0 ] && have sudo && SUDO="sudo"
apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! have apt-get; then say "please install: ${missing[*]} (no apt-get here)"; return 1; fi
  if [ $apt_updated -eq 0 ]; then say "apt-get update"; $SUDO apt-get update -qq; apt_updated=1; fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

mkdir -p target
route_file=target/.toolchain-route
if [ ! -s "$route_file" ]; then
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo rustup >"$route_file"
  else
    say "trying: rustup target add wasm32-unknown-unknown (20 s limit)"
    if timeout 20 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
      echo rustup >"$route_file"
    else
      say "rustup cannot fetch the wasm target here; using Debian's rustc-web with -Zbuild-std"
      echo debian >"$route_file"
    fi
  fi
fi
route=$(cat "$route_file")
say "WASM route: $route"
if [ "$route" = debian ]; then
  apt_install rustc-web cargo-web rust-web-src lld-22
fi
# shellcheck source=env.sh
. scripts/env.sh

# Tools are built without LTO (fat LTO took ~40 min on 2 cores) in a throwaway target dir.
install_tool() { # crate version extra-args...
  local crate=$1 version=$2; shift 2
  say "cargo install $crate $version (a few minutes, once)"
  local env=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
    CARGO_TARGET_DIR="${TMPDIR:-/tmp}/vcore-tools-target")
  # A tool's lock file may want a newer rustc than rustup's stable: then use Debian's
  # rustc-web when present, else resolve the tool's dependencies afresh (no --locked).
  env "${env[@]}" cargo install "$crate" --version "$version" "$@" && return 0
  if [ -x /usr/bin/cargo ] && [ "$(command -v cargo)" != /usr/bin/cargo ]; then
    say "retrying $crate with /usr/bin/cargo"
    env "${env[@]}" /usr/bin/cargo install "$crate" --version "$version" "$@" && return 0
  fi
  say "retrying $crate without --locked"
  local args=()
  for a in "$@"; do [ "$a" != --locked ] && args+=("$a"); done
  env "${env[@]}" cargo install "$crate" --version "$version" "${args[@]}"
}
version_of() { "$1" --version 2>/dev/null | awk '{print $2}'; }

if [ "$(version_of cargo-leptos)" != "$CARGO_LEPTOS_VERSION" ]; then
  install_tool cargo-leptos "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi
wbg=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
if [ "$(version_of wasm-bindgen)" != "$wbg" ]; then
  install_tool wasm-bindgen-cli "$wbg"
fi

# The wasm-opt crate compiles binaryen from source (~13 min, once): Debian's binaryen is too
# old for the WASM that current rustc emits.
if [ $want_release -eq 1 ] && ! have wasm-opt; then
  install_tool wasm-opt "$WASM_OPT_VERSION" --locked
fi

if [ $want_test -eq 1 ]; then
  [ -x /usr/bin/chromium ] || apt_install chromium
  # The tests start their own throwaway cluster from these binaries; no server is run here.
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  # Keep a Node.js that is already there (it may not come from Debian's packages).
  have npx || apt_install nodejs npm
  if [ "$(version_of trunk)" != "$TRUNK_VERSION" ]; then
    install_tool trunk "$TRUNK_VERSION" --locked
  fi
  if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "npm ci (end2end)"
    (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
say "ready"
