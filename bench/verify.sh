#!/usr/bin/env bash
# Benchmark of the verifier: GET /api/v1/auth against GET /api/v1/ping (a do-nothing handler
# of the same server, same middleware, same path through any proxy), with wrk, 100,000 keys
# seeded. Every figure is printed as a ratio to the do-nothing handler measured in the same
# setup and the same run.
#
# Setups: SQLite and PostgreSQL, each with one key repeated ("hot") and with the 100,000 keys
# drawn at random; PostgreSQL with two instances behind nginx (round-robin, hot key); and
# PostgreSQL with Redis enforcing the limits (hot key). Then the time a revocation takes to be
# answered while the two instances serve from memory (p50/p99 of 200).
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

scripts/install-test-deps wrk python3 nginx redis-server

cargo build --release --quiet --bin keyward --example seed_keys --example revocation_latency
BIN=${CARGO_TARGET_DIR:-target}/release/keyward
SEED=${CARGO_TARGET_DIR:-target}/release/examples/seed_keys
REVOKE=${CARGO_TARGET_DIR:-target}/release/examples/revocation_latency
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One key per request: KEYS_FILE's keys in random order (a file of one line: one hot key).
cat >"$WORK/keys.lua" <<'LUA'
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
request = function()
  return wrk.format("GET", nil, { ["X-Api-Key"] = keys[math.random(#keys)] })
end
LUA

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs wrk on $1 with the keys of $2; prints "req/s p50 p99".
drive() {
  local url=$1 keys=$2 out
  out=$(KEYS_FILE="$keys" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/keys.lua" "$url")
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

# Starts keyward on a free port with extra environment ($2...); sets PORT (not run in a
# subshell, so that PIDS keeps the server for stop_servers).
start_server() {
  local url=$1
  shift
  PORT=$(free_port)
  env RUST_LOG=warn KEYWARD_DATABASE_URL="$url" KEYWARD_BIND="127.0.0.1:$PORT" "$@" "$BIN" serve 2>>"$WORK/server.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  # On PostgreSQL the instance answers from memory once its lease is taken.
  sleep 0.5
}

stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# measure SETUP BASE_URL KEYS_FILE LABEL: ping and auth alternately, ROUNDS times; prints the
# medians and auth's ratio to ping, and appends a row to the summary.
measure() {
  local setup=$1 base=$2 keys=$3 label=$4
  : >"$WORK/ping.runs"; : >"$WORK/auth.runs"
  for _ in $(seq 1 "$ROUNDS"); do
    drive "$base/api/v1/ping" "$keys" >>"$WORK/ping.runs"
    drive "$base/api/v1/auth" "$keys" >>"$WORK/auth.runs"
  done
  read -r ping_rps ping_p50 ping_p99 < <(median_run "$WORK/ping.runs")
  read -r auth_rps auth_p50 auth_p99 < <(median_run "$WORK/auth.runs")
  local ratio
  ratio=$(python3 -c "print(f'{100*$auth_rps/$ping_rps:.0f} %')")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$setup" "$label" "$ping_rps" "$auth_rps" "$auth_p50" "$auth_p99" "$ratio" | tee -a "$WORK/summary"
}

rss_of() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }

single_instance() {
  local name=$1 url=$2
  shift 2
  start_server "$url" "$@"
  local pid=${PIDS[-1]}
  measure "$name" "http://127.0.0.1:$PORT" "$WORK/hot.txt" "one key, hot"
  measure "$name" "http://127.0.0.1:$PORT" "$WORK/keys.txt" "$KEYS keys at random"
  echo "$name: peak RSS $(rss_of "$pid")" | tee -a "$WORK/memory"
  stop_servers
}

seed() {
  echo "== $1: seeding $KEYS keys" >&2
  "$SEED" "$2" "$KEYS" "$WORK/keys.txt" "$KEYS" >&2
  head -n1 "$WORK/keys.txt" >"$WORK/hot.txt"
}

echo '| setup | keys | ping req/s | auth req/s | auth p50 | auth p99 | auth/ping |' | tee "$WORK/summary"
echo '|---|---|---:|---:|---:|---:|---:|' | tee -a "$WORK/summary"

seed sqlite "sqlite://$WORK/bench.db"
single_instance "SQLite" "sqlite://$WORK/bench.db"

if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
  PG="$PG_SERVER/keyward_bench"
  psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)" >/dev/null
  psql "$PG_SERVER/postgres" -qc "CREATE DATABASE keyward_bench" >/dev/null
  seed postgres "$PG"
  single_instance "PostgreSQL" "$PG"

  # Two instances behind nginx, round-robin, connections kept alive to both.
  start_server "$PG" KEYWARD_WORKERS=1
  a=$PORT
  start_server "$PG" KEYWARD_WORKERS=1
  b=$PORT
  nginx_port=$(free_port)
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  upstream keyward { server 127.0.0.1:$a; server 127.0.0.1:$b; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://keyward;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
  PIDS+=($!)
  sleep 0.5
  measure "PostgreSQL, 2 instances behind nginx" "http://127.0.0.1:$nginx_port" "$WORK/hot.txt" "one key, hot"
  echo "== revocations answered while both instances serve from memory" >&2
  "$REVOKE" "$PG" 200 | tee -a "$WORK/revocations"
  stop_servers

  # Redis enforcing the limits across instances (one instance here: the cost per request).
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=($REDIS_PID)
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  start_server "$PG" KEYWARD_REDIS_URL="redis://127.0.0.1:$redis_port"
  measure "PostgreSQL + Redis limits" "http://127.0.0.1:$PORT" "$WORK/hot.txt" "one key, hot"
  stop_servers
  psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)" >/dev/null
fi

echo
echo "Summary ($DURATION per run, $ROUNDS rounds, $CONNECTIONS connections, median round):"
cat "$WORK/summary"
cat "$WORK/memory"
if [ -f "$WORK/revocations" ]; then cat "$WORK/revocations"; fi
