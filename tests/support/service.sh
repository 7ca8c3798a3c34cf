# Sourced by the scripts that test the service from outside (tests/clients, tests/schemathesis):
# starts the debug binary on its own fresh SQLite file, Redis key prefix and random port, with
# the sample areas loaded, and stops it and removes its files on exit.
#
#   ROOT=../.. source ../support/service.sh   # then: $BIN, $PORT, $BASE, $WORK, $WORK/server.log
# Settings may be added before sourcing (export CLEARWAY__...=...).

BIN="$ROOT/target/debug/clearway"
(cd "$ROOT" && cargo build -q --bin clearway)
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export CLEARWAY_CONFIG_DIR="$ROOT/config"
export CLEARWAY_ENV=development
export CLEARWAY__DATABASE__URL="sqlite://$WORK/clearway.db"
export CLEARWAY__SERVER__PORT="$PORT"
export CLEARWAY__RATE_LIMITS__ENABLED=false
export CLEARWAY__REDIS__KEY_PREFIX="clearway-outside-$$-$RANDOM:"
export CLEARWAY__LOG__FILTER=warn
"$BIN" serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
stop_service() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop_service EXIT
for _ in $(seq 1 100); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$BASE/healthz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

# The server's log holds no panic and nothing at ERROR. actix logs a request it cannot parse
# (a generated header with control bytes) at ERROR and answers 400 itself: that one is not ours.
server_log_clean() {
  local errors
  errors=$(grep -E "panicked|ERROR" "$WORK/server.log" | grep -v "request parse error" || true)
  if [ -n "$errors" ]; then
    echo "the server logged errors:"; echo "$errors" | head -20
    return 1
  fi
}
