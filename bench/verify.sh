#!/usr/bin/env bash
# Benchmark of the verifier: GET /api/v1/auth against GET /api/v1/ping (a do-nothing handler
# of the same server, same middleware), with wrk, on SQLite and PostgreSQL, 100,000 keys seeded.
#
#   bench/verify.sh              # 10 s per run, 64 connections, 3 rounds
#   DURATION=5s ROUNDS=1 bench/verify.sh  # shorter
# Each round drives ping then auth; the figures are each handler's median round, so a burst of
# other load on the machine during one run does not decide the ratio.
# PostgreSQL: KEYWARD_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432), a
# database keyward_bench is dropped and recreated there. SKIP_POSTGRES=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Instances on PostgreSQL need a configured cookie secret (SQLite ones make their own).
export KEYWARD_SECRET_KEY="${KEYWARD_SECRET_KEY:-a benchmark cookie secret of 32+ characters}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
KEYS="${KEYS:-100000}"
ROUNDS="${ROUNDS:-3}"
PG_SERVER="${KEYWARD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"

scripts/install-test-deps wrk python3

cargo build --release --quiet --bin keyward --example seed_keys
BIN=target/release/keyward
SEED=target/release/examples/seed_keys
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cat >"$WORK/keys.lua" <<'LUA'
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local i = math.random(#keys)
request = function()
  i = i % #keys + 1
  return wrk.format("GET", nil, { ["X-Api-Key"] = keys[i] })
end
LUA

# Runs wrk; prints "req/s p50 p99".
drive() {
  local url=$1 out
  out=$(KEYS_FILE="$WORK/keys.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/keys.lua" "$url")
  local non2xx
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -n "$non2xx" ] && echo "WARNING: $non2xx non-2xx responses from $url" >&2
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  echo "$rps $p50 $p99"
}

# The run (a line of drive's output) with the median req/s.
median_run() {
  sort -n -k1,1 "$1" | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

run_backend() {
  local name=$1 url=$2
  echo "== $name: seeding $KEYS keys"
  "$SEED" "$url" "$KEYS" "$WORK/keys.txt" 1000
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RUST_LOG=warn KEYWARD_DATABASE_URL="$url" KEYWARD_BIND="127.0.0.1:$port" "$BIN" serve &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  : >"$WORK/ping.runs"; : >"$WORK/auth.runs"
  for round in $(seq 1 "$ROUNDS"); do
    drive "http://127.0.0.1:$port/api/v1/ping" >>"$WORK/ping.runs"
    drive "http://127.0.0.1:$port/api/v1/auth" >>"$WORK/auth.runs"
    echo "round $round: ping $(tail -n1 "$WORK/ping.runs" | cut -d' ' -f1) req/s, auth $(tail -n1 "$WORK/auth.runs" | cut -d' ' -f1) req/s"
  done
  read -r ping_rps ping_p50 ping_p99 < <(median_run "$WORK/ping.runs")
  read -r auth_rps auth_p50 auth_p99 < <(median_run "$WORK/auth.runs")
  local rss
  rss=$(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$SERVER_PID/status")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  local ratio
  ratio=$(python3 -c "print(f'{100*$auth_rps/$ping_rps:.0f}%')")
  printf '%-10s %-14s %12s %10s %10s\n' "$name" "handler" "req/s" "p50" "p99"
  printf '%-10s %-14s %12s %10s %10s\n' "$name" "/api/v1/ping" "$ping_rps" "$ping_p50" "$ping_p99"
  printf '%-10s %-14s %12s %10s %10s\n' "$name" "/api/v1/auth" "$auth_rps" "$auth_p50" "$auth_p99"
  echo "$name: auth/ping throughput ratio $ratio; peak RSS $rss"
}

run_backend sqlite "sqlite://$WORK/bench.db"

if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
  psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)" >/dev/null
  psql "$PG_SERVER/postgres" -qc "CREATE DATABASE keyward_bench" >/dev/null
  run_backend postgres "$PG_SERVER/keyward_bench"
  psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)" >/dev/null
fi
