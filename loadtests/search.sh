#!/usr/bin/env bash
# Searching the request list at scale (issue 28): a fresh SQLite store with one request
# submitted through the API and 100,000 more written beside it by the sqlite3 shell (3
# organisations, 1,000 travellers, the 14 sample areas, a year of dates; 1 in 10 held), then
# each search the page offers, as a travel unit and as an admin, and the headcounts of every
# area on a day: the best of 5 answers.
#
#   bash loadtests/search.sh            # the debug build; BIN=target/release/clearway to choose
#   BACKEND=postgres bash loadtests/search.sh   # a fresh database on PG_ADMIN_URL's server
#   ROWS=5000 bash loadtests/search.sh          # fewer requests written beside it
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-target/debug/clearway}"
[ -x "$BIN" ] || cargo build -q --bin clearway
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BACKEND="${BACKEND:-sqlite}"
ROWS="${ROWS:-100000}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="clearway_search_$$"
if [ "$BACKEND" = postgres ]; then
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DB"
  DB_URL="${PG_ADMIN_URL%/*}/$PG_DB"
else
  DB_URL="sqlite://$WORK/clearway.db"
fi
export CLEARWAY_ENV=development CLEARWAY__DATABASE__URL="$DB_URL"
export CLEARWAY__SERVER__PORT="$PORT" CLEARWAY__RATE_LIMITS__ENABLED=false CLEARWAY__LOG__FILTER=warn
export CLEARWAY__REDIS__KEY_PREFIX="clearway-search-$$:"
SERVER=
serve() { "$BIN" serve "$@" >>"$WORK/server.log" 2>&1 & SERVER=$!; for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; cat "$WORK/server.log"; exit 1; }
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
cleanup() { stop; rm -rf "$WORK"; [ "$BACKEND" != postgres ] || psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"; }
trap cleanup EXIT

serve --demo
UNIT=$("$BIN" token --sub unicef-desk --role travel-unit --org UNICEF)
ADMIN=$("$BIN" token --sub root --role admin)
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/clearance-requests" -H "Authorization: Bearer $UNIT" \
  -H 'Content-Type: application/json' -d '{"traveller":{"id":"t-1","name":"T One","org":"UNICEF","bsafe_valid_until":"2030-01-01"},
  "purpose":"Template","programme_criticality":"PC3","legs":[{"area":"CHE-GVA","arrival":"'"$(date -d '+3 days' +%F)"'","departure":"'"$(date -d '+5 days' +%F)"'"}]}'
stop
if [ "$BACKEND" = postgres ]; then
psql -q "$DB_URL" <<SQL
BEGIN;
CREATE TEMP TABLE codes AS SELECT (row_number() OVER (ORDER BY code) - 1)::int AS i, code FROM areas;
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT ('01000000-0000-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid, 't-' || (k % 1000),
       CASE k % 3 WHEN 0 THEN 'UNICEF' WHEN 1 THEN 'WFP' ELSE 'UNHCR' END, 'seed',
       CASE WHEN k % 10 = 0 THEN 'held' ELSE 'cleared' END, 'PC3',
       current_date + (k % 365), current_date + (k % 365 + 3),
       r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM generate_series(1, $ROWS) AS k, (SELECT * FROM clearance_requests WHERE submitted_by = 'unicef-desk') AS r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT c.id, 0, codes.code, c.first_arrival, c.last_departure
FROM clearance_requests c JOIN codes ON codes.i = ('x' || substr(replace(c.id::text, '-', ''), 21))::bit(48)::bigint % 14
WHERE c.submitted_by = 'seed';
COMMIT;
ANALYZE;
SQL
else
sqlite3 "$WORK/clearway.db" <<SQL
BEGIN;
CREATE TEMP TABLE codes AS SELECT row_number() OVER (ORDER BY code) - 1 AS i, code FROM areas;
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < $ROWS)
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT '01000000-0000-7000-8000-' || printf('%012x', k), 't-' || (k % 1000),
       CASE k % 3 WHEN 0 THEN 'UNICEF' WHEN 1 THEN 'WFP' ELSE 'UNHCR' END, 'seed',
       CASE WHEN k % 10 = 0 THEN 'held' ELSE 'cleared' END, 'PC3',
       date('now', '+' || (k % 365) || ' days'), date('now', '+' || (k % 365 + 3) || ' days'),
       r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM n, (SELECT * FROM clearance_requests WHERE submitted_by = 'unicef-desk') r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT id, 0, (SELECT code FROM codes WHERE i = (CAST(substr(id, 25) AS INTEGER) % 14)), first_arrival, last_departure
FROM clearance_requests WHERE submitted_by = 'seed';
INSERT INTO requests_by_traveller (traveller_id, id)
SELECT traveller_id, id FROM clearance_requests WHERE submitted_by = 'seed';
COMMIT;
SQL
fi
serve
FROM=$(date -d '+100 days' +%F); UNTIL=$(date -d '+110 days' +%F)
echo "| search (limit=50) | travel unit | admin |"
echo "|---|---|---|"
for q in "" "status=held" "traveller=t-7" "area=SOM-MOG" "area=SOM-MOG&travel_from=$FROM&travel_until=$UNTIL" \
         "travel_from=$FROM&travel_until=$UNTIL" "status=held&area=KEN-NBO"; do
  row="| \`${q:-(none)}\` |"
  for token in "$UNIT" "$ADMIN"; do
    best=999
    for _ in 1 2 3 4 5; do
      t=$(curl -fsS -o "$WORK/page.json" -w "%{time_total}" "http://127.0.0.1:$PORT/v1/clearance-requests?limit=50&$q" -H "Authorization: Bearer $token")
      best=$(python3 -c "print(min($best, $t))")
    done
    items=$(python3 -c "import json; print(len(json.load(open('$WORK/page.json'))['items']))")
    row="$row $(python3 -c "print(f'{$best * 1000:.1f} ms')") ($items) |"
  done
  echo "$row"
done
# The map's and the overview's read: people in every area on a day, each once (admin).
best=999
for _ in 1 2 3 4 5; do
  t=$(curl -fsS -o "$WORK/counts.json" -w "%{time_total}" "http://127.0.0.1:$PORT/v1/headcounts?on=$FROM" -H "Authorization: Bearer $ADMIN")
  best=$(python3 -c "print(min($best, $t))")
done
echo
echo "GET /v1/headcounts?on=+100 days: $(python3 -c "print(f'{$best * 1000:.1f} ms')"), $(python3 -c "import json; print(json.load(open('$WORK/counts.json'))['total'])") people in 14 areas"
