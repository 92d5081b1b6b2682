// An issuer whose discovery document or JWKS turns hostile: the key refresh must end, and the
// gateway learn a new key once the issuer behaves again, whatever was sent meanwhile.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import pino from 'pino';
import { createAuthenticator, type IdentityConfig } from '../../src/identity/index.js';
import { within } from '../helpers/poll.js';
import { refusal } from '../helpers/refusal.js';
import { neverEnd } from '../helpers/never-ending.js';

// undici #4068: AbortSignal.timeout() stops reaching fetch's body once a garbage collection ran.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Mode = 'good' | 'trickle' | 'endless' | 'padded';
interface Key { kid: string; priv: CryptoKey; jwk: JWK }
async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

let published: Key[] = [];
const modes = { discovery: 'good' as Mode, keys: 'good' as Mode };
const open = new Set<ServerResponse>();

function hostile(res: ServerResponse, mode: Mode, good: string): void {
  if (mode === 'good' || mode === 'padded') {
    // Padded: a well-formed document of 8 KiB and more, as an issuer with many keys sends.
    res.writeHead(200, { 'content-type': 'application/json' }).end(mode === 'padded' ? `${good}${' '.repeat(8192)}` : good);
    return;
  }
  neverEnd(res, mode, { status: 200, headers: { 'content-type': 'application/json' }, first: good.slice(0, 10), open });
}

const server = createServer((req, res) => {
  if (req.url === '/.well-known/openid-configuration') hostile(res, modes.discovery, JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
  else if (req.url === '/keys') hostile(res, modes.keys, JSON.stringify({ keys: published.map((k) => k.jwk) }));
  else res.writeHead(404).end();
});
let issuer = '';
t.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => { r(); }); }));

function config(discovery: boolean, limits: { jwks_fetch_timeout_ms?: number; jwks_fetch_max_bytes?: number } = {}): IdentityConfig {
  return {
    jwt: {
      issuer, audience: 'jitgate-api', algorithms: ['ES256'], ...(discovery ? { discovery: true } : { jwks_url: `${issuer}/keys` }),
      clock_skew_seconds: 0, groups_claim: 'roles', subject_claim: 'sub',
      jwks_refresh_min_interval_seconds: 0, jwks_max_age_seconds: 0, token_cache_size: 100, jwks_fetch_timeout_ms: 5000, jwks_fetch_max_bytes: 4194304,
      ...limits,
    },
    api_keys: [], client_certificates: [], dev_issuer: { enabled: false, token_ttl_seconds: 3600, subjects: {} },
  };
}

function sign(key: Key): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['eng'], iss: issuer, aud: 'jitgate-api', sub: 'alice', iat: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(key.priv);
}

for (const [what, part, discovery] of [
  ['a JWKS that sends its head, then a byte a second', 'keys', false],
  ['a JWKS without end', 'keys', false],
  ['a discovery document without end', 'discovery', true],
] as const) {
  t.test(`${what}: the refresh ends, its new key is refused meanwhile and learnt once the issuer behaves`, async (t) => {
    const k1 = await newKey('k1');
    const k2 = await newKey('k2');
    published = [k1];
    modes.discovery = 'good';
    modes.keys = 'good';
    const auth = createAuthenticator(config(discovery), { logger: pino({ level: 'silent' }) });
    await auth.start();
    t.teardown(() => { auth.stop(); });
    published = [k1, k2];
    modes[part] = what.includes('byte a second') ? 'trickle' : 'endless';
    const collecting = setInterval(gc, 200);
    t.teardown(() => { clearInterval(collecting); });
    t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(k2)}` })), 'JITGATE_E_TOKEN_INVALID',
      'a token under the new kid is refused (the refresh failed), not left waiting');
    clearInterval(collecting);
    t.ok(await within(() => open.size === 0), 'the hostile answer\'s connection is closed');
    modes[part] = 'good';
    t.equal((await auth.authenticate({ authorization: `Bearer ${await sign(k2)}` })).id, 'alice', 'the issuer answers again: the new key is learnt');
  });
}

t.test('the fetch bounds are the issuer\'s settings: jwks_fetch_max_bytes and jwks_fetch_timeout_ms', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const logger = pino({ level: 'silent' });
  const started = async (discovery: boolean, limits: Parameters<typeof config>[1]): Promise<string> => {
    const auth = createAuthenticator(config(discovery, limits), { logger });
    t.teardown(() => { auth.stop(); });
    try {
      await auth.start({ keysRequired: true });
      return 'loaded';
    } catch (err) {
      return (err as Error).message;
    }
  };
  modes.discovery = 'good';
  modes.keys = 'padded';
  t.equal(await started(false, {}), 'loaded', 'a JWKS of 8 KiB is within the default 4 MiB');
  t.match(await started(false, { jwks_fetch_max_bytes: 4096 }), /keys: .*(more than 4096 bytes|an answer of \d+ bytes)/, 'with jwks_fetch_max_bytes: 4096 it is refused');
  modes.keys = 'good';
  modes.discovery = 'padded';
  t.match(await started(true, { jwks_fetch_max_bytes: 4096 }), /openid-configuration: .*(more than 4096 bytes|an answer of \d+ bytes)/, 'so is a discovery document');
  modes.discovery = 'good';
  modes.keys = 'trickle';
  t.match(await started(false, { jwks_fetch_timeout_ms: 300 }), /no complete answer within 0\.3 s/, 'jwks_fetch_timeout_ms bounds the fetch');
  modes.keys = 'good';
  t.ok(await within(() => open.size === 0), 'the trickling answer\'s connection is closed');
});
