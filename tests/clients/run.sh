#!/usr/bin/env bash
# Generated clients, as integrators make them from the running service's /openapi.json:
#  - TypeScript types (openapi-typescript), then `tsc --strict` over a program that uses them;
#  - a Python client (openapi-python-client), then a travel unit's whole integration through
#    it alone (scenario.py), its webhooks verified with PyPI's `standardwebhooks`.
# A repeated operationId, a wrong type or an undeclared answer fails here. Starts its own
# service (fresh SQLite file, its own Redis key prefix, a random port) and stops it after.
set -euo pipefail
cd "$(dirname "$0")"
PY_GENERATOR=0.29.1
PY_WEBHOOKS=1.3.0
VENV=../../target/clients-venv

npm ci --no-audit --no-fund --loglevel=error
if ! "$VENV/bin/pip" freeze 2>/dev/null | grep -q "openapi-python-client==$PY_GENERATOR"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "openapi-python-client==$PY_GENERATOR" "standardwebhooks==$PY_WEBHOOKS"
fi
# The scenario's webhook receiver listens on loopback, which webhooks may not reach unless
# the operator allows it.
export CLEARWAY__WEBHOOKS__ALLOWED_TARGETS="127.0.0.1/32"
export CLEARWAY__WEBHOOKS__POLL_INTERVAL_MS=100
ROOT=../.. source ../support/service.sh

rm -rf generated && mkdir -p generated/python
curl -fsS "$BASE/openapi.json" -o generated/openapi.json

echo "== openapi-typescript, tsc --strict"
npx --no-install openapi-typescript generated/openapi.json -o generated/schema.d.ts
npx --no-install tsc -p tsconfig.json
count=$(node -e 'const d = require("./generated/openapi.json");
  console.log(Object.values(d.paths).reduce((n, item) => n + Object.keys(item).length, 0))')
echo "TypeScript types of $count operations; program.ts compiles under tsc --strict"

echo "== openapi-python-client $PY_GENERATOR, then the travel unit's scenario"
# Any warning means part of the document was not understood: fail on it.
"$VENV/bin/openapi-python-client" generate --path generated/openapi.json \
  --config python-client.yaml --meta none --output-path generated/python/clearway_client \
  > generated/python-generator.log 2>&1 || { cat generated/python-generator.log; exit 1; }
if grep -q "Warning" generated/python-generator.log; then
  cat generated/python-generator.log
  exit 1
fi
CLEARWAY_URL="$BASE" \
CLEARWAY_TOKEN="$("$BIN" token --sub unicef-desk --role travel-unit --org UNICEF)" \
CLEARWAY_OTHER_TOKEN="$("$BIN" token --sub wfp-desk --role travel-unit --org WFP)" \
PYTHONPATH=generated/python "$VENV/bin/python" scenario.py
server_log_clean
