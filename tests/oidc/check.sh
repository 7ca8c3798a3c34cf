#!/usr/bin/env bash
# Manual self-check of provider.mjs (not run by cargo). Needs curl, node, `npm ci` done.
set -euo pipefail
cd "$(dirname "$0")"
TMP=$(mktemp -d)
PID=

start() { # env assignments as args; sets ISS, PORT_, PID
  rm -f "$TMP/out" # else the loop below may see the previous run's line
  env "$@" node provider.mjs >"$TMP/out" 2>"$TMP/err" &
  PID=$!
  for _ in $(seq 100); do [ -s "$TMP/out" ] && break; sleep 0.1; done
  [ -s "$TMP/out" ] || { echo "provider did not start:"; cat "$TMP/err"; exit 1; }
  ISS=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).issuer' "$TMP/out")
  PORT_=${ISS##*:}
  echo "started pid=$PID stdout=$(cat "$TMP/out")"
}
stop() { kill -TERM "$PID"; wait "$PID" && echo "stopped, exit code 0"; PID=; }
trap '[ -n "$PID" ] && kill "$PID"; rm -rf "$TMP"' EXIT

token() { # client_id secret [resource] -> prints access_token (client_secret_post)
  curl -sf -X POST "$ISS/token" -d grant_type=client_credentials -d "client_id=$1" \
    -d "client_secret=$2" -d "resource=${3:-urn:clearway}" | node -p 'JSON.parse(require("fs").readFileSync(0,"utf8")).access_token'
}
decode() { node -e 'for (const p of process.argv[1].split(".").slice(0, 2)) console.log(Buffer.from(p, "base64url").toString())' "$1"; }
# Signature + iss + aud + typ check with jose (dependency of oidc-provider).
verify() {
  node --input-type=module -e '
    import { createRemoteJWKSet, jwtVerify } from "jose";
    const [iss, tok, aud] = process.argv.slice(1);
    const jwks = createRemoteJWKSet(new URL(iss + "/jwks"));
    const { protectedHeader } = await jwtVerify(tok, jwks, { issuer: iss, audience: aud, typ: "at+jwt" });
    console.log("jose verify OK, kid", protectedHeader.kid);' "$ISS" "$1" "${2:-clearway}"
}

CLIENTS='[{"client_id":"alice","client_secret":"s3cret-s3cret-s3cret","roles":["traveller"],"org":"UNICEF"},{"client_id":"bob","client_secret":"bob-secret-bob-secret","roles":[]}]'

echo "== RS256 default"; start PORT=0 CLIENTS="$CLIENTS"
curl -sf "$ISS/.well-known/openid-configuration" | node -p 'const d=JSON.parse(require("fs").readFileSync(0,"utf8")); JSON.stringify({issuer:d.issuer,jwks_uri:d.jwks_uri,token_endpoint:d.token_endpoint})'
curl -sf "$ISS/jwks"; echo
T=$(token alice s3cret-s3cret-s3cret); decode "$T"; verify "$T"
echo "-- bob via client_secret_basic (no org, empty roles)"
T=$(curl -sf -X POST "$ISS/token" -u bob:bob-secret-bob-secret -d grant_type=client_credentials -d resource=urn:clearway \
  | node -p 'JSON.parse(require("fs").readFileSync(0,"utf8")).access_token'); decode "$T"
echo "-- no resource parameter (defaultResource)"; decode "$(curl -sf -X POST "$ISS/token" -u bob:bob-secret-bob-secret -d grant_type=client_credentials | node -p 'JSON.parse(require("fs").readFileSync(0,"utf8")).access_token')" | tail -1
echo "-- other resource => aud is that URI"; T=$(token alice s3cret-s3cret-s3cret https://other.example/); decode "$T" | tail -1
echo "-- wrong secret"; curl -s -X POST "$ISS/token" -d grant_type=client_credentials -d client_id=alice -d client_secret=nope -w ' HTTP %{http_code}\n'
echo "-- rotate"; OLD=$T; curl -sf -X POST "$ISS/__test/rotate"; echo
T=$(token alice s3cret-s3cret-s3cret); decode "$T" | head -1; verify "$T"
echo -n "old token still verifies: "; verify "$OLD" https://other.example/
curl -sf "$ISS/jwks" | node -p 'JSON.parse(require("fs").readFileSync(0,"utf8")).keys.map(k=>k.kid).join(" ")'
echo "-- retire-old"; curl -sf -X POST "$ISS/__test/retire-old"; echo
curl -sf "$ISS/jwks" | node -p 'JSON.parse(require("fs").readFileSync(0,"utf8")).keys.map(k=>k.kid).join(" ")'
echo -n "old token after retire-old: "
if verify "$OLD" https://other.example/ 2>"$TMP/verr"; then echo "unexpectedly verified"; exit 1; fi
grep -o 'JWKSNoMatchingKey' "$TMP/verr" | head -1
echo "stdout lines so far: $(wc -l <"$TMP/out")"; echo "provider stderr:"; sed 's/^/  | /' "$TMP/err"
OLDPORT=$PORT_; stop

echo "== restart on the same port $OLDPORT, ROLES_CLAIM=groups, ALG=ES256, KEYS_FILE"
start PORT="$OLDPORT" CLIENTS="$CLIENTS" ROLES_CLAIM=groups ALG=ES256 KEYS_FILE="$TMP/keys.json"
T=$(token alice s3cret-s3cret-s3cret); decode "$T"; verify "$T"; KID1=$(decode "$T" | head -1)
stop; start PORT="$OLDPORT" CLIENTS="$CLIENTS" ROLES_CLAIM=groups ALG=ES256 KEYS_FILE="$TMP/keys.json"
echo "kid after restart with same KEYS_FILE: $(decode "$(token alice s3cret-s3cret-s3cret)" | head -1) (before: $KID1)"
stop
