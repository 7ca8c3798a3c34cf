// Test OpenID Provider for clearway's Rust integration tests.
// Wraps the certified `oidc-provider` package; see README.md for the env contract.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { SignJWT, importJWK } from 'jose';

// oidc-provider prints notices with console.info (stdout); stdout is reserved for the ready line.
console.info = console.log = console.error;

const { default: Provider } = await import('oidc-provider');

const env = process.env;
const PORT = Number(env.PORT ?? 0);
const AUDIENCE = env.AUDIENCE || 'clearway';
const RESOURCE = env.RESOURCE || 'urn:clearway';
const ALG = env.ALG || 'RS256';
const ROLES_CLAIM = env.ROLES_CLAIM || 'roles';
const TTL_SECS = Number(env.TTL_SECS || 300);
const KEYS_FILE = env.KEYS_FILE; // optional: keep signing keys across restarts
const CLIENTS = JSON.parse(env.CLIENTS || '[{"client_id":"alice","client_secret":"s3cret-s3cret-s3cret","roles":["traveller"],"org":"UNICEF"}]');

if (!['RS256', 'ES256'].includes(ALG)) throw new Error(`ALG must be RS256 or ES256, got ${ALG}`);

// Private JWKs, newest first: oidc-provider signs with the first key matching the alg.
let keys = KEYS_FILE && existsSync(KEYS_FILE) ? JSON.parse(readFileSync(KEYS_FILE, 'utf8')) : [];
let keyCounter = keys.length;

function newKey() {
  const { privateKey } = ALG === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyCounter += 1;
  // Random suffix: a restarted IdP must not reuse a kid for different key material.
  const kid = `k${keyCounter}-${randomBytes(4).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: ALG };
}

function saveKeys() {
  if (KEYS_FILE) writeFileSync(KEYS_FILE, JSON.stringify(keys));
}

const clientsById = new Map(CLIENTS.map((c) => [c.client_id, c]));

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    // Only the registration fields oidc-provider knows; roles/org are ours.
    clients: CLIENTS.map(({ client_id, client_secret }) => ({
      client_id,
      client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // Secret clients may use client_secret_basic or client_secret_post interchangeably.
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: structuredClone(keys) },
    // Client validation insists the id_token alg has a key, even though we never issue id_tokens.
    clientDefaults: { id_token_signed_response_alg: keys[0].alg },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter still yields a JWT for RESOURCE.
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        // Any other absolute URI is accepted with aud = that URI (handy for wrong-audience tests).
        getResourceServerInfo: (_ctx, resource) => ({
          scope: '',
          audience: resource === RESOURCE ? AUDIENCE : resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: TTL_SECS,
          jwt: { sign: { alg: keys[0].alg } },
        }),
      },
    },
    ttl: { ClientCredentials: TTL_SECS },
    extraTokenClaims: (_ctx, token) => {
      const c = clientsById.get(token.clientId);
      if (!c) return undefined;
      const claims = {};
      if (c.roles !== undefined) claims[ROLES_CLAIM] = c.roles;
      if (c.org !== undefined) claims.org = c.org;
      return claims;
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  return provider;
}

let issuer;
let handler = (_req, res) => { res.writeHead(503).end(); }; // until listening

// Key changes rebuild the Provider and swap the handler; in-flight requests finish on the old one.
function reload() {
  saveKeys();
  handler = buildProvider(issuer).callback();
}

// Signs whatever claims it is sent with the current key: what a rogue administrator of this
// provider could do, for tests that check whose word the service takes.
async function sign(req, res) {
  let text = '';
  for await (const chunk of req) text += chunk;
  const { d, ...pub } = keys[0];
  const key = await importJWK({ ...pub, d }, keys[0].alg);
  const token = await new SignJWT(JSON.parse(text))
    .setProtectedHeader({ alg: keys[0].alg, kid: keys[0].kid, typ: 'at+jwt' })
    .sign(key);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ token }));
}

function admin(req, res) {
  const route = req.url.split('?')[0];
  if (route === '/__test/sign' && req.method === 'POST') {
    sign(req, res).catch((err) => { console.error(err); res.writeHead(500).end(); });
    return;
  }
  if (route !== '/__test/kids') {
    if (req.method !== 'POST') return res.writeHead(405).end();
    if (route === '/__test/rotate') keys = [newKey(), ...keys];
    else if (route === '/__test/retire-old') keys = keys.slice(0, 1);
    else return res.writeHead(404).end();
    reload();
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kids: keys.map((k) => k.kid), jwks_requests: jwksRequests }));
}

// How often the key set was fetched: the tests check that unknown `kid`s do not hammer it.
let jwksRequests = 0;

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/__test/')) return admin(req, res);
  if (req.url.split('?')[0] === '/jwks') jwksRequests += 1;
  return handler(req, res);
});

server.on('error', (err) => { // e.g. EADDRINUSE: exit without a ready line
  console.error(`listen failed: ${err.message}`);
  process.exit(1);
});

server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  if (keys.length === 0) keys = [newKey()];
  reload();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
  console.error(`oidc test provider ready at ${issuer}, kids=${keys.map((k) => k.kid).join(',')}`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // keep-alive sockets would otherwise delay close
  // A connection closeAllConnections does not know of (one still being accepted) would keep
  // close() waiting: a test stopping the provider must not wait for it.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
