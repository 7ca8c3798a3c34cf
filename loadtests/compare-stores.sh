#!/usr/bin/env bash
# PostgreSQL beside SQLite on this machine (issue 32, item 2): the short ceiling, submit and
# fixed-rate scenarios of run.sh on SQLite, on PostgreSQL, and on two instances sharing one
# PostgreSQL database, in one session; then, with PIN=1, the same again with PostgreSQL's
# processes on core 1 and the service and the generator on core 0 (the database on a
# machine of its own, in miniature; needs root and 2 cores or more, and puts PostgreSQL back on
# every core after).
#
#   SKIP_BUILD=1 bash loadtests/compare-stores.sh
#   PIN=1 SKIP_BUILD=1 bash loadtests/compare-stores.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bins --workspace
export SKIP_BUILD=1 SCENARIOS=ceiling,submit,fixed-rate PROFILE=short
# Eight connections per instance, four of them committing new requests: fewer groups at
# once make larger groups (run.sh's default of 16 was slower here).
export PG_CONNECTIONS=${PG_CONNECTIONS:-8}
out=$(mktemp)
all_cores="0-$(($(nproc) - 1))"
# Every PostgreSQL process on the cores given (one may exit meanwhile: a backend, autovacuum).
place_postgres() { for p in $(pgrep -u postgres); do taskset -a -p -c "$1" "$p" > /dev/null 2>&1 || true; done; }
trap 'rm -f "$out"; [ -z "${PIN:-}" ] || place_postgres "$all_cores"' EXIT

field() { awk -v s="$1" -v col="$2" '$1 == s { print $col }' "$out"; }
run() {
  local label=$1; shift
  "$@" bash loadtests/run.sh > "$out" 2>&1 || { cat "$out"; exit 1; }
  local lost
  lost=$(awk '/^verification:/ { print $2 " acknowledged, " $10 " lost" }' "$out")
  echo "| $label | $(field ceiling 8) | $(field submit 8) | $(field fixed-rate 15) ms | $lost |"
}
echo "| placement, store | ceiling | submit | fixed 2,000/s p99 | verification |"
echo "|---|---|---|---|---|"
run "shared, SQLite" env
run "shared, PostgreSQL" env BACKEND=postgres
run "shared, PostgreSQL, 2 instances" env BACKEND=postgres INSTANCES=2
if [ -n "${PIN:-}" ]; then
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs two cores" >&2; exit 2; }
  place_postgres 1
  run "pinned, SQLite" taskset -c 0 env
  run "pinned, PostgreSQL" taskset -c 0 env BACKEND=postgres
  run "pinned, PostgreSQL, 2 instances" taskset -c 0 env BACKEND=postgres INSTANCES=2
fi
