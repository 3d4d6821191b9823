#!/usr/bin/env bash
# Measures the web app's budgets (docs/benchmarks.md, "Web app budgets") on the release build:
#   1. the size of what a browser downloads: WASM, JS glue, stylesheet (raw and gzip -9);
#   2. the server-side render time of the dashboard and the jobs page, signed in, over
#      loopback (sequential requests: the time one visitor waits for the HTML);
#   3. Lighthouse scores (performance, accessibility, best practices) of the dashboard and
#      the jobs page, mobile (Lighthouse's default throttling) and desktop presets, driving
#      the system Chromium. The service worker is blocked for these runs: it would fetch the
#      WASM bundle itself, out of Lighthouse's sight, and flatter the figures.
# Everything runs on 127.0.0.1 against a throwaway data dir. Usage:
#   scripts/web-budgets.sh [--no-build] [--renders N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

BUILD=1
RENDERS=300
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --renders) RENDERS="${2:?--renders needs a number}"; shift ;;
    *) echo "unknown argument: $1 (try --no-build, --renders N)" >&2; exit 2 ;;
  esac
  shift
done
case "$RENDERS" in ''|*[!0-9]*) echo "--renders: not a number: $RENDERS" >&2; exit 2 ;; esac

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "Chromium not found at $CHROMIUM (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }
LH_VERSION=12.8.2 # 13.x needs Node 22; Debian 12 has Node 18/20
LH_DIR=target/lighthouse
if [ ! -x "$LH_DIR/npm/node_modules/.bin/lighthouse" ]; then
  echo "installing lighthouse@$LH_VERSION into $LH_DIR/npm" >&2
  npm install --prefix "$LH_DIR/npm" --no-audit --no-fund --loglevel=error "lighthouse@$LH_VERSION" >&2
fi

if [ "$BUILD" = 1 ]; then
  scripts/setup.sh --release >&2
  target/xtask/release/vcore-xtask build --release "${WASM_CARGO_ARGS[@]}" >&2
fi
BIN=target/release/vcore
SITE=target/site
[ -x "$BIN" ] || { echo "$BIN missing: run without --no-build" >&2; exit 1; }

echo "## Download sizes (release)"
echo
echo "| file | raw | gzip -9 | brotli (as served, precompressed by the build step) |"
echo "|---|---|---|---|"
total=0
total_br=0
for f in "$SITE/pkg/vcore.wasm" "$SITE/pkg/vcore.js" "$SITE/pkg/vcore.css"; do
  raw=$(wc -c <"$f")
  gz=$(gzip -9c "$f" | wc -c)
  br=$(wc -c <"$f.br" 2>/dev/null || echo 0)
  total=$((total + gz))
  total_br=$((total_br + br))
  printf '| %s | %s B | %s B | %s B |\n' "$(basename "$f")" "$raw" "$gz" "$br"
done
printf '| **total** | | **%s B** | **%s B** |\n\n' "$total" "$total_br"

PORT="${BUDGET_PORT:-3480}"
DATA=$(mktemp -d)
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT
BASE="http://127.0.0.1:$PORT"
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ENV_NAME=production JWT_ACCESS_SECRET_KEY="$(secret)" JWT_REFRESH_SECRET_KEY="$(secret)" \
  SERVER_HOST=127.0.0.1 SERVER_PORT="$PORT" BASE_URL="$BASE" DATA_DIR="$DATA" \
  DB_URL="sqlite://$DATA/vcore.db" FIRST_SUPERUSER_USERNAME=admin \
  FIRST_SUPERUSER_EMAIL=admin@example.com FIRST_SUPERUSER_PASSWORD=budget-admin-pass \
  LEPTOS_SITE_ROOT="$SITE" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LOG_LEVEL=warn \
  "$BIN" serve >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not start:" >&2; cat "$DATA/server.log" >&2; exit 1; }

# The bundle must go out as its build-time brotli file, or the sizes above are not what a
# browser gets.
encoding=$(curl -fs -o /dev/null -D - -H 'Accept-Encoding: br, gzip' "$BASE/pkg/vcore.wasm" |
  tr -d '\r' | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
[ "$encoding" = br ] || { echo "/pkg/vcore.wasm is served with content-encoding '$encoding', not br" >&2; exit 1; }

TOKENS=$(curl -fs -X POST "$BASE/api/v1/login/access-token" -d "username=admin&password=budget-admin-pass")
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$TOKENS"; }
ACCESS=$(field access_token)
COOKIE="vcore_access=$ACCESS; vcore_refresh=$(field refresh_token)"
# Something to show: 60 jobs (done, failed, waiting) and a scheduler.
for i in $(seq 1 20); do
  for body in "{\"name\":\"noop $i\",\"type\":\"script\",\"command\":\"noop\"}" \
    "{\"name\":\"echo $i\",\"type\":\"command\",\"command\":\"echo hello $i\"}" \
    "{\"name\":\"fails $i\",\"type\":\"command\",\"command\":\"exit 3\",\"max_attempts\":1}"; do
    curl -fs -o /dev/null -X POST "$BASE/api/v1/jobs/" -H "Authorization: Bearer $ACCESS" \
      -H 'content-type: application/json' -d "$body"
  done
done
curl -fs -o /dev/null -X POST "$BASE/api/v1/job-schedulers/" -H "Authorization: Bearer $ACCESS" \
  -H 'content-type: application/json' \
  -d '{"name":"nightly","trigger_type":"cron","cron":"0 3 * * *","job_template":{"name":"n","type":"script","command":"noop"}}'
sleep 1

echo "## Server-side render, signed in ($RENDERS sequential requests each, loopback)"
echo
echo "| page | p50 | p95 | p99 | bytes |"
echo "|---|---|---|---|---|"
for path in / /jobs; do
  # Warm-up, then the timed requests (curl's time to the last byte).
  for _ in 1 2 3 4 5; do curl -fs -o /dev/null -H "Cookie: $COOKIE" "$BASE$path"; done
  size=$(curl -fs -H "Cookie: $COOKIE" "$BASE$path" | wc -c)
  for _ in $(seq 1 "$RENDERS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Cookie: $COOKIE" "$BASE$path"
  done | python3 -c "
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print(f'| \`$path\` | {q(0.5):.2f} ms | {q(0.95):.2f} ms | {q(0.99):.2f} ms | $size |')"
done
echo

echo "## Lighthouse $LH_VERSION (scores out of 100)"
echo
echo "| page | preset | performance | accessibility | best practices | FCP | LCP | TBT | CLS |"
echo "|---|---|---|---|---|---|---|---|---|"
FLAGS="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync"
for path in / /jobs; do
  for preset in mobile desktop; do
    out="$LH_DIR/report-$(echo "$path" | tr '/' '_')-$preset.json"
    extra=()
    [ "$preset" = desktop ] && extra=(--preset=desktop)
    CHROME_PATH="$CHROMIUM" "$LH_DIR/npm/node_modules/.bin/lighthouse" "$BASE$path" \
      --quiet --output=json --output-path="$out" \
      --only-categories=performance,accessibility,best-practices \
      --extra-headers="{\"Cookie\":\"$COOKIE\"}" \
      --blocked-url-patterns='*/sw.js' \
      --chrome-flags="$FLAGS" "${extra[@]}" >/dev/null 2>"$LH_DIR/lighthouse.log" ||
      { echo "lighthouse failed on $path ($preset):" >&2; tail -20 "$LH_DIR/lighthouse.log" >&2; exit 1; }
    python3 - "$out" "$path" "$preset" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("runtimeError"):
    sys.exit(f"lighthouse: {r['runtimeError']}")
c, a = r["categories"], r["audits"]
s = lambda k: "–" if c[k]["score"] is None else str(round(c[k]["score"] * 100))
d = lambda k: a[k].get("displayValue", "–")
final = r.get("finalDisplayedUrl") or r.get("finalUrl", "")
if "/login" in final:
    sys.exit(f"lighthouse was sent to the sign-in page ({final}): the session cookie was not accepted")
print(f"| `{sys.argv[2]}` | {sys.argv[3]} | {s('performance')} | {s('accessibility')} | {s('best-practices')} | "
      f"{d('first-contentful-paint')} | {d('largest-contentful-paint')} | {d('total-blocking-time')} | {d('cumulative-layout-shift')} |")
EOF
  done
done
echo
echo "Reports (JSON, with every audit): $LH_DIR/report-*.json"
