#!/usr/bin/env bash
# Two abuses of a release build, measured (bench/abuse.py does the measuring):
#
#   flood    600 failed sign-ins at once from 60 client addresses (X-Forwarded-For, with
#            KEYWARD_TRUSTED_PROXIES=127.0.0.1), each for an email of its own: the server's peak
#            RSS and thread count, and what the sign-ins were answered;
#   trickle  50 connections each sending a POST head that announces a 60 KB body, then one byte
#            every 2 s: how long each connection stays open (watched for at most CAP seconds).
#
#   bench/abuse.sh                  # this tree
#   BEFORE=main bench/abuse.sh      # and, first, the commit BEFORE names, built beside it
#   CLIENTS=300 CONNECTIONS=20 CAP=30 bench/abuse.sh
# SQLite, default workers (one per CPU), RUST_LOG=warn. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
SERVER_PID=""
BEFORE_TREE=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$BEFORE_TREE" ]; then git worktree remove --force "$BEFORE_TREE" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

csrf() { sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1; }

# Starts BIN on a fresh SQLite file with an owner set up; sets SERVER_PID and BASE.
start() {
  local bin=$1 name=$2 port jar="$WORK/$2.cookies"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  BASE="http://127.0.0.1:$port"
  KEYWARD_DATABASE_URL="sqlite://$WORK/$name.db" KEYWARD_BIND="127.0.0.1:$port" \
    KEYWARD_TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn "$bin" 2>"$WORK/$name.log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local token code
  token=$(curl -fsS -c "$jar" -b "$jar" "$BASE/setup" | csrf)
  # A fresh instance prints a one-time setup code in its log (builds before it had none).
  code=$(grep -o 'setup_code=[A-Z0-9-]*' "$WORK/$name.log" | tail -n 1 | cut -d= -f2 || true)
  curl -fsS -o /dev/null -c "$jar" -b "$jar" "$BASE/setup" --data-urlencode "csrf_token=$token" \
    --data-urlencode "setup_code=$code" \
    --data-urlencode "email=owner@example.com" --data-urlencode "password=owner password 123" \
    --data-urlencode "password_confirm=owner password 123" --data-urlencode "workspace_name=Bench"
}

stop() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# measure BIN SLUG LABEL
measure() {
  local bin=$1 slug=$2 label=$3
  echo "== $label"
  # A fresh server for each abuse, so neither inherits the other's memory or threads.
  start "$bin" "$slug-flood"
  python3 bench/abuse.py flood "$BASE" "$SERVER_PID"
  stop
  start "$bin" "$slug-trickle"
  python3 bench/abuse.py trickle "$BASE" "$SERVER_PID"
  stop
}

if [ -n "${BEFORE:-}" ]; then
  BEFORE_TREE="$WORK/before"
  git worktree add --detach --quiet "$BEFORE_TREE" "$BEFORE"
  # Same target directory, so the dependencies are built once. Both trees' keyward lands in the
  # same files there, and cargo judges them fresh by their age alone, so keyward's own
  # artifacts are removed before each tree's build, and the binary copied out after it.
  target=$(cd "$TARGET" 2>/dev/null && pwd || echo "$PWD/$TARGET")
  cargo clean --release --quiet -p keyward
  (cd "$BEFORE_TREE" && CARGO_TARGET_DIR="$target" cargo build --release --quiet --bin keyward)
  cp "$target/release/keyward" "$WORK/keyward-before"
  cargo clean --release --quiet -p keyward
  measure "$WORK/keyward-before" before "before: $BEFORE ($(git rev-parse --short "$BEFORE"))"
fi

cargo build --release --quiet --bin keyward
measure "$TARGET/release/keyward" after "this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', modified'))"
