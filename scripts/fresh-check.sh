#!/usr/bin/env bash
# Runs the README's two commands as a new machine would, and times them:
#
#   scripts/fresh-check.sh [--route rustup|debian] [--no-test | --no-start] [--keep]
#
# It clones this repository's committed HEAD into a temporary directory and runs, there,
# with empty tool locations (a new CARGO_HOME, so no installed tool and no crate cache; a new
# target/; a new HOME; a PATH that keeps rustup's toolchain proxies and the system's
# directories, not what `cargo install` put in ~/.cargo/bin):
#   1. scripts/start.sh, until /healthz answers; then it checks the first page, the sign-in
#      line and the compressed bundle, and stops the server;
#   2. scripts/test.sh (unless --no-test; with --no-start it is the first command, so its time
#      is the test command's alone from a new machine).
# --route forces the WASM route (written into target/.toolchain-route before setup runs).
# System packages (Chromium, PostgreSQL, Node.js, Debian's rustc-web) are the machine's: a
# package already installed is not installed again. The rustup toolchain itself is reused.
# Prints each step's time and a summary; the logs stay in the temporary directory (removed
# at the end unless --keep or a step failed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
route="" run_tests=1 run_start=1 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --route) route=${2:-}; shift ;;
    --no-test) run_tests=0 ;;
    --no-start) run_start=0 ;;
    --keep) keep=1 ;;
    *) echo "usage: scripts/fresh-check.sh [--route rustup|debian] [--no-test | --no-start] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
case "$route" in "" | rustup | debian) ;; *) echo "--route: rustup or debian, not '$route'" >&2; exit 2 ;; esac
[ $run_tests -eq 1 ] || [ $run_start -eq 1 ] || { echo "--no-test and --no-start leave nothing to check" >&2; exit 2; }

say() { printf '\033[1;35m[fresh]\033[0m %s\n' "$*"; }
port=${FRESH_PORT:-3000}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  say "port $port is in use: stop what listens there or set FRESH_PORT"; exit 2
fi
if [ -n "$(git -C "$repo" status --porcelain)" ]; then
  say "note: uncommitted changes are not part of the check (it clones HEAD)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vcore-fresh.XXXXXX")
ok=0
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  if [ $keep -eq 0 ] && [ $ok -eq 1 ]; then rm -rf "$work"; else say "kept $work (logs: $work/*.log)"; fi
}
trap cleanup EXIT

# Only rustup's proxies from ~/.cargo/bin: tools installed there earlier must not be found.
# (Read from the real HOME before the run's HOME replaces it, below.)
mkdir -p "$work/bin" "$work/cargo-home" "$work/tmp"
# TMPDIR works like /tmp: the PostgreSQL test clusters run as the `postgres` user under it.
chmod 755 "$work" && chmod 1777 "$work/tmp"
for t in cargo rustc rustup rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
  [ -e "$HOME/.cargo/bin/$t" ] && ln -s "$HOME/.cargo/bin/$t" "$work/bin/$t"
done
fresh_path="$work/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A new HOME too: scripts/env.sh puts ~/.cargo/bin on PATH (where rustup's proxies live on a
# laptop), which here would find the tools this machine installed there before (Trunk was,
# and a check once passed without installing it). Its ~/.cargo/bin holds the proxies only.
mkdir -p "$work/home/.cargo"
ln -s "$work/bin" "$work/home/.cargo/bin"
run_env=(env -i HOME="$work/home" USER="${USER:-root}" LANG=C.UTF-8 TERM="${TERM:-dumb}"
  PATH="$fresh_path" CARGO_HOME="$work/cargo-home" TMPDIR="$work/tmp"
  RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" npm_config_cache="$work/npm-cache" SERVER_PORT="$port")

declare -a summary=()
t_all=$(date +%s)
note() { summary+=("$(printf '%-44s %6s s' "$1" "$2")"); say "$1: $2 s"; }

t=$(date +%s)
git clone -q "$repo" "$work/vcore"
note "git clone" $(( $(date +%s) - t ))
cd "$work/vcore"
if [ -n "$route" ]; then mkdir -p target && echo "$route" >target/.toolchain-route; fi

if [ $run_start -eq 1 ]; then
  say "scripts/start.sh (log: $work/start.log)"
  t=$(date +%s)
  "${run_env[@]}" scripts/start.sh >"$work/start.log" 2>&1 &
  server_pid=$!
  deadline=$(( t + 3600 ))
  until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -n 30 "$work/start.log"; say "scripts/start.sh ended before /healthz answered"; exit 1
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { say "no /healthz within an hour"; exit 1; }
    sleep 1
  done
  first_page=$(( $(date +%s) - t ))
  sed 's/\x1b\[[0-9;]*m//g' "$work/start.log" | grep -E '^\[setup\] .*: [0-9]+ s$|^\[build\].* done in|^\[start\]' | sed 's/^/    /' || true
  note "start.sh: fresh machine to /healthz" "$first_page"

  # The first page a person sees, the line that tells them how to sign in, the bundle as served.
  login=$(curl -fsS "http://127.0.0.1:$port/login")
  grep -q '<form' <<<"$login" || { say "/login has no form"; exit 1; }
  grep -q 'pkg/vcore' <<<"$login" || { say "/login does not load the bundle"; exit 1; }
  line=$(grep -m1 "Sign in at http://127.0.0.1:$port/login as superuser 'admin' with the password in" "$work/start.log") ||
    { say "start.sh printed no sign-in line"; exit 1; }
  say "last line: ${line}"
  [ -s data/first-superuser-password.txt ] || { say "no password file"; exit 1; }
  enc=$(curl -fsS -o /dev/null -D - -H 'Accept-Encoding: br' "http://127.0.0.1:$port/pkg/vcore.wasm" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
  [ "$enc" = br ] || { say "the WASM is not served as brotli (content-encoding: '$enc')"; exit 1; }
  say "first page, sign-in line and brotli bundle: ok"
  kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
fi

if [ $run_tests -eq 1 ]; then
  say "scripts/test.sh (log: $work/test.log)"
  t=$(date +%s)
  if ! "${run_env[@]}" scripts/test.sh >"$work/test.log" 2>&1; then
    tail -n 40 "$work/test.log"; say "scripts/test.sh failed"; exit 1
  fi
  sed 's/\x1b\[[0-9;]*m//g' "$work/test.log" | grep -E '^== |^   \([0-9]+s\)$|^\[setup\] .*: [0-9]+ s$' | sed 's/^/    /' || true
  note "test.sh: $([ $run_start -eq 1 ] && echo "after start.sh" || echo "fresh machine"), to all passed" $(( $(date +%s) - t ))
fi

echo
say "summary (route: $(cat target/.toolchain-route); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ))"
printf '    %s\n' "${summary[@]}"
say "total: $(( $(date +%s) - t_all )) s"
ok=1
