#!/usr/bin/env bash
# Measures the job engine: builds the release binary and runs `vcore bench` on SQLite and,
# when PostgreSQL's server binaries are found (PG_BIN, else /usr/lib/postgresql/*/bin), on a
# throwaway cluster on 127.0.0.1 that is removed afterwards. Arguments go to `vcore bench`
# (see `vcore bench --help`); VCORE_BENCH_POSTGRES_URL uses an existing scratch database instead.
# `scripts/bench.sh ws [args]` runs `vcore bench-ws` instead (live updates; SQLite);
# `scripts/bench.sh nodes [args]` runs `vcore bench-nodes` (worker processes on the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release -p vcore-server --bin vcore
if [ "${1:-}" = ws ]; then
  shift
  exec target/release/vcore bench-ws "$@"
fi

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
if [ -z "${VCORE_BENCH_POSTGRES_URL:-}" ] && [ -x "$pg_bin/initdb" ]; then
  dir="$(mktemp -d /tmp/vcore-bench-pg.XXXXXX)"
  chmod 755 "$dir"
  # PostgreSQL refuses to run as root: as root, run it as the postgres user.
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$((20000 + RANDOM % 20000))
  # bench-nodes counts the statements idle nodes cost; the other benchmarks run without it.
  preload=""; [ "${1:-}" = nodes ] && preload=" -c shared_preload_libraries=pg_stat_statements"
  as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  # Default durability (fsync, synchronous_commit on): every result is a durable commit.
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100$preload" start >/dev/null
  trap 'as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
  export VCORE_BENCH_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
elif [ -z "${VCORE_BENCH_POSTGRES_URL:-}" ]; then
  echo "[bench] PostgreSQL binaries not found (set PG_BIN): measuring SQLite only" >&2
fi
if [ "${1:-}" = nodes ]; then
  shift
  [ -n "${VCORE_BENCH_POSTGRES_URL:-}" ] || { echo "[bench] nodes: needs PostgreSQL (set PG_BIN)" >&2; exit 1; }
  target/release/vcore bench-nodes "$@"
else
  target/release/vcore bench "$@"
fi
