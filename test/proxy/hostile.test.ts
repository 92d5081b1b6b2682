// Hostile requests. Each one is sent for real and the test checks both the gateway's answer and
// that the upstream never saw a request it must not see.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { importJWK, SignJWT, generateKeyPair, exportSPKI } from 'jose';
import { request } from 'undici';
import { DEV_AUDIENCE, DEV_ISSUER } from '../../src/identity/index.js';
import { wsFrame, wsFrames } from '../helpers/ws-frames.js';
import { demoRoute, echoWebSockets, leaks, policyAllowingIf, policyFrom, SECRETS, sendExpectingContinue, startGateway, webSocketPing, type Gateway } from './fixtures.js';

let g: Gateway;
let alice: string;
t.before(async () => {
  g = await startGateway();
  alice = await g.token('alice');
});
t.teardown(async () => { await g.close(); });

/** Sends raw bytes and returns everything the gateway wrote before closing. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    const guard = setTimeout(() => { sock.destroy(); }, 5000);
    sock.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    sock.on('error', (e) => { clearTimeout(guard); if (out) resolve(out); else reject(e); });
    sock.on('close', () => { clearTimeout(guard); resolve(out); });
    sock.write(text);
  });
}

function status(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

function adminSeen(): number {
  return g.upstream.seen.filter((s) => s.url.toLowerCase().includes('admin')).length;
}

t.test('path-normalization tricks never reach /admin upstream', async (t) => {
  const cases: [string, number, string?][] = [
    ['/api/../admin/users', 403, 'JITGATE_E_FORBIDDEN'],
    ['/api/%2e%2e/admin/users', 403, 'JITGATE_E_FORBIDDEN'],
    ['/api/%2E%2E/%2e%2e/admin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/..%2Fadmin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api%2Fadmin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['//admin/users', 403, 'JITGATE_E_FORBIDDEN'],
    ['/./admin//users', 403, 'JITGATE_E_FORBIDDEN'],
    ['/ADMIN/users', 403, 'JITGATE_E_FORBIDDEN'],
    ['/admin./users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/orders../../admin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/..;/admin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/admin;jsessionid=1/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/%3B/admin', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/%5c..%5cadmin', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/orders%00/admin', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/%zz/admin', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/api/%c3%28/admin', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
    ['/../admin/users', 400, 'JITGATE_E_REQUEST_AMBIGUOUS'],
  ];
  for (const [path, want, code] of cases) {
    const res = await raw(g.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
    t.equal(status(res), want, `${path} → ${want}`);
    if (code) t.ok(res.includes(code), `${path} → ${code}`);
    t.match(res, /x-request-id: /i, `${path} carries a request id`);
  }
  const bs = await raw(g.port, `GET /api\\..\\admin\\users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(bs), 400, 'raw backslash refused');
  t.equal(adminSeen(), 0, 'the upstream never saw an admin path');
});

t.test('a query parameter hidden behind ";" never reaches an upstream that would split on it', async (t) => {
  const q = await startGateway({ policy: await policyAllowingIf(['not input.request.query.debug'], 'debug mode is not for callers') });
  t.teardown(() => q.close());
  const token = await q.token('alice');
  const ask = async (query: string): Promise<{ status: number; text: string }> => {
    const res = await request(`${q.url}/api/orders?${query}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, text: await res.body.text() };
  };
  t.equal((await ask('debug=1')).status, 403, 'the policy refuses debug when it sees it');
  const hidden = await ask('page=1;debug=1');
  t.equal(hidden.status, 400, 'Rack 2 would read debug=1 here; the policy would not');
  t.match(hidden.text, /JITGATE_E_REQUEST_AMBIGUOUS/);
  t.notOk(q.upstream.seen.some((s) => s.url.includes('debug')), 'the upstream never saw debug');
  const encoded = await ask('note=a%3Bb');
  t.equal(encoded.status, 200, 'an encoded ; is a plain value');
  t.equal(q.upstream.seen.at(-1)?.url, '/api/orders?note=a%3Bb');
});

t.test('the upstream receives exactly the normalized path the policy decided on', async (t) => {
  for (const [sent, received] of [['/api/./orders//7/', '/api/orders/7/'], ['/api/%6Frders/%7E1', '/api/orders/~1'], ['/api/x/../orders', '/api/orders'], ['/api/caf%C3%A9', '/api/caf%C3%A9']] as const) {
    const before = g.upstream.seen.length;
    const res = await raw(g.port, `GET ${sent} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
    t.equal(status(res), 200, sent);
    t.equal(g.upstream.seen[before]?.url, received, `${sent} reaches the upstream as ${received}`);
    const id = /x-jitgate-decision-id: ([0-9a-f-]+)/i.exec(res)?.[1];
    const ev = g.decisions.events.find((e) => e.decision_id === id);
    t.equal((ev?.input as { request: { path: string } }).request.path, received, 'and the policy saw the same path');
  }
});

t.test('absolute-form targets that disagree with Host are refused', async (t) => {
  const before = g.upstream.seen.length;
  const res = await raw(g.port, `GET http://evil.example/admin/users HTTP/1.1\r\nHost: 127.0.0.1:${g.port}\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(res), 400);
  t.ok(res.includes('JITGATE_E_REQUEST_AMBIGUOUS'));
  const ok = await raw(g.port, `GET http://127.0.0.1:${g.port}/api/orders HTTP/1.1\r\nHost: 127.0.0.1:${g.port}\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(ok), 200, 'an absolute-form target naming the same host is fine');
  t.equal(g.upstream.seen.length, before + 1);
  t.equal(g.upstream.seen[before]?.url, '/api/orders');
});

t.test('spoofed identity headers do not identify anyone', async (t) => {
  const before = g.upstream.seen.length;
  const spoofed = await request(`${g.url}/api/orders`, { headers: { 'x-forwarded-user': 'dave', 'x-remote-user': 'dave', 'x-jitgate-subject': 'dave', 'x-forwarded-for': '10.0.0.1' } });
  await spoofed.body.dump();
  t.equal(spoofed.statusCode, 401);
  const both = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${alice}`, 'x-api-key': 'jg_reporting.demo-only-service-key' } });
  t.equal(both.statusCode, 401);
  t.match(await both.body.text(), /JITGATE_E_IDENTITY_AMBIGUOUS/);
  const dave = await g.token('dave');
  const twice = await raw(g.port, `GET /admin/users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nAuthorization: Bearer ${dave}\r\nConnection: close\r\n\r\n`);
  t.equal(status(twice), 401, 'two Authorization headers are ambiguous');
  const hosts = await raw(g.port, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(hosts), 400, 'two Host headers are refused');
  t.equal(g.upstream.seen.length, before);
});

t.test('a network rule cannot be met with a forged X-Forwarded-For; behind a trusted proxy it reads the address the proxy saw', async (t) => {
  const inside = await policyAllowingIf(['net.cidr_contains("10.0.0.0/8", input.request.client_ip)'], 'only from the office network');
  const direct = await startGateway({ policy: inside });
  t.teardown(() => direct.close());
  const token = await direct.token('alice');
  const spoofed = await request(`${direct.url}/api/orders`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '10.1.2.3', 'x-forwarded-proto': 'https', 'x-real-ip': '10.1.2.3' } });
  await spoofed.body.dump();
  t.equal(spoofed.statusCode, 403, 'a caller naming an office address for itself is still outside');
  t.equal(direct.upstream.seen.length, 0, 'and the upstream never saw it');
  t.equal((direct.decisions.events[0]?.input as { request: { client_ip?: string } }).request.client_ip, '127.0.0.1', 'the policy saw the peer');
  t.equal(direct.audit.entries[0]?.details.client_ip, '127.0.0.1', 'so does the audit record of the denial');

  // 127.0.0.1 plays the load balancer: what it says is believed, from the right.
  const behind = await startGateway({ policy: inside, trustedProxies: ['127.0.0.1/32'] });
  t.teardown(() => behind.close());
  const aliceBehind = await behind.token('alice');
  const viaLb = await request(`${behind.url}/api/orders`, { headers: { authorization: `Bearer ${aliceBehind}`, 'x-forwarded-for': '10.1.2.3', 'x-forwarded-proto': 'https' } });
  await viaLb.body.dump();
  t.equal(viaLb.statusCode, 200, 'a caller the load balancer saw in the office network is inside');
  t.equal(behind.upstream.seen[0]?.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1', 'the upstream gets the caller and every hop');
  t.equal(behind.upstream.seen[0]?.headers['x-forwarded-proto'], 'https', 'and the scheme the caller used at the load balancer');
  const prepended = await request(`${behind.url}/api/orders`, { headers: { authorization: `Bearer ${aliceBehind}`, 'x-forwarded-for': '10.9.9.9, 203.0.113.5' } });
  await prepended.body.dump();
  t.equal(prepended.statusCode, 403, 'an office address the caller wrote left of its own is not believed');
  t.equal(behind.upstream.seen.length, 1, 'nor forwarded');
  const garbled = await request(`${behind.url}/api/orders`, { headers: { authorization: `Bearer ${aliceBehind}`, 'x-forwarded-for': 'unknown' } });
  t.equal(garbled.statusCode, 400, 'a trusted hop forwarding no address is refused');
  t.match(await garbled.body.text(), /JITGATE_E_REQUEST_AMBIGUOUS/);
  t.equal(behind.upstream.seen.length, 1);

  // A load balancer writing RFC 7239 Forwarded: only that header is believed.
  const rfc = await startGateway({ policy: inside, trustedProxies: ['127.0.0.1'], trustedProxyHeader: 'forwarded' });
  t.teardown(() => rfc.close());
  const aliceRfc = await rfc.token('alice');
  const ask = async (headers: Record<string, string>): Promise<number> => {
    const res = await request(`${rfc.url}/api/orders`, { headers: { authorization: `Bearer ${aliceRfc}`, ...headers } });
    await res.body.dump();
    return res.statusCode;
  };
  t.equal(await ask({ 'x-forwarded-for': '10.1.2.3' }), 403, 'an X-Forwarded-For the caller wrote (this load balancer writes Forwarded) is not believed');
  t.equal(await ask({ forwarded: 'for=10.9.9.9, for=203.0.113.5;proto=https' }), 403, 'nor an element the caller wrote left of its own');
  t.equal(rfc.upstream.seen.length, 0, 'neither was forwarded');
  t.equal(await ask({ forwarded: 'for="10.1.2.3:5123";proto=https;by=127.0.0.1' }), 200, 'the caller the load balancer saw in the office is inside');
  t.equal(rfc.upstream.seen[0]?.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  t.equal(rfc.upstream.seen[0]?.headers['x-forwarded-proto'], 'https');
  t.equal(await ask({ forwarded: 'for="10.1.2.3' }), 400, 'a Forwarded header that does not parse is refused');
  t.equal(rfc.upstream.seen.length, 1);
});

t.test('forged JWTs are refused and never forwarded', async (t) => {
  const stored = JSON.parse(readFileSync(g.keyFile, 'utf8'));
  const devKey = await importJWK(stored.private, 'EdDSA');
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { sub: 'dave', groups: ['admins'], iss: DEV_ISSUER, aud: DEV_AUDIENCE, iat: now, exp: now + 600 };
  const other = await generateKeyPair('EdDSA', { extractable: true });
  const pem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
  const hsInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: stored.public.kid })}.${b64(claims)}`;
  const forged: [string, string, string][] = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, 'JITGATE_E_TOKEN_INVALID'],
    ['HS256 signed with the public key', `${hsInput}.${createHmac('sha256', JSON.stringify(stored.public)).update(hsInput).digest('base64url')}`, 'JITGATE_E_TOKEN_INVALID'],
    ['HS256 signed with a PEM public key', `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`, 'JITGATE_E_TOKEN_INVALID'],
    ['wrong issuer', await new SignJWT({ ...claims, iss: 'https://evil.example' }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(devKey), 'JITGATE_E_TOKEN_INVALID'],
    ['wrong audience', await new SignJWT({ ...claims, aud: 'someone-else' }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(devKey), 'JITGATE_E_TOKEN_INVALID'],
    ['expired', await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(devKey), 'JITGATE_E_TOKEN_EXPIRED'],
    ['not yet valid', await new SignJWT({ ...claims, nbf: now + 3600 }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(devKey), 'JITGATE_E_TOKEN_INVALID'],
    ['unknown kid', await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: 'not-a-key' }).sign(other.privateKey), 'JITGATE_E_TOKEN_INVALID'],
    ['right kid, wrong key', await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(other.privateKey), 'JITGATE_E_TOKEN_INVALID'],
    ['no exp', await new SignJWT({ sub: 'dave', groups: ['admins'], iss: DEV_ISSUER, aud: DEV_AUDIENCE }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid }).sign(devKey), 'JITGATE_E_TOKEN_INVALID'],
    ['garbage', 'not.a.jwt', 'JITGATE_E_TOKEN_INVALID'],
    ['Basic scheme', '', 'JITGATE_E_TOKEN_INVALID'],
  ];
  g.grants.add('dave', 'admin', 600);
  const before = g.upstream.seen.length;
  for (const [name, token, code] of forged) {
    const authorization = name === 'Basic scheme' ? `Basic ${Buffer.from('dave:x').toString('base64')}` : `Bearer ${token}`;
    const res = await request(`${g.url}/admin/users`, { headers: { authorization } });
    const body = await res.body.text();
    t.equal(res.statusCode, 401, `${name} → 401`);
    t.match(body, code, `${name} → ${code}`);
  }
  t.equal(g.upstream.seen.length, before, 'the upstream never saw any of them');
  t.equal(g.audit.entries.filter((e) => e.subject === 'dave').length, 0, 'no forged identity reached the policy');
});

t.test('a subject or group that reads as another (invisible or reordering characters) is refused and never forwarded', async (t) => {
  // Signed by the trusted issuer: an identity provider that lets people pick such names would.
  const stored = JSON.parse(readFileSync(g.keyFile, 'utf8'));
  const devKey = await importJWK(stored.private, 'EdDSA');
  const sign = (sub: string, groups: string[]) => new SignJWT({ groups }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid })
    .setIssuer(DEV_ISSUER).setAudience(DEV_AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(devKey);
  const lookalikes = [
    'dave\u200b', 'dave\u200c', 'dave\u200d', 'dave\u2060', 'dave\ufeff', 'da\u00adve', 'dave\ufe0f', 'dave\u{e0100}',
    '\u202eevad', 'dave\u200e', '\u2066dave\u2069', 'dave\u061c', 'dave\u034f', 'dave\u3164', 'dave\u{e0041}',
  ];
  // Each holds the admin role in its own right: only the identity check stands in the way.
  for (const sub of lookalikes) g.grants.add(sub, 'admin', 600);
  g.grants.add('dave', 'admin', 600);
  const before = g.upstream.seen.length;
  const tokens: [string, string][] = [
    ...await Promise.all(lookalikes.map(async (sub): Promise<[string, string]> => [sub.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`), await sign(sub, ['admins'])])),
    ['dave in "admins\\u200b"', await sign('dave', ['admins\u200b'])],
  ];
  for (const [name, token] of tokens) {
    const res = await request(`${g.url}/admin/users`, { headers: { authorization: `Bearer ${token}` } });
    const body = JSON.parse(await res.body.text()) as { error?: { code: string; message: string } };
    t.equal(res.statusCode, 401, `${name} → 401`);
    t.equal(body.error?.code, 'JITGATE_E_TOKEN_INVALID', `${name} → JITGATE_E_TOKEN_INVALID`);
    t.match(body.error?.message, /invisible or bidirectional-control character \(U\+[0-9A-F]{4,5}\)/, `${name}: the message names the character`);
  }
  t.equal(g.upstream.seen.length, before, 'the upstream never saw any of them');
  t.equal(g.audit.entries.filter((e) => e.subject !== null && lookalikes.includes(e.subject)).length, 0, 'no lookalike reached the policy');
  // Not under /admin: the tests after this one count what reached it.
  const res = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${await sign('dave', ['admins'])}` } });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'dave himself, signed the same way, still gets through');
});

t.test('a groups string joined by a character JavaScript counts as white space is one unfit name, refused and never forwarded', async (t) => {
  // `eng\ufeffadmins` was split on /\s+/ into eng and admins: a name the issuer let someone pick
  // made its bearer a member of admins. Split on the ASCII space only, it keeps its character and
  // is refused as any name holding one is.
  const stored = JSON.parse(readFileSync(g.keyFile, 'utf8'));
  const devKey = await importJWK(stored.private, 'EdDSA');
  const sign = (groups: string) => new SignJWT({ groups }).setProtectedHeader({ alg: 'EdDSA', kid: stored.public.kid })
    .setIssuer(DEV_ISSUER).setAudience(DEV_AUDIENCE).setSubject('mallory').setIssuedAt().setExpirationTime('10m').sign(devKey);
  const joined: [string, string][] = [['U+FEFF', 'eng\ufeffadmins'], ['U+2028', 'eng\u2028admins'], ['U+2029', 'eng\u2029admins'], ['tab', 'eng\tadmins'], ['line feed', 'eng\nadmins']];
  const before = g.upstream.seen.length;
  for (const [name, groups] of joined) {
    const res = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${await sign(groups)}` } });
    const body = JSON.parse(await res.body.text()) as { error?: { code: string; message: string } };
    t.equal(res.statusCode, 401, `joined by ${name} → 401`);
    t.equal(body.error?.code, 'JITGATE_E_TOKEN_INVALID', `joined by ${name} → JITGATE_E_TOKEN_INVALID`);
    t.match(body.error?.message, /groups claim .*\(U\+[0-9A-F]{4}\)/, `joined by ${name}: the message names the character`);
  }
  t.equal(g.upstream.seen.length, before, 'the upstream never saw any of them');
  t.equal(g.audit.entries.filter((e) => e.subject === 'mallory').length, 0, 'none reached the policy');
  const res = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${await sign('eng  admins ')}` } });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'names joined by ASCII spaces still pass');
});

t.test('underscore spellings of headers the gateway strips, sets or judges never reach the upstream', async (t) => {
  // Rack, WSGI and PHP read X_Forwarded_For as X-Forwarded-For: each of these would pass for the gateway's own.
  const aliases: Record<string, string> = {
    X_Forwarded_For: '10.6.6.6', X_Forwarded_Host: 'evil.example', X_Real_IP: '10.6.6.6', X_Api_Key: 'caller-chosen-key',
    X_Request_Id: 'forged', X_Jitgate_Decision_Id: 'forged', Proxy_Authorization: 'Basic Zm9vOmJhcg==', Transfer_Encoding: 'chunked',
    Accept_Encoding: 'gzip', User_Agent: 'not-what-the-policy-saw', Content_Type: 'text/plain',
  };
  const before = g.upstream.seen.length;
  const res = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${alice}`, 'user-agent': 'judged', X_Custom_Thing: 'kept', ...aliases } });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'the request itself is allowed');
  const seen = g.upstream.seen[before];
  const names = (seen?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  for (const alias of Object.keys(aliases)) t.notOk(names.includes(alias.toLowerCase()), `${alias} dropped`);
  t.ok(names.includes('x_custom_thing'), 'an underscore header the gateway has no stake in passes');
  t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1', 'the gateway\'s own forwarding claim');
  t.equal(seen?.headers['x-api-key'], SECRETS.DEMO_UPSTREAM_READ_KEY, 'the injected credential, alone');
  t.equal(seen?.headers['user-agent'], 'judged', 'the header the policy saw');
  t.equal(seen?.headers['accept-encoding'], 'identity');
});

t.test('hop-by-hop abuse cannot strip the injected credential or the gateway\'s own headers', async (t) => {
  const before = g.upstream.seen.length;
  const res = await raw(g.port, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close, Authorization, X-Api-Key, X-Forwarded-For, X-Request-Id\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eDp5\r\nX-Custom: kept\r\n\r\n`);
  t.equal(status(res), 200, 'the caller was still authenticated from Authorization');
  const up = g.upstream.seen[before]!;
  t.equal(up.headers['x-api-key'], SECRETS.DEMO_UPSTREAM_READ_KEY, 'the injected credential survived');
  t.equal(up.headers.authorization, undefined);
  t.equal(up.headers['proxy-authorization'], undefined);
  t.equal(up.headers['keep-alive'], undefined);
  t.equal(up.headers.te, undefined);
  t.equal(up.headers['x-forwarded-for'], '127.0.0.1');
  t.ok(up.headers['x-request-id']);
  t.equal(up.headers['x-custom'], 'kept');
  const conn = await raw(g.port, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: X-Custom\r\nX-Custom: drop-me\r\n\r\n`);
  t.equal(status(conn), 200);
  t.equal(g.upstream.seen[before + 1]?.headers['x-custom'], undefined, 'headers named in Connection are removed');
  t.same(leaks(g, res, conn), []);
});

t.test('request smuggling shapes are refused before anything is forwarded', async (t) => {
  const before = g.upstream.seen.length;
  const shapes = [
    `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/users HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
    `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 5, 6\r\n\r\nhello!`,
    `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\n X-Folded: yes\r\n\r\n`,
  ];
  for (const s of shapes) {
    const res = await raw(g.port, s);
    t.equal(status(res), 400, s.split('\r\n').slice(3, 5).join(' | '));
  }
  t.equal(g.upstream.seen.length, before, 'the upstream never saw any of them');
  t.equal(adminSeen(), 0);
});

t.test('a broken pipelined request cannot write an answer into the bytes of a response under way', async (t) => {
  // A 4 MiB response; once its first bytes arrive the caller stops reading (so it stays under
  // way) and sends garbage as its next request. A second status line among the body's bytes
  // would desynchronize whatever reads this connection (a load balancer sharing it, say).
  const response = await new Promise<Buffer>((resolve) => {
    const sock = connect(g.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let length = 0;
    let paused = false;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      length += d.length;
      if (length > 100_000 && !paused) {
        paused = true;
        sock.pause();
        sock.write('GARBAGE \x01\r\n\r\n');
        setTimeout(() => { sock.resume(); }, 300);
      }
    });
    sock.on('error', () => { /* reset by the gateway */ });
    sock.on('close', () => { resolve(Buffer.concat(chunks)); });
    sock.write(`GET /api/__stream?chunks=64 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\n\r\n`);
  });
  const text = response.toString('latin1');
  t.equal(status(text), 200);
  t.equal(text.split('HTTP/1.1 ').length - 1, 1, 'one status line: the garbage got no answer written into the stream');
  t.ok(response.length < 64 * 64 * 1024, 'the connection was closed instead, the response cut short');
});

t.test('oversized headers and bodies', async (t) => {
  const before = g.upstream.seen.length;
  const big = await raw(g.port, `GET /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nX-Big: ${'a'.repeat(20000)}\r\nConnection: close\r\n\r\n`);
  t.equal(status(big), 431);
  t.ok(big.includes('JITGATE_E_HEADERS_TOO_LARGE'));
  const cl = await raw(g.port, `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n${'x'.repeat(2048)}`);
  t.equal(status(cl), 413);
  t.ok(cl.includes('JITGATE_E_BODY_TOO_LARGE'));
  t.equal(g.upstream.seen.length, before, 'nothing forwarded');

  // A chunked body past the limit from a caller who may write: cut off before the upstream sees its end.
  g.grants.add('bob', 'writer', 600);
  const bob = await g.token('bob');
  const chunk = 'y'.repeat(600);
  const chunked = await raw(g.port, `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bob}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`);
  t.equal(status(chunked), 413, 'refused with 413');
  t.ok(chunked.includes('JITGATE_E_BODY_TOO_LARGE'));
  t.notOk(g.upstream.seen.slice(before).some((s) => s.complete), 'the upstream never received a complete oversized body');
});

t.test('method and path override headers are refused, in either spelling', async (t) => {
  const before = g.upstream.seen.length;
  for (const h of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override', 'X_HTTP_Method_Override', 'x_method_override']) {
    const res = await request(`${g.url}/api/orders`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, [h]: 'GET' }, body: '{}' });
    t.equal(res.statusCode, 400, h);
    t.match(await res.body.text(), /JITGATE_E_METHOD_OVERRIDE/);
  }
  // Symfony and IIS rewrites route by these: the policy would have judged /api/orders.
  for (const h of ['X-Original-URL', 'X-Rewrite-URL', 'X_Original_URL']) {
    const res = await request(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${alice}`, [h]: '/admin/users' } });
    t.equal(res.statusCode, 400, h);
    t.match(await res.body.text(), /JITGATE_E_PATH_OVERRIDE/);
  }
  const q = await request(`${g.url}/api/orders?_method=GET`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: '{}' });
  t.equal(q.statusCode, 400, '_method query parameter');
  await q.body.dump();
  t.equal(g.upstream.seen.length, before);
});

t.test('HEAD and OPTIONS are decided as themselves', async (t) => {
  const before = g.upstream.seen.length;
  const head = await request(`${g.url}/admin/users`, { method: 'HEAD', headers: { authorization: `Bearer ${alice}` } });
  await head.body.dump();
  t.equal(head.statusCode, 403, 'HEAD on /admin is not a free read');
  t.ok(head.headers['x-jitgate-decision-id']);
  const options = await request(`${g.url}/api/orders`, { method: 'OPTIONS', headers: { authorization: `Bearer ${alice}`, origin: 'http://evil.example', 'access-control-request-method': 'DELETE' } });
  t.equal(options.statusCode, 403, 'OPTIONS is not a policy bypass');
  await options.body.dump();
  t.equal(g.upstream.seen.length, before);
  const ok = await request(`${g.url}/api/orders`, { method: 'HEAD', headers: { authorization: `Bearer ${alice}` } });
  await ok.body.dump();
  t.equal(ok.statusCode, 200);
  t.equal(g.upstream.seen[before]?.method, 'HEAD');
});

t.test('WebSocket upgrade on a route that does not allow it', async (t) => {
  let upgrades = 0;
  g.upstream.server.on('upgrade', (_req, socket) => { upgrades++; socket.destroy(); });
  const before = g.upstream.seen.length;
  const res = await raw(g.port, `GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  t.equal(status(res), 400);
  t.ok(res.includes('JITGATE_E_UPGRADE_REFUSED'));
  t.match(res, /x-jitgate-decision-id: /i);
  const anon = await raw(g.port, 'GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  t.equal(status(anon), 401);
  t.equal(upgrades, 0);
  t.equal(g.upstream.seen.length, before);
});

t.test('WebSocket upgrade on a route that allows it: decided, credential injected, sockets joined', async (t) => {
  const w = await startGateway({ routes: (u) => [demoRoute(u, { websocket: true })] });
  t.teardown(() => w.close());
  const keys = echoWebSockets(w);
  const token = await w.token('alice');
  const got = await webSocketPing(w.port, token);
  t.equal(status(got), 101);
  t.match(got, /x-jitgate-decision-id: /i);
  t.ok(got.endsWith('echo:ping'), 'frames flow both ways');
  t.same(keys, [SECRETS.DEMO_UPSTREAM_READ_KEY]);
  const admin = await raw(w.port, `GET /admin/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  t.equal(status(admin), 403, 'the policy still decides upgrades');
});

t.test('a WebSocket upstream echoing the injected secret in a frame: masked, or the session ends', async (t) => {
  const w = await startGateway({ routes: (u) => [demoRoute(u, { websocket: true })] });
  t.teardown(() => w.close());
  const offered: (string | undefined)[] = [];
  w.upstream.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    offered.push(req.headers['sec-websocket-extensions']);
    const key = String(req.headers['x-api-key']);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    // In pieces, so the secret spans reads; a masked frame hides it from a byte scan.
    const frames = req.url?.includes('masked')
      ? wsFrame(`your key: ${key}`, { maskKey: Buffer.from([9, 9, 9, 9]) })
      : Buffer.concat([wsFrame(`your key: ${key.slice(0, 4)}`, { fin: false }), wsFrame(`${key.slice(4)} (from the handshake)`, { opcode: 0 })]);
    socket.write(frames.subarray(0, 14));
    setTimeout(() => { socket.end(frames.subarray(14)); }, 20);
    socket.on('error', () => { /* reset by the gateway */ });
  });
  const token = await w.token('alice');
  const open = async (path: string): Promise<Buffer> => Buffer.from(await raw(w.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`), 'latin1');

  const plain = await open('/api/stream');
  const head = plain.indexOf('\r\n\r\n') + 4;
  t.equal(status(plain.toString('latin1')), 101);
  t.same(offered, [undefined], 'the caller\'s offer of compression did not reach the upstream');
  const { frames, used } = wsFrames(plain.subarray(head));
  t.equal(used, plain.length - head, 'whole frames');
  t.equal(frames.map((f) => f.payload).join(''), `your key: ${'*'.repeat(SECRETS.DEMO_UPSTREAM_READ_KEY.length)} (from the handshake)`, 'the echo arrived, masked');
  t.same(leaks(w, plain.toString('latin1')), []);

  const masked = await open('/api/stream?masked');
  t.equal(status(masked.toString('latin1')), 101);
  t.equal(masked.length, masked.indexOf('\r\n\r\n') + 4, 'a frame the gateway cannot read is not passed on: the session ends');
  t.ok(w.logLines.some((l) => l.includes('could not be checked for secrets')), 'and says why in the log');
});

t.test('an upstream echoing request headers never returns the injected secret', async (t) => {
  g.grants.add('erin', 'admin', 600);
  const erin = await g.issuer.issue('erin', ['eng']);
  for (const path of ['/api/orders', '/admin/users']) {
    const before = g.upstream.seen.length;
    const res = await request(`${g.url}${path}`, { headers: { authorization: `Bearer ${erin}`, 'accept-encoding': 'gzip, br' } });
    const body = await res.body.text();
    t.equal(res.statusCode, 200, path);
    t.equal(g.upstream.seen[before]?.headers['accept-encoding'], 'identity', 'the upstream is asked for bytes the masker can read');
    t.ok(res.headers['x-echo-x-api-key'] ?? res.headers['x-echo-authorization'], 'the upstream did echo the credential header');
    t.same(leaks(g, body, JSON.stringify(res.headers)), [], `${path}: no secret in the response`);
  }
});

t.test('an upstream reporting the credential in parts (token alone, Basic decoded, escaped) never returns it', async (t) => {
  const odd = SECRETS.DEMO_UPSTREAM_ODD_KEY;
  const c = await startGateway({
    policy: await policyAllowingIf(['input.subject.id == "alice"'], 'alice only'),
    routes: (u) => [
      demoRoute(u, { name: 'basic', match: { path_prefix: '/basic' }, credentials: { readonly: { type: 'basic', username: 'svc', from_env: 'DEMO_UPSTREAM_ODD_KEY' } } }),
      demoRoute(u, { name: 'bearer', match: { path_prefix: '/bearer' }, credentials: { readonly: { type: 'bearer', from_env: 'DEMO_UPSTREAM_ADMIN_KEY' } } }),
      demoRoute(u, { name: 'odd', match: { path_prefix: '/odd' }, credentials: { readonly: { type: 'bearer', from_env: 'DEMO_UPSTREAM_ODD_KEY' } } }),
    ],
  });
  t.teardown(() => c.close());
  const token = await c.token('alice');
  const forms = (secret: string): string[] => [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
  for (const [path, secrets] of [['/basic', [odd, `svc:${odd}`]], ['/bearer', [SECRETS.DEMO_UPSTREAM_ADMIN_KEY]], ['/odd', [odd]]] as const) {
    const before = c.upstream.seen.length;
    const res = await request(`${c.url}${path}/__credential`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.body.text();
    t.equal(res.statusCode, 200, path);
    t.ok(c.upstream.seen[before]?.headers.authorization, `${path}: the upstream got the credential`);
    const reported = (JSON.parse(text) as { parts: string[] }).parts;
    t.ok(reported.length > 0 && reported.every((p) => p.includes('*')), `${path}: what the upstream reported reaches the caller masked`);
    const headers = `${String(res.headers['x-credential'])}\n${String(res.headers['x-credential-form'])}`;
    t.ok([res.headers['x-credential'], res.headers['x-credential-form']].every((h) => typeof h === 'string' && h.includes('*')), `${path}: the encoded echoes arrive masked`);
    const seenByCaller = [text, ...reported, headers].join('\n');
    t.same(secrets.flatMap(forms).filter((f) => seenByCaller.includes(f)), [], `${path}: no form of the secret in the response`);
    t.same(leaks(c, text, headers), [], `${path}: nor in the audit trail, decision log or logs`);
  }
});

t.test('an upstream that compresses its answer to a request carrying a secret: decompressed and masked, or refused', async (t) => {
  const key = SECRETS.DEMO_UPSTREAM_READ_KEY;
  const masked = `key: ${'*'.repeat(key.length)}\n`;
  const get = async (gw: Gateway, path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> => {
    const res = await request(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${await gw.token('alice')}`, 'accept-encoding': 'gzip' } });
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  };
  for (const coding of ['gzip', 'deflate', 'br']) {
    const before = g.upstream.seen.length;
    const got = await get(g, `/api/__compressed?coding=${coding}&repeat=3`);
    t.equal(got.status, 200, coding);
    t.equal(g.upstream.seen[before]?.headers['accept-encoding'], 'identity', 'the upstream had been asked for identity');
    t.equal(got.body.toString(), masked.repeat(3), `${coding}: sent on decompressed, the echo masked`);
    t.equal(got.headers['content-encoding'], undefined, 'and said to be so');
    t.equal(got.headers['content-length'], undefined, 'its length no longer the compressed one');
    t.equal(got.headers.etag, 'W/"v1"', 'its entity tag weak: it named the compressed bytes');
  }
  // Megabytes of it, from a caller that reads slowly: streamed through, held back both ways.
  const slow = await new Promise<{ bytes: number; leaked: boolean }>((resolve, reject) => {
    void g.token('alice').then((token) => {
      const sock = connect(g.port, '127.0.0.1');
      const parts: Buffer[] = [];
      sock.on('data', (d: Buffer) => {
        parts.push(d);
        sock.pause();
        setTimeout(() => sock.resume(), 1);
      });
      sock.on('error', reject);
      sock.on('close', () => {
        const all = Buffer.concat(parts);
        resolve({ bytes: all.length, leaked: all.includes(key) });
      });
      sock.write(`GET /api/__compressed?coding=gzip&repeat=200000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    }, reject);
  });
  t.ok(slow.bytes > masked.length * 200000, `all ${String(slow.bytes)} bytes arrived`);
  t.notOk(slow.leaked);

  for (const [what, path] of [
    ['a coding Node cannot undo', '/api/__compressed?coding=x-custom'],
    ['two codings stacked', `/api/__compressed?coding=${encodeURIComponent('gzip, br')}`],
    ['a range of a compressed body', '/api/__compressed?status=206'],
  ] as const) {
    const refused = await get(g, path);
    t.equal(refused.status, 502, what);
    t.match(refused.body.toString(), /JITGATE_E_UPSTREAM_ENCODED/);
    t.notOk(refused.body.includes(gzipSync(`key: ${key}\n`)), 'none of its bytes reach the caller');
  }
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_UPSTREAM_ENCODED', 'the decision log says why');

  const corrupt = await raw(g.port, `GET /api/__compressed?repeat=1000&corrupt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(corrupt), 200, 'a body that fails to decompress: its head was sent');
  t.notOk(corrupt.endsWith('0\r\n\r\n'), 'and the body is cut off, not ended as if whole');
  t.notOk(corrupt.includes(key));

  const head = await get(g, '/api/__compressed', 'HEAD');
  t.equal(head.status, 200, 'a HEAD answer, which has no body, passes as it is');
  t.equal(head.headers['content-encoding'], 'gzip');
  t.equal((await get(g, '/api/__compressed?empty')).status, 204, 'so does a 204');

  // A request the gateway adds no secret to is still masked while the gateway holds one (the
  // upstream may echo what an earlier request carried), so its compressed answer is decoded too;
  // a gateway holding no secret at all has nothing to mask, and the answer passes as it is.
  const allowAlice = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\ndefault allow := false\n\nallow if input.subject.id == "alice"\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const uninjected = await startGateway({ policy: allowAlice, routes: (u) => [demoRoute(u, { default_credential: undefined })] });
  t.teardown(() => uninjected.close());
  const decoded = await get(uninjected, '/api/__compressed');
  t.equal(decoded.status, 200);
  t.equal(decoded.headers['content-encoding'], undefined, 'no credential on this request, yet the gateway holds some: decoded');
  t.equal(decoded.body.toString(), 'key: \n', 'and masked (nothing to mask here)');
  const bare = await startGateway({ policy: allowAlice, routes: (u) => [demoRoute(u, { credentials: {}, default_credential: undefined })] });
  t.teardown(() => bare.close());
  const passed = await get(bare, '/api/__compressed');
  t.equal(passed.status, 200);
  t.equal(passed.headers['content-encoding'], 'gzip', 'a gateway without secrets passes the compressed answer');
  t.equal(gunzipSync(passed.body).toString(), 'key: \n');
});

t.test('methods the gateway does not proxy: TRACE, CONNECT, PROPFIND', async (t) => {
  const before = g.upstream.seen.length;
  const trace = await raw(g.port, `TRACE /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(trace), 405);
  t.ok(trace.includes('JITGATE_E_METHOD_NOT_ALLOWED'));
  const propfind = await raw(g.port, `PROPFIND /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nConnection: close\r\n\r\n`);
  t.equal(status(propfind), 405);
  const tunnel = await raw(g.port, `CONNECT 127.0.0.1:${g.upstream.url.split(':').at(-1)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\n\r\n`);
  t.equal(status(tunnel), 405, 'no tunnels');
  t.equal(g.upstream.seen.length, before);
});

t.test('a body without Content-Type is streamed, not parsed or refused', async (t) => {
  g.grants.add('bob', 'writer', 600);
  const bob = await g.token('bob');
  const before = g.upstream.seen.length;
  const res = await raw(g.port, `PUT /api/orders/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bob}\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world`);
  t.equal(status(res), 200);
  t.equal(g.upstream.seen[before]?.body, 'hello world');
  t.equal(g.upstream.seen[before]?.headers['content-type'], undefined);
});

t.test('Expect: 100-continue: the body is invited only once the request is allowed', async (t) => {
  const before = g.upstream.seen.length;
  const anonymous = await sendExpectingContinue(g.port, 'POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11', 'hello world');
  t.equal(status(anonymous.text), 401, 'unauthenticated: the final answer comes first');
  t.notOk(anonymous.invited, 'nobody unauthenticated is asked for a body');
  const denied = await sendExpectingContinue(g.port, `DELETE /admin/users/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Length: 11`, 'hello world');
  t.equal(status(denied.text), 403);
  t.notOk(denied.invited, 'a denied request\'s body is never asked for');
  t.match(denied.text, /\r\nconnection: close\r\n/i, 'and the connection ends with the answer');
  t.equal(g.upstream.seen.length, before, 'the upstream saw neither');

  g.grants.add('bob', 'writer', 600);
  const allowed = await sendExpectingContinue(g.port, `PUT /api/orders/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await g.token('bob')}\r\nContent-Length: 11`, 'hello world');
  t.ok(allowed.invited, 'an allowed request is asked for its body');
  t.equal(status(allowed.text.slice(allowed.text.indexOf('\r\n\r\n') + 4)), 200, 'then answered');
  t.equal(g.upstream.seen[before]?.body, 'hello world', 'the body reached the upstream');
  t.equal(g.upstream.seen[before]?.headers.expect, undefined, 'the expectation was the gateway\'s to answer');
});

t.test('the upstream cannot forge the gateway\'s response headers', async (t) => {
  const res = await request(`${g.url}/api/__forge`, { headers: { authorization: `Bearer ${alice}` } });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.match(res.headers['x-jitgate-decision-id'], /^[0-9a-f-]{36}$/, 'the decision id is the gateway\'s');
  t.not(res.headers['x-request-id'], 'forged-too');
  t.equal(res.headers['x-secret-hop'], undefined, 'headers the upstream named in Connection are hop-by-hop');
  t.equal(res.headers['x-other-hop'], undefined, 'every name in the list, whatever its case and spacing');
});

t.test('obligation headers replace any copy the caller sent', async (t) => {
  const tagging = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\nallow := true\n\nobligations := {"credential": "readonly", "headers": {"x-tenant": "acme"}}\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const b = await startGateway({ policy: tagging });
  t.teardown(() => b.close());
  const res = await request(`${b.url}/api/orders`, { headers: { authorization: `Bearer ${await b.token('alice')}`, 'x-tenant': 'evil', x_tenant: 'evil' } });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(b.upstream.seen[0]?.headers['x-tenant'], 'acme');
  t.equal(b.upstream.seen[0]?.rawHeaders.filter((h) => h.toLowerCase() === 'x-tenant').length, 1, 'exactly one x-tenant header');
  t.notOk(b.upstream.seen[0]?.rawHeaders.some((h) => h.toLowerCase() === 'x_tenant'), 'nor an underscore spelling of it');
  const forbidden = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\nallow := true\n\nobligations := {"credential": "readonly", "headers": {"x-api-key": "chosen-by-policy"}}\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const f = await startGateway({ policy: forbidden });
  t.teardown(() => f.close());
  const res2 = await request(`${f.url}/api/orders`, { headers: { authorization: `Bearer ${await f.token('alice')}` } });
  await res2.body.dump();
  t.equal(res2.statusCode, 503, 'a policy may not set a credential header itself');
  t.equal(f.upstream.seen.length, 0);
});
