#!/usr/bin/env bash
# Console performance with a big workspace: 100,000 keys, then the key table's first page, a
# search with few matches, a search with many, the revoked filter and the middle page (page
# 1,000 of 2,000), and the management API's list (first 100, a search, the revoked filter,
# 100 from the middle by cursor), each requested REPEAT times in a row by a signed-in owner. Prints the median and p90 time at the
# server (the request log's `micros`, so the network and curl are not counted) and at the
# client, on SQLite and PostgreSQL. Target: every median under 50 ms.
#
#   bench/console.sh                     # release build, 100,000 keys, 30 requests each
#   KEYS=20000 REPEAT=10 bench/console.sh
# PostgreSQL: KEYWARD_TEST_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/test), where a
# database keyward_console_bench_PID is created and dropped, and analyzed after the seeding
# (NO_ANALYZE=1 leaves it without statistics). SKIP_POSTGRES=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Instances on PostgreSQL need a configured cookie secret (SQLite ones make their own).
export KEYWARD_SECRET_KEY="${KEYWARD_SECRET_KEY:-a benchmark cookie secret of 32+ characters}"
KEYS=${KEYS:-100000}
REPEAT=${REPEAT:-30}
PG_URL=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin keyward --example console_traffic
BIN="$TARGET/release/keyward"; TOOL="$TARGET/release/examples/console_traffic"
WORK=$(mktemp -d); SERVER_PID=""; PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

csrf() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1; }

# median and p90 of the numbers on standard input (microseconds) → "median_ms p90_ms"
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f %.1f", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000 }'; }

# measure NAME LOG BASE LABEL PATH EXPECT CURL_ARGS…: REPEAT timed requests of PATH (after one
# warm-up), checked to hold EXPECT; prints the server's (request log `micros` for the path) and
# the client's median and p90.
measure() {
  local name=$1 log=$2 base=$3 label=$4 path=$5 expect=$6; shift 6
  curl -fsS -o /dev/null "$@" "$base$path"   # warm-up, not counted
  local before; before=$(wc -l <"$log")
  : >"$WORK/client.txt"
  for _ in $(seq 1 "$REPEAT"); do
    curl -fsS -o "$WORK/answer" "$@" -w '%{time_total}\n' "$base$path" \
      | awk '{ printf "%d\n", $1 * 1000000 }' >>"$WORK/client.txt"
  done
  grep -q "$expect" "$WORK/answer" || { echo "[$name] $label: no keys in the answer"; exit 1; }
  local server client
  server=$(tail -n +"$((before + 1))" "$log" | sed 's/\x1b\[[0-9;]*m//g' | grep "path=${path%%\?*} " \
    | sed -n 's/.*micros=\([0-9]*\).*/\1/p' | stats)
  client=$(stats <"$WORK/client.txt")
  printf '[%s] %-24s server median/p90 %s ms   client median/p90 %s ms\n' "$name" "$label" \
    "$(echo "$server" | tr ' ' '/')" "$(echo "$client" | tr ' ' '/')"
}

run_backend() {
  local name=$1 url=$2 port base jar="$WORK/$1.cookies" log="$WORK/$1.log"
  port=$(shuf -i 20000-60000 -n 1); base="http://127.0.0.1:$port"
  KEYWARD_DATABASE_URL="$url" KEYWARD_BIND="127.0.0.1:$port" KEYWARD_WORKERS=2 RUST_LOG=info "$BIN" 2>"$log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

  # First-run setup makes workspace 1 and its owner; then the keys go straight in.
  local token
  token=$(curl -fsS -c "$jar" -b "$jar" "$base/setup" | csrf)
  local code
  code=$(grep -o 'setup_code=[A-Z0-9-]*' "$log" | tail -n 1 | cut -d= -f2)
  curl -fsS -o /dev/null -c "$jar" -b "$jar" "$base/setup" --data-urlencode "csrf_token=$token" \
    --data-urlencode "setup_code=$code" \
    --data-urlencode "email=bench@example.com" --data-urlencode "password=bench password 123" \
    --data-urlencode "password_confirm=bench password 123" --data-urlencode "workspace_name=Bench"
  local started=$SECONDS
  "$TOOL" seed "$url" 1 "$KEYS" >/dev/null
  echo "[$name] seeded $KEYS keys in $(( SECONDS - started )) s"
  # A bulk load is followed by ANALYZE, as PostgreSQL's manual advises: a live server's
  # autovacuum would have gathered the statistics within a minute, but a test server may run
  # with autovacuum off, and then the planner guesses (the name search ~35 ms instead of <1 ms).
  # NO_ANALYZE=1 measures the table without statistics.
  if [ "$name" = postgres ] && [ -z "${NO_ANALYZE:-}" ]; then psql -q "$url" -c "ANALYZE api_keys" >/dev/null; fi

  local late=$(( KEYS / 100 > 1 ? KEYS / 100 : 1 ))
  for spec in "first page|/settings/api-keys" \
              "search, 1 in 10,000|/settings/api-keys?q=zebra" \
              "search, 1 in 6 matches|/settings/api-keys?q=deploy" \
              "revoked filter|/settings/api-keys?status=revoked" \
              "page $late (middle)|/settings/api-keys?page=$late"; do
    measure "$name" "$log" "$base" "${spec%%|*}" "${spec#*|}" 'data-key-id=' -b "$jar"
  done

  # The management API's list, with a token made through the console's form (the sign-in is
  # fresh, so no re-authentication is asked): the first page, the same filters, and a page
  # half-way down by cursor (the id of the middle key, as the API encodes it).
  token=$(curl -fsS -b "$jar" "$base/settings/management-tokens/new" | csrf)
  local reveal mgmt
  reveal=$(curl -fsS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "$base/settings/management-tokens" \
    --data-urlencode "csrf_token=$token" --data-urlencode "name=bench" \
    --data-urlencode "scopes=keys:read" --data-urlencode "expiry=7")
  mgmt=$(curl -fsS -c "$jar" -b "$jar" "$reveal" | grep -o 'kw_mgmt_[A-Za-z0-9]*' | head -n 1)
  local middle; middle=$(printf 'id:%d' $(( KEYS / 2 )) | base64 | tr '+/' '-_' | tr -d '=')
  for spec in "API: first 100|/api/v1/manage/keys?limit=100" \
              "API: search, 1 in 10,000|/api/v1/manage/keys?q=zebra" \
              "API: revoked, 100|/api/v1/manage/keys?status=revoked&limit=100" \
              "API: 100 from the middle|/api/v1/manage/keys?limit=100&cursor=$middle"; do
    measure "$name" "$log" "$base" "${spec%%|*}" "${spec#*|}" '"masked_key"' -H "Authorization: Bearer $mgmt"
  done
  kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
}

run_backend sqlite "sqlite://$WORK/console.db"
if [ -z "${SKIP_POSTGRES:-}" ]; then
  PG_DB="keyward_console_bench_$$"
  psql -q "$PG_URL" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  run_backend postgres "${PG_URL%/*}/$PG_DB"
fi
