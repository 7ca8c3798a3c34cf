#!/usr/bin/env bash
# The linters integrators and API reviewers run on /openapi.json, as they run them: Spectral
# with its OpenAPI ruleset, Redocly with its recommended one, and Spectral with the OWASP
# API Security Top 10 ruleset (owasp.yaml says which of its rules are narrowed and why).
# Any error fails; warnings are printed as a count.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
mkdir -p generated
(cd ../.. && cargo build -q --bin clearway)
CLEARWAY_CONFIG_DIR=../../config CLEARWAY_ENV=development ../../target/debug/clearway openapi \
  > generated/openapi.json
status=0
for ruleset in oas.yaml owasp.yaml; do
  echo "== spectral lint -r $ruleset"
  if ! npx --no-install spectral lint -D -r "$ruleset" --fail-severity error \
      generated/openapi.json; then
    status=1
  fi
  npx --no-install spectral lint -r "$ruleset" -f json generated/openapi.json 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);
        const n=(v)=>r.filter(x=>x.severity===v).length;
        console.log(`errors ${n(0)}, warnings ${n(1)}`)})' || true
done
echo "== redocly lint (recommended)"
if ! npx --no-install redocly lint --config redocly.yaml --format summary generated/openapi.json; then
  status=1
fi
exit $status
