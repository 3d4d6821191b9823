#!/usr/bin/env bash
# Tests the REST API against its own OpenAPI document with schemathesis (`--checks all`):
# every answer must match its declared schema and status codes, every schema-valid request
# must be accepted, every schema-invalid one refused, and nothing may answer 5xx.
#
#   scripts/schemathesis.sh [VCORE_BIN] [extra schemathesis arguments...]
#
# It starts a throwaway server (SQLite in a temporary directory, the job runner off so that
# generated commands never run, rate limits off), signs in with an API key of a superuser
# holding every scope, runs a bounded, seeded run (SCHEMATHESIS_EXAMPLES per operation and
# phase, SCHEMATHESIS_MAX_TIME seconds at most) and stops the server. schemathesis itself
# comes from scripts/setup.sh --test (a virtualenv in target/schemathesis, pinned versions).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/vcore}
[ $# -gt 0 ] && shift
st=target/schemathesis/bin/schemathesis
[ -x "$st" ] || { echo "schemathesis is missing: run scripts/setup.sh --test" >&2; exit 1; }
[ -x "$bin" ] || { echo "no server binary at $bin: build it first" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/vcore-schemathesis.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATA_DIR="$dir/data" DB_URL="sqlite://$dir/data/vcore.db" SERVER_HOST=127.0.0.1 \
  SERVER_PORT=$port BASE_URL="http://127.0.0.1:$port" LOG_LEVEL=warn \
  JWT_ACCESS_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  JWT_REFRESH_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  FIRST_SUPERUSER_USERNAME=admin FIRST_SUPERUSER_PASSWORD="st-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  RATE_LIMIT_PER_SEC=0 RATE_LIMIT_IP_PER_SEC=0 JOB_RUNNER=false JOB_NOTIFY=false \
  USERS_OPEN_REGISTRATION=false
# Email on (password recovery exists only then), to a port where nothing listens: the
# recovery endpoint queues its mail and answers; the send fails later, in the background.
export EMAILS_ENABLED=true SMTP_HOST=127.0.0.1 SMTP_PORT=9 SMTP_TLS=false \
  EMAILS_FROM_EMAIL=vcore@example.com
mkdir -p "$DATA_DIR"
"$bin" serve >"$dir/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ "${keep:-0}" = 1 ]; then echo "logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 0.2
done
key=$("$bin" api-key create --user admin --name schemathesis \
  --scope jobs:read,jobs:write,schedulers,admin | grep -o 'vk_[0-9a-f]*_[0-9a-f]*' | tail -n1)
[ -n "$key" ] || { echo "could not create an API key" >&2; exit 1; }

set +e
"$st" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --checks all \
  -H "Authorization: Bearer $key" \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-10}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-120}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --workers 2 --no-color --request-timeout 10 \
  "$@"
rc=$?
set -e
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server died during the run:" >&2
  tail -n 50 "$dir/server.log" >&2
  rc=1
fi
if grep -q 'panicked' "$dir/server.log"; then
  echo "the server panicked during the run:" >&2
  grep -A5 'panicked' "$dir/server.log" | head -n 40 >&2
  rc=1
fi
[ $rc -eq 0 ] || keep=1
exit $rc
