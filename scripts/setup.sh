#!/usr/bin/env bash
# Installs what building and testing vcore needs, and nothing that is already there.
# Idempotent: a second run checks versions and returns in about a second.
#
#   scripts/setup.sh            the WASM target (or its fallback) and the build step (xtask/)
#   scripts/setup.sh --release  also wasm-opt (npm's binaryen), for release builds
#   scripts/setup.sh --test     also Chromium, PostgreSQL, Prometheus, Node packages, Trunk
#                               and schemathesis (to test)
#   scripts/setup.sh --dev      also cargo-leptos, for `cargo leptos watch` (not needed above)
#
# Every tool comes from a locked, known-good set of versions, built by a compiler chosen for
# it (never "latest compatible" at install time); docs/building.md says what comes from
# where and why. WASM route: rustup's wasm32-unknown-unknown target when it can be had
# (tried once, with a short timeout); otherwise Debian's rustc-web + std sources, building
# std for wasm with -Zbuild-std. The decision is cached in target/.toolchain-route (delete
# it to decide again, or write `debian` into it to force that route); scripts/env.sh turns
# it into the environment every build command uses.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
want_release=0
want_dev=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --release) want_release=1 ;;
    --dev) want_dev=1 ;;
    *) echo "usage: scripts/setup.sh [--release] [--test] [--dev]" >&2; exit 2 ;;
  esac
done

t_start=$(date +%s)
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
# fail TOOL VERSION WHAT-TO-DO: the one line a failed install leaves.
fail() { printf '\033[1;31m[setup] FAILED: %s %s: %s\033[0m\n' "$1" "$2" "$3" >&2; exit 1; }
# timed LABEL CMD...: runs CMD and says how long it took.
timed() {
  local label=$1 t0; shift
  t0=$(date +%s)
  "$@" || return 1
  say "$label: $(( $(date +%s) - t0 )) s"
}
have() { command -v "$1" >/dev/null 2>&1; }
quiet() { "$@" >/dev/null; }
SUDO=""
[ "$(id -u)" -ne 0 ] && have sudo && SUDO="sudo"
apt_updated=0
apt_install() {
  local missing=()
  # Installed means "install ok installed": `dpkg -s` also succeeds for a package that was
  # removed but left its configuration files behind.
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qx 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  have apt-get || fail "${missing[*]}" "(Debian packages)" "no apt-get here: install them with your package manager"
  if [ $apt_updated -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq || fail apt-get update "check the network or the apt sources"
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive timed "apt-get install ${missing[*]}" \
    quiet $SUDO apt-get install -y -qq "${missing[@]}" ||
    fail "${missing[*]}" "(Debian packages)" "apt-get install failed: run it by hand to see why"
}
# rustc_at_least RUSTC MAJOR.MINOR: whether that compiler is at least that version.
rustc_at_least() {
  local v; v=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$2" "$v" | sort -V | head -n1)" = "$2" ]
}

command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] ||
  fail rust "(rustup)" "install rustup's stable toolchain first (rustup.rs), then run this again"

mkdir -p target
route_file=target/.toolchain-route
if [ ! -s "$route_file" ]; then
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo rustup >"$route_file"
  else
    say "trying: rustup target add wasm32-unknown-unknown (60 s limit)"
    if timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
      echo rustup >"$route_file"
    else
      say "rustup cannot fetch the wasm target here; using Debian's rustc-web with -Zbuild-std"
      echo debian >"$route_file"
    fi
  fi
fi
route=$(cat "$route_file")
case "$route" in
  rustup | debian) ;;
  *) fail "$route_file" "($route)" "write rustup or debian into it, or delete it to decide again" ;;
esac
say "WASM route: $route"
if [ "$route" = debian ]; then
  apt_install rustc-web cargo-web rust-web-src lld-22
elif ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 ||
    fail wasm32-unknown-unknown "(rustup target)" "rustup could not add it: delete $route_file to fall back to Debian's route"
fi
# shellcheck source=env.sh
. scripts/env.sh

# The build step: a small crate of ours with its own Cargo.lock (wasm-bindgen as a library,
# brotli, flate2), compiled in well under a minute. It replaces cargo-leptos, wasm-bindgen-cli
# and binaryen's build in the two README commands. Cargo itself skips it when up to date.
timed "build step (xtask/)" cargo build --release --locked --manifest-path xtask/Cargo.toml --target-dir target/xtask ||
  fail vcore-xtask "(xtask/Cargo.lock)" "cargo build --locked failed with $(rustc --version): see the error above"
# Trunk looks for `wasm-bindgen` on PATH; ours answers for the same library version.
mkdir -p target/xtask/bin
ln -sf ../release/vcore-wasm-bindgen target/xtask/bin/wasm-bindgen

npm_ci() { # DIR: installs DIR/package-lock.json exactly, when not already done.
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    # Keep a Node.js that is already there (it may not come from Debian's packages).
    have npm || apt_install nodejs npm
    say "npm ci ($dir)"
    (cd "$dir" && timed "npm ci ($dir)" npm ci --no-audit --no-fund --loglevel=error) ||
      fail "npm packages" "($dir/package-lock.json)" "npm ci failed: check that the npm registry is reachable"
  fi
}

# Tools from crates.io are built from their own lock files (--locked), without LTO and at
# opt-level 1: they run for seconds, while full optimisation costs minutes to compile.
install_tool() { # crate version rustc extra-args...
  local crate=$1 version=$2 rustc=$3; shift 3
  local cargo=cargo path=$PATH
  # Debian's compiler goes with Debian's cargo, /usr/bin first (else rustup's proxies win).
  if [ "$rustc" = /usr/bin/rustc ]; then cargo=/usr/bin/cargo; path="/usr/bin:$PATH"; fi
  say "cargo install $crate $version --locked ($("$rustc" --version | awk '{print $1, $2}'); once)"
  local t0; t0=$(date +%s)
  env PATH="$path" RUSTC="$rustc" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_TARGET_DIR="${TMPDIR:-/tmp}/vcore-tools-target" \
    "$cargo" install "$crate" --version "$version" --locked "$@" ||
    fail "$crate" "$version" "cargo install --locked failed with $("$rustc" --version): see the error above"
  say "$crate $version: $(( $(date +%s) - t0 )) s"
}
version_of() { "$1" --version 2>/dev/null | awk '{print $2}'; }

if [ $want_release -eq 1 ]; then
  npm_ci xtask
fi

if [ $want_test -eq 1 ]; then
  [ -x /usr/bin/chromium ] || apt_install chromium
  # The tests start their own throwaway cluster from these binaries; no server is run here.
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  npm_ci end2end
  # A real Prometheus server scrapes /metrics in a test, and promtool checks the output.
  have promtool && have prometheus || apt_install prometheus
  # schemathesis (PyPI) tests the REST API against its OpenAPI document
  # (scripts/schemathesis.sh): a virtualenv in target/, every package pinned.
  st_req=scripts/schemathesis-requirements.txt st_env=target/schemathesis
  if [ ! -x $st_env/bin/schemathesis ] || [ $st_req -nt $st_env/.installed ]; then
    py=python3
    if [ -x /usr/bin/python3 ] && have dpkg; then py=/usr/bin/python3; apt_install python3-venv; fi
    have $py || apt_install python3 python3-venv
    rm -rf $st_env
    timed "schemathesis (pip, $st_req)" quiet $py -m venv $st_env &&
      timed "pip install" quiet $st_env/bin/pip install --quiet --disable-pip-version-check \
        --no-deps -r $st_req && touch $st_env/.installed ||
      fail schemathesis "($st_req)" "pip install failed: check that PyPI is reachable"
  fi
  if [ "$(version_of trunk)" != "$TRUNK_VERSION" ]; then
    install_tool trunk "$TRUNK_VERSION" "$(command -v rustc)"
  fi
fi

if [ $want_dev -eq 1 ] && [ "$(version_of cargo-leptos)" != "$CARGO_LEPTOS_VERSION" ]; then
  # Its lock file needs rustc 1.96: rustup's stable when it is that new, else Debian's
  # rustc-web (1.96), selected explicitly (cargo would otherwise run rustup's rustc proxy).
  rustc_bin=$(command -v rustc)
  if ! rustc_at_least "$rustc_bin" 1.96; then
    apt_install rustc-web cargo-web
    rustc_bin=/usr/bin/rustc
    rustc_at_least "$rustc_bin" 1.96 ||
      fail cargo-leptos "$CARGO_LEPTOS_VERSION" "needs rustc >= 1.96: update rustup's stable or Debian's rustc-web"
  fi
  install_tool cargo-leptos "$CARGO_LEPTOS_VERSION" "$rustc_bin" --features no_downloads
fi
say "ready in $(( $(date +%s) - t_start )) s"
