#!/usr/bin/env bash
# Builds the release binaries, starts a Redis and a clearway of its own on free ports with a
# fresh data directory and the sample SRAs, runs the load scenarios, stops what it started,
# and leaves the report in loadtests/reports/.
#
#   bash loadtests/run.sh                 # the full run (about five minutes, 1,000,000-request soak)
#   PROFILE=short bash loadtests/run.sh   # what CI runs: seconds, a few thousand requests
#   SCENARIOS=submit,soak SOAK_TOTAL=200000 bash loadtests/run.sh
#   SKIP_BUILD=1 bash loadtests/run.sh    # reuse the release binaries already built
#   CARGO_PROFILE=dev bash loadtests/run.sh  # the binaries the tests use (CI: one build for all;
#                                            # its figures are not the service's)
#   KEEP_LOG=/tmp/clearway.log bash loadtests/run.sh  # keep the server's log (a second
#                                          # instance's in /tmp/clearway.log.2)
#   BACKEND=postgres bash loadtests/run.sh # the same on PostgreSQL: a fresh database on the
#                                          # server PG_ADMIN_URL names, dropped afterwards
#   GENERATOR=wrk bash loadtests/run.sh    # ceiling and submit from wrk (Debian's package),
#                                          # an independent generator, instead of clearway-load
#   BACKEND=postgres INSTANCES=2 bash loadtests/run.sh  # two instances on the one database,
#                                          # submissions and the ceiling's reads by turns
#   MAIL=1 SCENARIOS=rescreen bash loadtests/run.sh  # e-mail on, to a relay in the generator:
#                                          # the re-screening's messages are counted and timed
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-full}
SCENARIOS=${SCENARIOS:-ceiling,areas,submit,fixed-rate,mixed,rescreen,soak}
RATE=${RATE:-2000}
CONCURRENCY=${CONCURRENCY:-256}
BACKEND=${BACKEND:-sqlite}
INSTANCES=${INSTANCES:-1}
case "$INSTANCES" in
  1) ;;
  2) [ "$BACKEND" = postgres ] || { echo "INSTANCES=2 needs BACKEND=postgres (SQLite serves one instance)" >&2; exit 2; }
     [ "${GENERATOR:-}" != wrk ] || { echo "INSTANCES=2 is for clearway-load, not GENERATOR=wrk" >&2; exit 2; } ;;
  *) echo "INSTANCES must be 1 or 2" >&2; exit 2 ;;
esac
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

CARGO_PROFILE=${CARGO_PROFILE:-release}
[ -n "${SKIP_BUILD:-}" ] || cargo build --profile "$CARGO_PROFILE" --bins --workspace
# Cargo puts the dev profile's binaries in target/debug, the others under their own name.
bin=target/$([ "$CARGO_PROFILE" = dev ] && echo debug || echo "$CARGO_PROFILE")

work=$(mktemp -d)
pids=()
pg_database=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_database" ]; then
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" || true
  fi
  if [ -n "${KEEP_LOG:-}" ]; then
    cp "$work/clearway.log" "$KEEP_LOG" || true
    if [ -f "$work/clearway-2.log" ]; then cp "$work/clearway-2.log" "$KEEP_LOG.2" || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
pids+=($!)

app_port=$(free_port)
export CLEARWAY_ENV=development
export CLEARWAY__SERVER__PORT=$app_port
case "$BACKEND" in
  sqlite)
    export CLEARWAY__DATABASE__URL="sqlite://$work/data/clearway.db"
    store="$work/data/clearway.db"
    ;;
  postgres)
    pg_database="clearway_load_$(date +%s)_$$"
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $pg_database"
    export CLEARWAY__DATABASE__URL="${PG_ADMIN_URL%/*}/$pg_database"
    export CLEARWAY__DATABASE__MAX_CONNECTIONS=${PG_CONNECTIONS:-16}
    store="$CLEARWAY__DATABASE__URL"
    ;;
  *) echo "BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac
export CLEARWAY__REDIS__URL="redis://127.0.0.1:$redis_port/0"
export CLEARWAY__LOG__FILTER=${CLEARWAY__LOG__FILTER:-warn}
# The generator is one address playing thousands of callers: it measures the service, not
# its limits (which cost a hash lookup per request).
export CLEARWAY__RATE_LIMITS__ENABLED=false
# The `rescreen` scenario's travel units listen on this machine.
export CLEARWAY__WEBHOOKS__ALLOWED_TARGETS=127.0.0.1
# MAIL=1: e-mail on, to a relay the generator runs; the `rescreen` scenario gives its
# travellers addresses and waits for their mail. Off by default: each change then writes no
# notice, as in a deployment without mail, and the other scenarios' figures stay comparable.
mail=()
if [ -n "${MAIL:-}" ]; then
  smtp_port=$(free_port)
  export CLEARWAY__MAIL__ENABLED=true CLEARWAY__MAIL__SMTP_HOST=127.0.0.1 \
    CLEARWAY__MAIL__SMTP_PORT=$smtp_port CLEARWAY__MAIL__TLS=none \
    CLEARWAY__MAIL__PUBLIC_URL="http://127.0.0.1:$app_port"
  mail=(--smtp-sink-port "$smtp_port")
fi
"$bin/clearway" serve --demo > "$work/clearway.log" 2>&1 &
server=$!
pids+=($server)

# Waits for the instance on port $1 to answer, and shows its log $2 if it is not ready.
ready() {
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/healthz" > /dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$1/readyz" || { cat "$2"; exit 1; }
  echo
}
ready "$app_port" "$work/clearway.log"
also=()
if [ "$INSTANCES" = 2 ]; then
  other_port=$(free_port)
  CLEARWAY__SERVER__PORT=$other_port "$bin/clearway" serve > "$work/clearway-2.log" 2>&1 &
  other=$!
  pids+=($other)
  ready "$other_port" "$work/clearway-2.log"
  also=(--also-base-url "http://127.0.0.1:$other_port" --server-pid "$other")
fi

if [ "${GENERATOR:-}" = wrk ]; then
  # An independent generator: wrk's own threads and connections, its own counting. Any answer
  # but 2xx fails the run.
  command -v wrk > /dev/null || { echo "GENERATOR=wrk needs wrk (apt-get install wrk)" >&2; exit 2; }
  seconds=${WRK_SECONDS:-$([ "$PROFILE" = short ] && echo 5 || echo 30)}
  base="http://127.0.0.1:$app_port"
  run_wrk() {
    local label=$1; shift
    wrk -t2 -c"$CONCURRENCY" -d"${seconds}s" --latency "$@" > "$work/wrk-$label.txt"
    cat "$work/wrk-$label.txt" >&2
    if grep -q "Non-2xx or 3xx responses" "$work/wrk-$label.txt"; then
      echo "wrk $label: answers other than 2xx" >&2; exit 1
    fi
    awk '/Requests\/sec/ {print $2}' "$work/wrk-$label.txt"
  }
  ceiling=$(run_wrk ceiling "$base/healthz" | tail -1)
  TOKEN=$("$bin/clearway" token --sub wrk-unit --role travel-unit --org UNICEF)
  ARRIVAL=$(date -d '+7 days' +%F) DEPARTURE=$(date -d '+10 days' +%F) VALID_UNTIL=$(date -d '+700 days' +%F)
  export TOKEN ARRIVAL DEPARTURE VALID_UNTIL
  submit=$(run_wrk submit -s loadtests/wrk/submit.lua "$base/v1/clearance-requests" | tail -1)
  if [ "$BACKEND" = postgres ]; then
    stored=$(psql "$store" -tAc "SELECT COUNT(*) FROM clearance_requests")
  else
    stored=$(python3 - "$store" <<'PY'
import sqlite3, sys
print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM clearance_requests").fetchone()[0])
PY
)
  fi
  python3 -c "import sys; c, s = float(sys.argv[1]), float(sys.argv[2]); print(f'wrk, {sys.argv[3]} connections, {sys.argv[4]} s each: ceiling {c:,.0f}/s, submit {s:,.0f}/s ({s / c:.0%} of the ceiling); requests stored: {sys.argv[5]}')" \
    "$ceiling" "$submit" "$CONCURRENCY" "$seconds" "$stored"
  exit 0
fi

"$bin/clearway-load" \
  --base-url "http://127.0.0.1:$app_port" "${also[@]}" \
  --db "$store" \
  --backend "$BACKEND" \
  --server-pid "$server" \
  --profile "$PROFILE" \
  --scenarios "$SCENARIOS" \
  --rate "$RATE" \
  --concurrency "$CONCURRENCY" "${mail[@]}" \
  ${SOAK_TOTAL:+--soak-total "$SOAK_TOTAL"} \
  --report-dir loadtests/reports
