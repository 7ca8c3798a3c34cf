#!/usr/bin/env bash
# An incident at scale (issues 30 and 32): 10,000 people with a clearance in one area today,
# each of ten organisations with a webhook for `incident.check_requested` pointing at a
# receiver this script starts; with STORED, as many requests in all, the others spread over
# the sample areas and two years around today, none in that area within the incident's
# reach. Times the crisis locator for the area, opening the incident (the roll-call and every
# ask written), the delivery of every ask to the receiver, and the board and the list of
# those not yet accounted for (the best of 5 answers).
#
#   bash loadtests/incident.sh            # the debug build; BIN=target/release/clearway to choose
#   BACKEND=postgres bash loadtests/incident.sh   # a fresh database on PG_ADMIN_URL's server
#   PEOPLE=20000 bash loadtests/incident.sh
#   STORED=1000000 BIN=target/release/clearway bash loadtests/incident.sh   # issue 32, item 4
#   KEEP_LOG=/tmp/clearway.log bash loadtests/incident.sh   # keep the server's log
#   KEEP_DB=/tmp/incident.db bash loadtests/incident.sh     # keep the SQLite file
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-target/debug/clearway}"
[ -x "$BIN" ] || cargo build -q --bin clearway
PEOPLE="${PEOPLE:-10000}"
STORED="${STORED:-$PEOPLE}"
OTHERS=$((STORED > PEOPLE ? STORED - PEOPLE : 0))
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
HOOK_PORT=$(free_port)
BACKEND="${BACKEND:-sqlite}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="clearway_incident_$$"
if [ "$BACKEND" = postgres ]; then
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $PG_DB"
  DB_URL="${PG_ADMIN_URL%/*}/$PG_DB"
else
  DB_URL="sqlite://$WORK/clearway.db"
fi
export CLEARWAY_ENV=development CLEARWAY__DATABASE__URL="$DB_URL"
export CLEARWAY__SERVER__PORT="$PORT" CLEARWAY__RATE_LIMITS__ENABLED=false CLEARWAY__LOG__FILTER="${CLEARWAY__LOG__FILTER:-warn}"
export CLEARWAY__REDIS__KEY_PREFIX="clearway-incident-$$:"
export CLEARWAY__WEBHOOKS__ALLOWED_TARGETS=127.0.0.1
SERVER=
RECEIVER=
serve() { "$BIN" serve "$@" >>"$WORK/server.log" 2>&1 & SERVER=$!; for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; cat "$WORK/server.log"; exit 1; }
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
cleanup() { stop; [ -z "${KEEP_DB:-}" ] || [ "$BACKEND" != sqlite ] || cp "$WORK/clearway.db" "$KEEP_DB" || true; [ -z "${KEEP_LOG:-}" ] || cp "$WORK/server.log" "$KEEP_LOG"; kill "$RECEIVER" 2>/dev/null || true; rm -rf "$WORK"; [ "$BACKEND" != postgres ] || psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"; }
trap cleanup EXIT

# The travel units' endpoint: counts the asks (each person once) and answers 204.
python3 - "$HOOK_PORT" > "$WORK/receiver.log" 2>&1 <<'PY' &
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen, lock = set(), threading.Lock()
class Hook(BaseHTTPRequestHandler):
    # Keep-alive, as a real endpoint would: the deliverer's connections are reused.
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            seen.add(body["person"]["entry_id"])
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        with lock:
            n = len(seen)
        body = str(n).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops the deliverer's concurrent connections (a 1 s SYN retry).
    request_queue_size = 1024
    daemon_threads = True
Server(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
RECEIVER=$!

serve --demo
ANALYST=$("$BIN" token --sub analyst --role security-analyst)
TODAY=$(date -u +%F); LATER=$(date -u -d '+5 days' +%F)
UNIT=$("$BIN" token --sub seed-desk --role travel-unit --org ORG-0)
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/clearance-requests" -H "Authorization: Bearer $UNIT" \
  -H 'Content-Type: application/json' -d '{"traveller":{"id":"t-0","name":"T Zero","org":"ORG-0","bsafe_valid_until":"2030-01-01"},
  "purpose":"Template","programme_criticality":"PC3","legs":[{"area":"CHE-GVA","arrival":"'"$TODAY"'","departure":"'"$LATER"'"}]}'
for org in $(seq 0 9); do
  UNIT=$("$BIN" token --sub "desk-$org" --role travel-unit --org "ORG-$org")
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v1/webhooks" -H "Authorization: Bearer $UNIT" -H 'Content-Type: application/json' \
    -d '{"url":"http://127.0.0.1:'"$HOOK_PORT"'/hook","events":["incident.check_requested"]}'
done
stop
# PEOPLE more, each a traveller of their own in one of ten organisations, in CHE-GVA from today.
if [ "$BACKEND" = postgres ]; then
psql -q "$DB_URL" <<SQL
BEGIN;
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT ('01000000-0000-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid, 't-' || k, 'ORG-' || (k % 10), 'seed',
       'cleared', 'PC3', r.first_arrival, r.last_departure, r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM generate_series(1, $PEOPLE) AS k, (SELECT * FROM clearance_requests WHERE submitted_by = 'seed-desk') AS r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT id, 0, 'CHE-GVA', first_arrival, last_departure FROM clearance_requests WHERE submitted_by = 'seed';
-- OTHERS more: area k modulo the areas' count (the 14 samples), arriving a day in the year before or after
-- today; in CHE-GVA never within the incident's reach (the lookback and today). One in ten
-- is pending, or expired once its day has passed (as the service's sweep leaves them).
CREATE TEMP TABLE codes AS SELECT (row_number() OVER (ORDER BY code) - 1)::int AS i, code FROM areas;
CREATE TEMP TABLE others AS
SELECT k, c.code, current_date + CASE WHEN c.code = 'CHE-GVA' AND d BETWEEN -40 AND 1 THEN d + 50 ELSE d END AS arrival
FROM generate_series(1, $OTHERS) AS k
CROSS JOIN LATERAL (SELECT (k / 14) % 730 - 365 AS d) AS o
JOIN codes c ON c.i = k % (SELECT count(*) FROM codes);
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT ('02000000-0000-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid, 'o-' || (k % 50000), 'ORG-' || (k % 10), 'other',
       CASE WHEN k % 10 = 1 THEN 'refused' WHEN k % 10 <> 0 THEN 'cleared' WHEN o.arrival > current_date THEN 'held' ELSE 'expired' END,
       'PC3', o.arrival, o.arrival + 3, r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM others o, (SELECT * FROM clearance_requests WHERE submitted_by = 'seed-desk') AS r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT ('02000000-0000-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid, 0, code, arrival, arrival + 3 FROM others;
COMMIT;
ANALYZE;
SQL
else
sqlite3 "$WORK/clearway.db" <<SQL
BEGIN;
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < $PEOPLE)
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT '01000000-0000-7000-8000-' || printf('%012x', k), 't-' || k, 'ORG-' || (k % 10), 'seed',
       'cleared', 'PC3', r.first_arrival, r.last_departure, r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM n, (SELECT * FROM clearance_requests WHERE submitted_by = 'seed-desk') r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT id, 0, 'CHE-GVA', first_arrival, last_departure FROM clearance_requests WHERE submitted_by = 'seed';
CREATE TEMP TABLE codes AS SELECT row_number() OVER (ORDER BY code) - 1 AS i, code FROM areas;
CREATE TEMP TABLE others AS
WITH RECURSIVE n(k) AS (SELECT 1 WHERE $OTHERS > 0 UNION ALL SELECT k + 1 FROM n WHERE k < $OTHERS)
SELECT k, '02000000-0000-7000-8000-' || printf('%012x', k) AS id, c.code,
       date('now', (CASE WHEN c.code = 'CHE-GVA' AND (k / 14) % 730 - 365 BETWEEN -40 AND 1
                    THEN (k / 14) % 730 - 315 ELSE (k / 14) % 730 - 365 END) || ' days') AS arrival
FROM n JOIN codes c ON c.i = k % (SELECT count(*) FROM codes);
INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality,
  first_arrival, last_departure, submitted_at, updated_at, request, decision, version)
SELECT o.id, 'o-' || (k % 50000), 'ORG-' || (k % 10), 'other',
       CASE WHEN k % 10 = 1 THEN 'refused' WHEN k % 10 <> 0 THEN 'cleared' WHEN o.arrival > date('now') THEN 'held' ELSE 'expired' END,
       'PC3', o.arrival, date(o.arrival, '+3 days'), r.submitted_at, r.updated_at, r.request, r.decision, 1
FROM others o, (SELECT * FROM clearance_requests WHERE submitted_by = 'seed-desk') r;
INSERT INTO request_legs (request_id, seq, area_code, arrival, departure)
SELECT id, 0, code, arrival, date(arrival, '+3 days') FROM others;
INSERT INTO requests_by_traveller (traveller_id, id)
SELECT traveller_id, id FROM clearance_requests WHERE submitted_by IN ('seed', 'other');
COMMIT;
SQL
fi
serve
# The best of 5 answers to a GET (further curl arguments after the address).
best() { local best=999; for _ in 1 2 3 4 5; do t=$(curl -fsS -o "$WORK/answer.json" -w "%{time_total}" -H "Authorization: Bearer $ANALYST" "$@"); best=$(python3 -c "print(min($best, $t))"); done; python3 -c "print(f'{$best * 1000:.1f} ms')"; }
LOCATOR="http://127.0.0.1:$PORT/v1/areas/CHE-GVA/personnel"
LOCATED_JSON=$(best "$LOCATOR")
LOCATED=$(python3 -c "import json; print(json.load(open('$WORK/answer.json'))['count'])")
# The seed must have put everyone there (it broke once, unnoticed, when the schema moved on).
[ "$LOCATED" -ge "$PEOPLE" ] || { echo "the locator found $LOCATED people in CHE-GVA, $PEOPLE seeded"; exit 1; }
LOCATED_CSV=$(best "$LOCATOR" -H 'Accept: text/csv')
now() { python3 -c 'import time; print(time.time())'; }
STARTED=$(now)
curl -fsS -o "$WORK/opened.json" "http://127.0.0.1:$PORT/v1/incidents" -H "Authorization: Bearer $ANALYST" \
  -H 'Content-Type: application/json' -d '{"areas":["CHE-GVA"],"started_at":"'"$(date -u +%FT%TZ)"'","description":"Load test"}'
OPENED=$(now)
ID=$(python3 -c "import json; print(json.load(open('$WORK/opened.json'))['incident']['id'])")
FOUND=$(python3 -c "import json; print(json.load(open('$WORK/opened.json'))['people'])")
until [ "$(curl -fs "http://127.0.0.1:$HOOK_PORT/")" -ge "$FOUND" ]; do
  if python3 -c "import sys; sys.exit(0 if $(now) - $STARTED < 600 else 1)"; then sleep 0.2; else echo "asks still undelivered after 600 s"; exit 1; fi
done
DELIVERED=$(now)
echo "backend: $BACKEND, binary: $BIN, $PEOPLE people seeded, $((PEOPLE + OTHERS)) requests beside the API's"
echo "| step | figure |"
echo "|---|---|"
echo "| GET /v1/areas/CHE-GVA/personnel (the crisis locator, $LOCATED people), best of 5 | $LOCATED_JSON |"
echo "| the same as CSV, best of 5 | $LOCATED_CSV |"
echo "| people found | $FOUND |"
echo "| POST /v1/incidents (roll-call and every ask written) | $(python3 -c "print(f'{($OPENED - $STARTED):.2f} s')") |"
echo "| every ask delivered to the travel units' webhook, from the POST | $(python3 -c "print(f'{($DELIVERED - $STARTED):.2f} s')") |"
echo "| GET /v1/incidents/{id} (the board), best of 5 | $(best "http://127.0.0.1:$PORT/v1/incidents/$ID") |"
echo "| GET /v1/incidents/{id}/people?state=no_answer (all $FOUND), best of 5 | $(best "http://127.0.0.1:$PORT/v1/incidents/$ID/people?state=no_answer") |"
