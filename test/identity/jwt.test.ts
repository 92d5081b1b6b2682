// JWT verification against a real JWKS server on loopback: discovery, rotation, the bound on
// refreshes, the verified-token cache and when its entries die.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import t from 'tap';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import pino from 'pino';
import { createAuthenticator, identityReadiness, ReloadableAuthenticator, type IdentityConfig, type JwtConfig } from '../../src/identity/index.js';
import { refusal } from '../helpers/refusal.js';
import { NO_GRANTS } from '../../src/policy/index.js';
import { samplePolicy } from '../proxy/fixtures.js';

const logger = pino({ level: 'silent' });

interface Key { kid: string; priv: CryptoKey; jwk: JWK }
async function newKey(kid: string, alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let server: Server;
let issuer: string;
let published: Key[] = [];
let jwksFetches = 0;

t.before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
      return;
    }
    if (req.url === '/keys') {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => { r(); }); }));

function jwtConfig(over: Partial<JwtConfig> = {}): IdentityConfig {
  return {
    jwt: {
      issuer, audience: 'jitgate-api', algorithms: ['ES256'], jwks_url: `${issuer}/keys`,
      clock_skew_seconds: 0, groups_claim: 'roles', subject_claim: 'sub',
      jwks_refresh_min_interval_seconds: 0, jwks_max_age_seconds: 0, token_cache_size: 100, jwks_fetch_timeout_ms: 5000, jwks_fetch_max_bytes: 4194304,
      ...over,
    },
    api_keys: [],
    client_certificates: [],
    dev_issuer: { enabled: false, token_ttl_seconds: 3600, subjects: {} },
  };
}

function sign(key: Key, claims: Record<string, unknown> = {}, alg = 'ES256', expIn = 600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['eng'], iss: issuer, aud: 'jitgate-api', sub: 'alice', iat: now, exp: now + expIn, ...claims })
    .setProtectedHeader({ alg, kid: key.kid })
    .sign(key.priv);
}

t.test('a valid token becomes a user subject with groups from the configured claim', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const subject = await auth.authenticate({ authorization: `Bearer ${await sign(k1)}` });
  t.same({ id: subject.id, kind: subject.kind, groups: subject.groups }, { id: 'alice', kind: 'user', groups: ['eng'] });
  t.equal(subject.claims.iss, issuer);
});

t.test('OIDC discovery finds the JWKS', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const cfg = jwtConfig();
  delete cfg.jwt!.jwks_url;
  cfg.jwt!.discovery = true;
  const auth = createAuthenticator(cfg, { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  t.equal((await auth.authenticate({ authorization: `Bearer ${await sign(k1)}` })).id, 'alice');
});

t.test('refused: wrong issuer, audience, algorithm, expired, not yet valid, alg none, HS256 with the public key, control, invisible or bidi characters in sub or groups', async (t) => {
  const k1 = await newKey('k1');
  const es384 = await newKey('k384', 'ES384');
  published = [k1, es384];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = { sub: 'alice', iss: issuer, aud: 'jitgate-api', exp: now + 600, roles: ['admins'] };
  const hsInput = `${b64({ alg: 'HS256', kid: 'k1' })}.${b64(body)}`;
  const cases: [string, string, string][] = [
    ['wrong issuer', await new SignJWT(body).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://other.example').sign(k1.priv), 'JITGATE_E_TOKEN_INVALID'],
    ['wrong audience', await sign(k1, { aud: 'other' }), 'JITGATE_E_TOKEN_INVALID'],
    ['algorithm not allowed', await sign(es384, {}, 'ES384'), 'JITGATE_E_TOKEN_INVALID'],
    ['expired', await sign(k1, {}, 'ES256', -60), 'JITGATE_E_TOKEN_EXPIRED'],
    ['not yet valid', await sign(k1, { nbf: now + 600 }), 'JITGATE_E_TOKEN_INVALID'],
    ['alg none', `${b64({ alg: 'none' })}.${b64(body)}.`, 'JITGATE_E_TOKEN_INVALID'],
    ['HS256 with the public JWK', `${hsInput}.${createHmac('sha256', JSON.stringify(k1.jwk)).update(hsInput).digest('base64url')}`, 'JITGATE_E_TOKEN_INVALID'],
    ['sub missing', await new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience('jitgate-api').setExpirationTime('10m').sign(k1.priv), 'JITGATE_E_TOKEN_INVALID'],
    ['groups claim malformed', await sign(k1, { roles: [1, 2] }), 'JITGATE_E_TOKEN_INVALID'],
    // NUL cannot be stored in the audit trail (PostgreSQL text); control characters are never a name.
    ['sub with a NUL', await sign(k1, { sub: 'eve\u0000' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a line break', await sign(k1, { sub: 'eve\nalice' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a DEL', await sign(k1, { sub: 'eve\u007f' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a C1 NEL', await sign(k1, { sub: 'eve\u0085alice' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a C1 CSI', await sign(k1, { sub: 'eve\u009b2J' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a LINE SEPARATOR', await sign(k1, { sub: 'eve\u2028alice' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a PARAGRAPH SEPARATOR', await sign(k1, { sub: 'eve\u2029alice' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with half a surrogate pair', await sign(k1, { sub: 'eve\ud800' }), 'JITGATE_E_TOKEN_INVALID'],
    // Shown as nothing, or reordering what follows: `alice\u200b` reads as alice and is someone else.
    ['sub with a ZERO WIDTH SPACE', await sign(k1, { sub: 'alice\u200b' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a RIGHT-TO-LEFT OVERRIDE', await sign(k1, { sub: '\u202eecila' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a SOFT HYPHEN', await sign(k1, { sub: 'ali\u00adce' }), 'JITGATE_E_TOKEN_INVALID'],
    ['sub with a variation selector', await sign(k1, { sub: 'alice\u{e0100}' }), 'JITGATE_E_TOKEN_INVALID'],
    ['a group with a ZERO WIDTH JOINER', await sign(k1, { roles: ['eng', 'admins\u200d'] }), 'JITGATE_E_TOKEN_INVALID'],
    ['a group with a control character', await sign(k1, { roles: 'eng admins\u0007' }), 'JITGATE_E_TOKEN_INVALID'],
  ];
  for (const [name, token, code] of cases) t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${token}` })), code, name);
  for (const sub of ['zoë', 'ali\u00a0ce', 'مريم', 'ﬁona']) t.equal((await auth.authenticate({ authorization: `Bearer ${await sign(k1, { sub })}` })).id, sub, `${sub}: a name, accepted`);
  // The string form is split on the ASCII space only: other white space is part of a name.
  const groupsOf = async (roles: string): Promise<readonly string[]> => (await auth.authenticate({ authorization: `Bearer ${await sign(k1, { roles })}` })).groups;
  t.same(await groupsOf(' eng  oncall '), ['eng', 'oncall'], 'names joined by ASCII spaces');
  t.same(await groupsOf('eng\u00a0admins'), ['eng\u00a0admins'], 'a NO-BREAK SPACE joins no names: one name that is not admins');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(k1, { roles: 'eng\ufeffadmins' })}` })), 'JITGATE_E_TOKEN_INVALID', 'a BOM joins no names: one name holding it, refused');
});

t.test('a lone surrogate in other claims becomes U+FFFD, as OPA reads it, so the policy can still decide', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const token = await sign(k1, { note: 'x\ud800y', roles: ['eng\udc00'], nested: { ['k\udbff']: ['\udfff'] }, pair: '\ud83d\ude00' });
  const subject = await auth.authenticate({ authorization: `Bearer ${token}` });
  t.equal(subject.claims.note, 'x\ufffdy');
  t.same(subject.groups, ['eng\ufffd']);
  t.same(subject.claims.nested, { 'k\ufffd': ['\ufffd'] }, 'keys and nested values too');
  t.equal(subject.claims.pair, '\ud83d\ude00', 'a whole pair is left as it is');
  const engine = await samplePolicy();
  const decision = engine.authorize({
    request: { method: 'GET', path: '/api/items', segments: ['api', 'items'], query: {}, headers: {}, host: 'gw', client_ip: '127.0.0.1' },
    subject, grants: NO_GRANTS, route: { name: 'demo', upstream: 'http://upstream', credentials: ['readonly'] }, now_ns: Date.now() * 1e6,
  });
  t.equal(typeof decision.result.allow, 'boolean', `the policy decides (${String(decision.result.reason)})`);
});

t.test('a configured PEM public key; HS256 signed with that PEM is refused', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const dir = mkdtempSync(join(tmpdir(), 'jg-pem-'));
  writeFileSync(join(dir, 'key.pem'), pem);
  const cfg = jwtConfig({ algorithms: ['RS256'], public_key_file: join(dir, 'key.pem') });
  delete cfg.jwt!.jwks_url;
  const auth = createAuthenticator(cfg, { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const good = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(issuer).setAudience('jitgate-api').setSubject('bob').setExpirationTime('5m').sign(privateKey);
  t.equal((await auth.authenticate({ authorization: `Bearer ${good}` })).id, 'bob');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256' })}.${b64({ sub: 'bob', iss: issuer, aud: 'jitgate-api', exp: Math.floor(Date.now() / 1000) + 300 })}`;
  const forged = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${forged}` })), 'JITGATE_E_TOKEN_INVALID');
});

t.test('no keys to verify against: the gateway is unavailable (503), the token not blamed unless its exp is past (401); a bad token under loaded keys stays 401', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const es384 = await newKey('k384', 'ES384');
  const token = await sign(k1);
  const dir = mkdtempSync(join(tmpdir(), 'jg-nokeys-'));
  for (const [what, over] of [
    ['a JWKS URL that never answers with keys', { jwks_url: `${issuer}/down` }],
    ['an unreadable JWKS file', { jwks_file: join(dir, 'missing.json') }],
  ] as const) {
    const cfg = jwtConfig({ ...over, clock_skew_seconds: 30 });
    if ('jwks_file' in over) delete cfg.jwt!.jwks_url;
    const auth = createAuthenticator(cfg, { logger });
    await auth.start();
    t.teardown(() => { auth.stop(); });
    const err = await auth.authenticate({ authorization: `Bearer ${token}` }).then(() => null, (e: unknown) => e as { code?: string; status?: number });
    t.equal(err?.code, 'JITGATE_E_KEYS_UNAVAILABLE', `${what}: a well-formed token is refused as the gateway's trouble`);
    t.equal(err?.status, 503, `${what}: with 503`);
    t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(es384, {}, 'ES384')}` })), 'JITGATE_E_TOKEN_INVALID', `${what}: an algorithm not allowed is still the token's fault`);
    t.equal(await refusal(auth.authenticate({ authorization: 'Bearer not.a.token' })), 'JITGATE_E_TOKEN_INVALID', `${what}: as is a malformed one`);
    // Whoever signed it, a token past its exp is refused: the caller is told to get a new one.
    const now = Math.floor(Date.now() / 1000);
    t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(k1, { exp: now - 60 })}` })), 'JITGATE_E_TOKEN_EXPIRED', `${what}: an expired token is 401, not 503`);
    const forgedExpired = await sign(await newKey('k1'), { exp: now - 60 });
    t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${forgedExpired}` })), 'JITGATE_E_TOKEN_EXPIRED', `${what}: as is one whose signature could not be checked`);
    const withinSkew = await auth.authenticate({ authorization: `Bearer ${await sign(k1, { exp: now - 5 })}` }).then(() => null, (e: unknown) => e as { code?: string });
    t.equal(withinSkew?.code, 'JITGATE_E_KEYS_UNAVAILABLE', `${what}: an exp within the clock skew is not called expired`);
  }

  const loaded = createAuthenticator(jwtConfig(), { logger });
  await loaded.start();
  t.teardown(() => { loaded.stop(); });
  const other = await newKey('k1');
  t.equal(await refusal(loaded.authenticate({ authorization: `Bearer ${await sign(other)}` })), 'JITGATE_E_TOKEN_INVALID', 'loaded keys: a wrong signature is 401');
  t.equal(await refusal(loaded.authenticate({ authorization: `Bearer ${await sign(await newKey('nobody'))}` })), 'JITGATE_E_TOKEN_INVALID', 'loaded keys: an unknown kid after the refresh is 401');
  t.equal(await refusal(loaded.authenticate({ authorization: `Bearer ${await sign(k1, { exp: Math.floor(Date.now() / 1000) - 60 })}` })), 'JITGATE_E_TOKEN_EXPIRED', 'loaded keys: expired is 401');
});

t.test('unknown kid: the JWKS is refreshed, at most once per min interval', async (t) => {
  const k1 = await newKey('k1');
  const k2 = await newKey('k2');
  published = [k1];
  const auth = createAuthenticator(jwtConfig({ jwks_refresh_min_interval_seconds: 3600 }), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const startFetches = jwksFetches;
  const garbage = await newKey('garbage');
  for (let i = 0; i < 20; i++) {
    t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(garbage)}` })), 'JITGATE_E_TOKEN_INVALID');
  }
  t.equal(jwksFetches - startFetches, 0, 'a flood of unknown kids right after a load causes no fetch');
  published = [k1, k2];
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(k2)}` })), 'JITGATE_E_TOKEN_INVALID', 'inside the interval a new key is not fetched yet');

  const eager = createAuthenticator(jwtConfig({ jwks_refresh_min_interval_seconds: 0 }), { logger });
  published = [k1];
  await eager.start();
  t.teardown(() => { eager.stop(); });
  published = [k1, k2];
  t.equal((await eager.authenticate({ authorization: `Bearer ${await sign(k2)}` })).id, 'alice', 'a rotated-in key is fetched on its first token');
});

t.test('verified-token cache: one verification per token, entries die at exp', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const token = await sign(k1, {}, 'ES256', 2);
  const first = await auth.authenticate({ authorization: `Bearer ${token}` });
  const second = await auth.authenticate({ authorization: `Bearer ${token}` });
  t.equal(first, second, 'the second request is served from the cache (same verified subject)');
  const exp = (first.claims.exp as number) * 1000;
  while (Date.now() < exp + 50) await new Promise((r) => setTimeout(r, 100));
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${token}` })), 'JITGATE_E_TOKEN_EXPIRED', 'refused once exp has passed, cache or not');
});

t.test('verified-token cache: entries die when the JWKS refresh drops their kid', async (t) => {
  const k1 = await newKey('k1');
  const k2 = await newKey('k2');
  published = [k1];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const old = await sign(k1);
  t.equal((await auth.authenticate({ authorization: `Bearer ${old}` })).id, 'alice');
  published = [k2];
  // A token with the new kid makes the gateway refresh; k1 is gone from the set afterwards.
  t.equal((await auth.authenticate({ authorization: `Bearer ${await sign(k2)}` })).id, 'alice');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${old}` })), 'JITGATE_E_TOKEN_INVALID', 'the cached token is refused');

  // Periodic refresh: no token needs to ask.
  published = [k1];
  const periodic = createAuthenticator(jwtConfig({ jwks_max_age_seconds: 1, jwks_refresh_min_interval_seconds: 3600 }), { logger });
  await periodic.start();
  t.teardown(() => { periodic.stop(); });
  const tok = await sign(k1);
  t.equal((await periodic.authenticate({ authorization: `Bearer ${tok}` })).id, 'alice');
  published = [k2];
  let outcome = 'accepted';
  for (let i = 0; i < 50 && outcome === 'accepted'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    outcome = await refusal(periodic.authenticate({ authorization: `Bearer ${tok}` }));
  }
  t.equal(outcome, 'JITGATE_E_TOKEN_INVALID', 'after the periodic refresh dropped k1, the cached token is refused');
});

t.test('header handling: one credential, Bearer only', async (t) => {
  const k1 = await newKey('k1');
  published = [k1];
  const auth = createAuthenticator(jwtConfig(), { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const token = await sign(k1);
  t.equal(await refusal(auth.authenticate({})), 'JITGATE_E_UNAUTHENTICATED');
  t.equal(await refusal(auth.authenticate({ authorization: [`Bearer ${token}`, `Bearer ${token}`] })), 'JITGATE_E_IDENTITY_AMBIGUOUS');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${token}`, 'x-api-key': 'jg_a.bbbbbbbbbb' })), 'JITGATE_E_IDENTITY_AMBIGUOUS');
  t.equal(await refusal(auth.authenticate({ authorization: `Token ${token}` })), 'JITGATE_E_TOKEN_INVALID');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${token} extra` })), 'JITGATE_E_TOKEN_INVALID');
  t.equal((await auth.authenticate({ authorization: `bearer ${token}` })).id, 'alice', 'the scheme is case-insensitive');
});

t.test('a reload that keeps the issuer shares its keys: no second fetch, and the shared set goes on refreshing after the old settings stop', async (t) => {
  const k1 = await newKey('k1');
  const k2 = await newKey('k2');
  published = [k1, k2];
  const cfg = jwtConfig({ jwks_max_age_seconds: 1 });
  const running = new ReloadableAuthenticator(createAuthenticator(cfg, { logger }));
  t.teardown(() => { running.stop(); });
  await running.start();
  const fetchesBefore = jwksFetches;
  const generation = running.keysGeneration;
  // Only the API keys change, as when one is revoked.
  const next = createAuthenticator({ ...cfg, api_keys: [{ id: 'ci', subject: 'svc-ci', groups: [], sha256: '0'.repeat(64) }] }, { logger, previous: running });
  await next.start({ keysRequired: true });
  t.equal(jwksFetches, fetchesBefore, 'the unchanged issuer\'s keys are not fetched again');
  running.replace(next);
  t.ok(running.keysGeneration > generation, 'the replacement counts as a change of what vouches for sessions');
  t.equal((await running.authenticate({ authorization: `Bearer ${await sign(k1)}` })).id, 'alice', 'tokens verify under the new settings');
  published = [k2];
  const withdrawn = await sign(k1);
  let outcome = 'accepted';
  // The set refreshes every second; a few seconds allow for a busy machine.
  for (let i = 0; i < 50 && outcome === 'accepted'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    outcome = await refusal(running.authenticate({ authorization: `Bearer ${withdrawn}` }));
  }
  t.ok(jwksFetches > fetchesBefore, 'the shared set still refreshes on its schedule');
  t.equal(outcome, 'JITGATE_E_TOKEN_INVALID', 'and a key withdrawn since is refused');

  // An issuer whose keys cannot be loaded fails a start that requires them, and stops cleanly.
  const unreachable = createAuthenticator(jwtConfig({ jwks_url: 'http://127.0.0.1:1/keys' }), { logger, previous: running });
  await t.rejects(unreachable.start({ keysRequired: true }), { code: 'JITGATE_E_CONFIG_INVALID', message: /JWKS could not be loaded/ });
  running.discard(unreachable);
});

t.test('a key rotated behind the same kid: tokens verified with the old key are dropped from the cache, not trusted until they expire', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-kid-'));
  const file = join(dir, 'jwks.json');
  const keyUnder = async (kid: string): Promise<{ priv: CryptoKey; jwk: JWK }> => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    return { priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
  };
  const withdrawn = await keyUnder('signing');
  const replacement = await keyUnder('signing');
  const other = await keyUnder('other');
  writeFileSync(file, JSON.stringify({ keys: [withdrawn.jwk, other.jwk] }));
  const auth = createAuthenticator({
    jwt: {
      issuer: 'https://issuer.test', audience: 'jitgate', algorithms: ['ES256'], jwks_file: file, clock_skew_seconds: 0,
      groups_claim: 'groups', subject_claim: 'sub', jwks_refresh_min_interval_seconds: 0, jwks_max_age_seconds: 1, token_cache_size: 100,
      jwks_fetch_timeout_ms: 5000, jwks_fetch_max_bytes: 4194304,
    },
    api_keys: [], client_certificates: [], dev_issuer: { enabled: false, token_ttl_seconds: 3600, subjects: {} },
  }, { logger });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const sign = (key: { priv: CryptoKey; jwk: JWK }, sub: string): Promise<string> => new SignJWT({ groups: ['admins'] })
    .setProtectedHeader({ alg: 'ES256', kid: key.jwk.kid }).setIssuer('https://issuer.test').setAudience('jitgate').setSubject(sub).setExpirationTime('1h').sign(key.priv);
  const cached = await sign(withdrawn, 'mallory');
  const untouched = await sign(other, 'bob');
  t.equal((await auth.authenticate({ authorization: `Bearer ${cached}` })).id, 'mallory', 'accepted while the old key is published, and cached');
  t.equal((await auth.authenticate({ authorization: `Bearer ${untouched}` })).id, 'bob');

  const before = auth.keysGeneration;
  writeFileSync(file, JSON.stringify({ keys: [replacement.jwk, other.jwk] }));
  for (let i = 0; i < 50 && auth.keysGeneration === before; i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(auth.keysGeneration > before, 'the periodic refresh loaded the rotated set');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${cached}` })), 'JITGATE_E_TOKEN_INVALID', 'the cached token signed with the withdrawn key is refused');
  t.equal(await refusal(auth.authenticate({ authorization: `Bearer ${await sign(withdrawn, 'mallory')}` })), 'JITGATE_E_TOKEN_INVALID', 'as is a new one');
  t.equal((await auth.authenticate({ authorization: `Bearer ${await sign(replacement, 'alice')}` })).id, 'alice', 'the new key under the old kid is trusted');
  t.equal((await auth.authenticate({ authorization: `Bearer ${untouched}` })).id, 'bob', 'a token under a kid whose key did not change stays trusted');
});

t.test('a JWKS URL is logged and reported at /readyz with its query values left out', async (t) => {
  const inQuery = 'jwks-query-secret-8c9d';
  const lines: string[] = [];
  const recording = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
  const auth = createAuthenticator(jwtConfig({ jwks_url: `${issuer}/down?key=${inQuery}` }), { logger: recording });
  await auth.start();
  t.teardown(() => { auth.stop(); });
  const readiness = await identityReadiness(auth);
  t.equal(readiness.ok, false, 'no keys could be loaded');
  t.match(readiness.detail, `${issuer}/down?key=[REDACTED]`, 'the readiness detail names the URL by its path and query names');
  t.match(lines.join('\n'), `${issuer}/down?key=[REDACTED]: HTTP 404`, 'so does the log');
  t.notOk(`${readiness.detail ?? ''}${lines.join('\n')}`.includes(inQuery), 'and neither holds the query\'s value');
});
