#!/usr/bin/env bash
# Soak: mixed traffic against one keyward on SQLite, then on PostgreSQL, on loopback only.
#
#   - verifications at a steady high rate from wrk (POST /api/v1/keys/verify, 20 live keys);
#   - console traffic from examples/console_traffic.rs: sign-in, table pages, search, audit log,
#     create / regenerate / revoke, and a verifier check of every key it touched (a revoked or
#     replaced key must be refused as soon as its revocation returned).
#
# Passes when: zero 5xx, zero wrong verdicts, a clean SIGTERM exit, no issued key in the
# server log or the database, and (for runs of 2 minutes or more) resident memory at the end
# within 10% of the level after the first fifth of the run (the first minute of 5); a level is
# the lowest reading in a 20-second window, so a momentary argon2 buffer does not count.
# With SOAK_CRASH_CYCLES > 0 it then runs that many kill -9 / restart cycles per backend.
#
#   bench/soak.sh                          # 5 minutes per backend, release build, 20 crash cycles
#   SOAK_SECONDS=30 SOAK_PROFILE=debug SOAK_CRASH_CYCLES=0 bench/soak.sh   # the CI version
#
# Settings (environment): SOAK_MINUTES (5) or SOAK_SECONDS, SOAK_BACKENDS ("sqlite postgres"),
# SOAK_PROFILE (release|debug), SOAK_CLIENTS (4 console clients), SOAK_WRK_CONNECTIONS (16),
# SOAK_CRASH_CYCLES (20), KEYWARD_TEST_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/test:
# a server where it may create and drop a database).
set -euo pipefail
cd "$(dirname "$0")/.."
# Instances on PostgreSQL need a configured cookie secret (SQLite ones make their own).
export KEYWARD_SECRET_KEY="${KEYWARD_SECRET_KEY:-a benchmark cookie secret of 32+ characters}"

DURATION=${SOAK_SECONDS:-$(( ${SOAK_MINUTES:-5} * 60 ))}
BACKENDS=${SOAK_BACKENDS:-"sqlite postgres"}
PROFILE=${SOAK_PROFILE:-release}
CLIENTS=${SOAK_CLIENTS:-4}
WRK_CONNECTIONS=${SOAK_WRK_CONNECTIONS:-16}
CRASH_CYCLES=${SOAK_CRASH_CYCLES:-20}
PG_URL=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
TARGET=${CARGO_TARGET_DIR:-target}

scripts/install-test-deps wrk

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin keyward --example console_traffic
  BIN="$TARGET/release/keyward"; TRAFFIC="$TARGET/release/examples/console_traffic"
else
  cargo build --quiet --bin keyward --example console_traffic
  BIN="$TARGET/debug/keyward"; TRAFFIC="$TARGET/debug/examples/console_traffic"
fi

FAILED=0
SUMMARY=()
server_pid=""; sampler_pid=""; work=""; pg_db=""

cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
  server_pid=""; sampler_pid=""; pg_db=""; work=""
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

write_wrk_script() {
  echo "local keys = {"
  sed 's/.*/  "&",/' "$1"
  cat <<'LUA'
}
local counter, threads = 0, {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; wrong = 0; s5 = 0 end
function request()
  counter = counter + 1
  local key = keys[(counter % #keys) + 1]
  return wrk.format("POST", "/api/v1/keys/verify", {["Content-Type"] = "application/json"},
    '{"key":"' .. key .. '"}')
end
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1
  elseif status == 200 and string.find(body, '"valid":true', 1, true) then ok = ok + 1
  else wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local tok, twrong, t5 = 0, 0, 0
  for _, t in ipairs(threads) do
    tok = tok + t:get("ok"); twrong = twrong + t:get("wrong"); t5 = t5 + t:get("s5")
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d ok=%d wrong=%d s5xx=%d socket_errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, tok, twrong, t5, e.connect + e.read + e.write + e.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
}

soak_one() {
  local backend=$1 url port base
  work=$(mktemp -d)
  if [ "$backend" = sqlite ]; then
    url="sqlite://$work/soak.db"
  else
    pg_db="keyward_soak_$$"
    psql -q "$PG_URL" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
    url="${PG_URL%/*}/$pg_db"
  fi
  port=$(shuf -i 20000-60000 -n 1)
  base="http://127.0.0.1:$port"

  # Request lines are left out of the log at this rate (they never hold keys: path only).
  KEYWARD_DATABASE_URL="$url" KEYWARD_BIND="127.0.0.1:$port" KEYWARD_WORKERS=2 \
    KEYWARD_RATE_LIMIT_PER_MINUTE=1000000000 KEYWARD_RATE_LIMIT_BURST=1000000000 \
    RUST_LOG="info,keyward::request=warn,keyward::memory=debug" "$BIN" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if ! curl -fsS "$base/readyz" >/dev/null; then
    echo "[$backend] server did not start"; cat "$work/server.log"; FAILED=1; cleanup; return
  fi

  # First-run setup asks for the code the fresh server logged.
  SOAK_SETUP_CODE=$(grep -o 'setup_code=[A-Z0-9-]*' "$work/server.log" | tail -n 1 | cut -d= -f2)
  export SOAK_SETUP_CODE
  "$TRAFFIC" make-keys "$base" 20 "$work/wrk_keys.txt"
  write_wrk_script "$work/wrk_keys.txt" >"$work/verify.lua"

  # Resident memory every 2 s: "seconds_since_start kB".
  (
    start=$(date +%s)
    while kill -0 "$server_pid" 2>/dev/null; do
      if [ "$backend" = postgres ]; then
        conns=$(psql -tAq "$PG_URL" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$pg_db'" 2>/dev/null || echo "?")
      else
        conns=-
      fi
      echo "$(( $(date +%s) - start )) $(rss_kb "$server_pid") $conns"
      sleep 2
    done
  ) >"$work/rss.txt" &
  sampler_pid=$!

  wrk -t2 -c"$WRK_CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$work/verify.lua" "$base" \
    >"$work/wrk.out" 2>&1 &
  local wrk_pid=$! console_status=0
  "$TRAFFIC" run "$base" "$DURATION" "$CLIENTS" "$work/secrets.txt" \
    >"$work/console.out" 2>"$work/console.err" || console_status=$?
  wait "$wrk_pid" || true
  local rss_end; rss_end=$(rss_kb "$server_pid")
  kill "$sampler_pid" 2>/dev/null || true; sampler_pid=""

  # Graceful stop: exit status 0 within the 10 s drain.
  kill -TERM "$server_pid"
  local exit_code=0
  wait "$server_pid" || exit_code=$?
  server_pid=""

  local wrk_line console_line
  wrk_line=$(grep WRK_RESULT "$work/wrk.out" || echo "WRK_RESULT missing: $(tail -n 3 "$work/wrk.out")")
  console_line=$(grep CONSOLE_RESULT "$work/console.out" || echo "CONSOLE_RESULT missing")
  echo "[$backend] $wrk_line"
  echo "[$backend] $console_line"
  if [ -s "$work/console.err" ]; then sed "s/^/[$backend] /" "$work/console.err"; fi

  # Memory: the level after the first fifth of the run (60 s of 5 min) against the end.
  # Each level is the lowest reading in a 20-second window (around the first fifth; the last
  # 20 s): a sign-in's 19 MiB argon2 buffer lives for a moment and is returned, and a single
  # reading that lands on one says nothing about the level.
  local base_at=$(( DURATION / 5 )) rss_base growth
  rss_base=$(awk -v a="$(( base_at - 10 ))" -v b="$(( base_at + 10 ))" \
    '$1 >= a && $1 <= b && (m == "" || $2 < m) { m = $2 } END { print m }' "$work/rss.txt")
  rss_base=${rss_base:-$rss_end}
  rss_end=$(awk -v a="$(( DURATION - 20 ))" -v e="$rss_end" \
    '$1 >= a && $2 < e { e = $2 } END { print e }' "$work/rss.txt")
  growth=$(awk -v a="$rss_base" -v b="$rss_end" 'BEGIN { printf "%.1f", (a > 0 ? (b - a) * 100 / a : 0) }')
  echo "[$backend] RSS_RESULT after_${base_at}s_kb=$rss_base end_kb=$rss_end growth_pct=$growth"
  # The curve at each tenth of the run: growth that levels off reads differently from a leak.
  echo "[$backend] RSS_CURVE_KB $(awk -v step="$(( DURATION / 10 > 0 ? DURATION / 10 : 1 ))" \
    '$1 >= next_t { printf "%ss=%s ", $1, $2; next_t = $1 - $1 % step + step }' "$work/rss.txt")"
  # What the program holds (glibc's in-use heap, logged after each 30 s trim), at about the
  # same tenths: flat while RSS rises means the allocator keeps memory; rising means live data.
  echo "[$backend] HEAP_IN_USE_KB $(sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | grep -a 'heap trimmed' |
    sed -E 's/.*in_use_kb=([0-9]+).*/\1/' |
    awk -v n="$(( DURATION / 300 > 0 ? DURATION / 300 : 1 ))" 'NR % n == 0 { printf "%ss=%s ", NR * 30, $1 }')"
  if [ "$backend" = postgres ]; then
    echo "[$backend] DB_CONNECTIONS $(awk -v step="$(( DURATION / 10 > 0 ? DURATION / 10 : 1 ))" \
      '$1 >= next_t { printf "%ss=%s ", $1, $3; next_t = $1 - $1 % step + step }' "$work/rss.txt")"
  fi

  # No issued key in the log or in the database: the whole key, and its 32-character body.
  cat "$work/wrk_keys.txt" "$work/secrets.txt" 2>/dev/null | sort -u >"$work/all_keys.txt"
  sed -E 's/^kw_(live|test)_(.{32}).*/\2/' "$work/all_keys.txt" >"$work/needles.txt"
  cat "$work/all_keys.txt" >>"$work/needles.txt"
  local keys_issued in_log in_db
  keys_issued=$(wc -l <"$work/all_keys.txt")
  in_log=$(grep -a -c -F -f "$work/needles.txt" "$work/server.log" || true)
  if [ "$backend" = sqlite ]; then
    in_db=$(cat "$work"/soak.db* | grep -a -c -F -f "$work/needles.txt" || true)
  else
    in_db=$(pg_dump "$url" | grep -a -c -F -f "$work/needles.txt" || true)
  fi
  echo "[$backend] SCAN_RESULT keys_issued=$keys_issued in_log=$in_log in_db=$in_db server_exit=$exit_code"

  local problems=()
  grep -q " s5xx=0 " <<<"$wrk_line" || problems+=("wrk: 5xx or no result")
  grep -q " wrong=0 " <<<"$wrk_line" || problems+=("wrk: wrong verdicts or no result")
  grep -q " s5xx=0 wrong=0 other_failures=0 " <<<"$console_line" || problems+=("console: 5xx, wrong verdicts or failures")
  [ "$console_status" = 0 ] || problems+=("console client exit $console_status")
  [ "$exit_code" = 0 ] || problems+=("server exit $exit_code")
  [ "${in_log:-0}" = 0 ] || problems+=("keys in log")
  [ "${in_db:-0}" = 0 ] || problems+=("keys in database")
  if grep -q "panicked" "$work/server.log"; then problems+=("server panicked"); fi
  if [ "$DURATION" -ge 120 ] && ! awk -v g="$growth" 'BEGIN { exit !(g <= 10) }'; then
    problems+=("memory grew ${growth}%")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    SUMMARY+=("[$backend] PASS")
  else
    SUMMARY+=("[$backend] FAIL: ${problems[*]}")
    FAILED=1
    tail -n 20 "$work/server.log" | sed "s/^/[$backend] log: /"
  fi
  cleanup
}

echo "soak: ${DURATION}s per backend, $CLIENTS console clients, wrk with $WRK_CONNECTIONS connections, $PROFILE build"
for backend in $BACKENDS; do
  if [ "$backend" = postgres ] && ! pg_isready -q -d "$PG_URL"; then
    echo "[postgres] PostgreSQL is not reachable at $PG_URL"; FAILED=1; continue
  fi
  soak_one "$backend"
done

if [ "$CRASH_CYCLES" -gt 0 ]; then
  echo "crash: $CRASH_CYCLES kill -9 cycles per backend"
  # The crash test drives the binary its own build made; the debug profile is enough (the
  # number of cycles matters, not the speed) and is already built by the test suite.
  crash_log=$(mktemp)
  crash_status=0
  KEYWARD_CRASH_CYCLES="$CRASH_CYCLES" KEYWARD_TEST_POSTGRES_URL="$PG_URL" \
    cargo test --quiet --test api crash:: -- --nocapture >"$crash_log" 2>&1 || crash_status=$?
  grep -E "^crash|test result|panicked" "$crash_log" || true
  if [ "$crash_status" = 0 ]; then
    SUMMARY+=("[crash] PASS")
  else
    SUMMARY+=("[crash] FAIL"); FAILED=1; tail -n 40 "$crash_log"
  fi
  rm -f "$crash_log"
fi

printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
