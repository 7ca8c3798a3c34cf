#!/usr/bin/env bash
# Schemathesis against the running service: generated requests for every operation in
# /openapi.json, once per role, failing on any 5xx, any response that breaks its documented
# schema, status or content type. Starts its own service (fresh SQLite file, its own Redis
# key prefix, a random port) with the sample areas loaded, and stops it afterwards.
#
#   bash tests/schemathesis/run.sh            # EXAMPLES=20 per operation and role
#   EXAMPLES=100 SEED=42 bash tests/schemathesis/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

EXAMPLES="${EXAMPLES:-20}"
SEED="${SEED:-$RANDOM}"
VERSION=4.32.5
VENV=target/schemathesis-venv
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
# The Prometheus project's own Python client parses /metrics afterwards.
"$VENV/bin/python" -c "import prometheus_client" 2>/dev/null \
  || "$VENV/bin/pip" install -q "prometheus-client==0.21.1"

ROOT=. source tests/support/service.sh

token() { "$BIN" token "$@"; }
# Each role reaches other operations; together they cover every one past its 401/403.
declare -A TOKENS=(
  [analyst-admin]="$(token --sub analyst-1 --role security-analyst --role admin)"
  [traveller]="$(token --sub alice --role traveller --org UNICEF)"
  [travel-unit]="$(token --sub unicef-desk --role travel-unit --org UNICEF)"
  [approvers]="$(token --sub approver-1 --role approver-hq --role approver-dg)"
)
status=0
total=0
for role in analyst-admin traveller travel-unit approvers; do
  echo "== schemathesis as $role: $EXAMPLES examples per operation, seed $SEED"
  out="$WORK/$role.txt"
  if ! EXCEPTIONS_LOG="$WORK/exceptions.txt" SCHEMATHESIS_HOOKS=hooks PYTHONPATH=tests/schemathesis \
      "$VENV/bin/st" run "$BASE/openapi.json" \
      -H "Authorization: Bearer ${TOKENS[$role]}" \
      --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance,schema_valid_input_accepted \
      --phases coverage,fuzzing -n "$EXAMPLES" --seed "$SEED" \
      --request-timeout 5 --no-color --warnings off >"$out" 2>&1; then
    status=1
    cat "$out"
  else
    grep -E "generated|passed|failed" "$out" | tail -3
  fi
  cases=$(grep -oE '[0-9]+ generated' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)
  total=$((total + cases))
done
# The schema-valid requests refused for a rule the document cannot state (hooks.py lists
# each with its reason), and how often each was met in this run.
if [ -s "$WORK/exceptions.txt" ]; then
  echo "schema-valid requests refused for a listed reason (field: count):"
  sort "$WORK/exceptions.txt" | uniq -c | sed 's/^/  /'
fi
server_log_clean || status=1
# After the run, /metrics as Prometheus reads it: the OpenMetrics parser of the Prometheus
# project's Python client, which refuses anything the format does not allow.
if ! curl -fsS -H "Authorization: Bearer ${TOKENS[analyst-admin]}" \
    "$BASE/metrics" -o "$WORK/metrics.txt" \
  || ! "$VENV/bin/python" tests/schemathesis/check_metrics.py "$WORK/metrics.txt"; then
  echo "/metrics is not valid OpenMetrics"
  status=1
fi
echo "schemathesis: $total generated cases over 4 roles, seed $SEED, exit $status"
exit $status
