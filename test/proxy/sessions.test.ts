// An open WebSocket, or a response still streaming, lasts only as long as the access that opened
// it: revoking or outliving the grant, outliving the token, a new policy or a reload that stops
// allowing it ends it on both sides, with the deny decided, logged and audited. A session whose
// access stands stays open, decided again as configured.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import t, { type Test } from 'tap';
import { createAuthenticator, type IdentityConfig } from '../../src/identity/index.js';
import type { PolicyEvaluator } from '../../src/policy/index.js';
import { request } from 'undici';
import { within } from '../helpers/poll.js';
import { wsFrame, wsText } from '../helpers/ws-frames.js';
import { demoRoute, identityConfig, policyAllowingIf, SERVICE_KEY, startGateway, type Gateway } from './fixtures.js';

/** Makes the upstream accept upgrades and echo every chunk back as a text frame; returns, per upgrade, whether the gateway has ended it. */
function echoingUpstream(g: Gateway): { ended: boolean }[] {
  const sessions: { ended: boolean }[] = [];
  g.upstream.server.on('upgrade', (_req, socket: Socket) => {
    const session = { ended: false };
    sessions.push(session);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    socket.on('data', (d: Buffer) => { socket.write(wsFrame(Buffer.concat([Buffer.from('echo:'), d]))); });
    socket.on('end', () => { session.ended = true; socket.end(); });
    socket.on('close', () => { session.ended = true; });
    socket.on('error', () => { /* reset by the gateway: the close tells */ });
  });
  return sessions;
}

interface Session {
  status: number;
  /** Sends `text` and resolves with what comes back. */
  echo(text: string): Promise<string>;
  /** Resolves true once the gateway closed the connection, false if `ms` pass first. */
  closedWithin(ms: number): Promise<boolean>;
  /** The caller hangs up. */
  hangUp(): void;
}

function openSession(g: Gateway, path: string, token: string): Promise<Session> {
  return new Promise((resolve) => {
    const sock = connect(g.port, '127.0.0.1');
    let closed = false;
    const closeWaiters: (() => void)[] = [];
    sock.on('error', () => { /* the close tells */ });
    sock.on('close', () => {
      closed = true;
      for (const w of closeWaiters) w();
    });
    sock.once('data', (d: Buffer) => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 0);
      resolve({
        status,
        hangUp: () => { sock.destroy(); },
        echo: (text) => new Promise((done) => {
          sock.once('data', (reply: Buffer) => { done(wsText(reply)); });
          sock.write(text);
        }),
        closedWithin: (ms) => new Promise((done) => {
          if (closed) {
            done(true);
            return;
          }
          const timer = setTimeout(() => { done(false); }, ms);
          closeWaiters.push(() => {
            clearTimeout(timer);
            done(true);
          });
        }),
      });
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  });
}

async function upstreamEnded(sessions: { ended: boolean }[]): Promise<boolean> {
  return sessions.length > 0 && await within(() => sessions.every((s) => s.ended), 2000);
}

const websockets = (u: string): ReturnType<typeof demoRoute>[] => [demoRoute(u, { websocket: true })];

t.test('a WebSocket opened under a grant closes once the grant is revoked, and once it expires', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const erin = await g.issuer.issue('erin', ['eng']);

  const grant = g.grants.add('erin', 'admin', 600);
  const revoked = await openSession(g, '/admin/stream', erin);
  t.equal(revoked.status, 101, 'the admin grant opens the admin stream');
  t.equal(await revoked.echo('hello'), 'echo:hello');
  g.grants.revoke(grant.id);
  t.ok(await revoked.closedWithin(3000), 'revoked: the gateway closed the caller\'s socket');
  t.ok(await upstreamEnded(upstream), 'and the upstream\'s');
  const denial = g.audit.entries.at(-1);
  t.equal(denial?.kind, 'proxy.denied', 'the deny is audited');
  t.equal(denial?.subject, 'erin');
  t.equal(denial?.details.session, 'closed', 'as the decision that closed a session, not a request refused');
  const event = g.decisions.events.at(-1);
  t.equal(event?.jitgate.session, 'closed', 'and logged as the decision that closed the session');
  t.equal(event?.jitgate.error_code, 'JITGATE_E_FORBIDDEN');
  t.equal((event?.result as { allow: boolean } | undefined)?.allow, false);

  g.grants.add('erin', 'admin', 2);
  const expiring = await openSession(g, '/admin/stream', erin);
  t.equal(expiring.status, 101);
  t.equal(await expiring.echo('still here'), 'echo:still here');
  t.ok(await expiring.closedWithin(5000), 'expired: closed');
  t.ok(await upstreamEnded(upstream.slice(1)));
});

t.test('a WebSocket that goes on under a grant it did not open under has that grant on the trail first', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  echoingUpstream(g);
  const first = g.grants.add('erin', 'admin', 600);
  const session = await openSession(g, '/admin/stream', await g.issuer.issue('erin', ['eng']));
  t.teardown(() => { session.hangUp(); });
  t.equal(session.status, 101);
  const opening = g.audit.entries.filter((e) => e.kind === 'proxy.allowed_with_grant');
  t.same(opening.map((e) => e.grant_id), [first.id], 'the session opened on the record of its first grant');

  const second = g.grants.add('erin', 'admin', 600);
  g.grants.revoke(first.id);
  t.notOk(await session.closedWithin(2500), 'the second grant keeps it open');
  t.equal(await session.echo('still'), 'echo:still');
  const rechecked = g.audit.entries.filter((e) => e.kind === 'proxy.allowed_with_grant' && e.details.session === 'rechecked');
  t.equal(rechecked.length, 1, 'one record for the grant it now rests on');
  t.same(rechecked[0]?.details.grant_ids, [second.id], 'naming that grant');
  t.equal(rechecked[0]?.subject, 'erin');

  // Once recorded, decisions again under the same grant add nothing.
  await sleep(1500);
  t.equal(g.audit.entries.filter((e) => e.details.session === 'rechecked').length, 1, 'and no more while it rests on the same grant');
});

t.test('with the audit trail down, a session that would go on under a grant not yet recorded is ended', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const first = g.grants.add('erin', 'admin', 600);
  const session = await openSession(g, '/admin/stream', await g.issuer.issue('erin', ['eng']));
  t.equal(session.status, 101);
  g.audit.failing = true;
  g.grants.add('erin', 'admin', 600);
  g.grants.revoke(first.id);
  t.ok(await session.closedWithin(3000), 'closed: its access could not be recorded');
  t.ok(await upstreamEnded(upstream));
  const closing = g.decisions.events.filter((e) => e.jitgate.session === 'closed');
  t.equal(closing[0]?.jitgate.error_code, 'JITGATE_E_AUDIT_UNAVAILABLE');
});

t.test('a WebSocket closes once the token that opened it expires', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  echoingUpstream(g);
  // Two seconds of token; the dev issuer's verifier allows 5 s of clock skew past that.
  const session = await openSession(g, '/api/stream', await g.issuer.issue('alice', ['eng'], 2));
  t.equal(session.status, 101);
  t.ok(await session.closedWithin(12_000), 'closed after the token (and its skew) ran out');
  const closing = g.logLines.map((l) => JSON.parse(l) as { msg: string; why?: string }).find((l) => l.msg === 'session closed: the access that opened it ended');
  t.equal(closing?.why, 'JITGATE_E_TOKEN_EXPIRED', 'the log says why');
  const refusal = g.decisions.events.at(-1);
  t.same(refusal?.jitgate, { route: 'demo', error_code: 'JITGATE_E_TOKEN_EXPIRED', session: 'closed', latency_ns: refusal?.jitgate.latency_ns }, 'and the decision log records the refusal that closed it');
  t.equal(refusal?.result, undefined);
});

/** An issuer whose JWKS is a file the gateway reads again every second. */
async function fileIssuer(dir: string): Promise<{
  identity: (devKeyFile: string) => IdentityConfig; publish(...kids: string[]): void; rotate(kid: string): Promise<void>; sign(kid: string): Promise<string>;
}> {
  const keys = new Map<string, { priv: CryptoKey; jwk: JWK }>();
  const newKey = async (kid: string): Promise<void> => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    keys.set(kid, { priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
  };
  for (const kid of ['k1', 'k2']) await newKey(kid);
  const file = join(dir, 'jwks.json');
  const publish = (...kids: string[]): void => { writeFileSync(file, JSON.stringify({ keys: kids.map((k) => keys.get(k)?.jwk) })); };
  publish('k1', 'k2');
  return {
    // A new key under the same kid, the old one withdrawn: how many issuers rotate a compromised key.
    rotate: async (kid) => {
      await newKey(kid);
      publish('k1', 'k2');
    },
    identity: (devKeyFile) => ({
      ...identityConfig(devKeyFile),
      jwt: {
        issuer: 'https://issuer.test', audience: 'jitgate', algorithms: ['ES256'], jwks_file: file, clock_skew_seconds: 0,
        groups_claim: 'groups', subject_claim: 'sub', jwks_refresh_min_interval_seconds: 60, jwks_max_age_seconds: 1, token_cache_size: 100,
        jwks_fetch_timeout_ms: 5000, jwks_fetch_max_bytes: 4194304,
      },
    }),
    publish,
    sign: (kid) => new SignJWT({ groups: ['eng'] }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('https://issuer.test').setAudience('jitgate')
      .setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(keys.get(kid)?.priv as CryptoKey),
  };
}

t.test('a WebSocket closes once the issuer withdraws the key its token was signed with; a change that keeps it does not', async (t) => {
  const dir = t.testdir();
  const issuer = await fileIssuer(dir);
  const g = await startGateway({ routes: websockets, identity: issuer.identity });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const kept = await openSession(g, '/api/stream', await issuer.sign('k2'));
  t.teardown(() => { kept.hangUp(); });
  const withdrawn = await openSession(g, '/api/stream', await issuer.sign('k1'));
  t.equal(kept.status, 101);
  t.equal(withdrawn.status, 101);
  issuer.publish('k2');
  t.ok(await withdrawn.closedWithin(5000), 'the session opened with the withdrawn key is closed, long before recheck_seconds');
  t.ok(await upstreamEnded(upstream.slice(1)), 'on both sides');
  const closing = g.logLines.map((l) => JSON.parse(l) as { msg: string; why?: string }).find((l) => l.msg === 'session closed: the access that opened it ended');
  t.equal(closing?.why, 'JITGATE_E_TOKEN_INVALID', 'the log says why');
  t.equal(await kept.echo('still here'), 'echo:still here', 'the session whose key stays is open');
  // Its recheck runs beside the other's and may finish after the echo: waited for, not raced.
  t.ok(await within(() => g.decisions.events.some((e) => e.jitgate.session === 'rechecked' && e.jitgate.subject === 'alice'), 2000), 'after being decided again on the new keys');
});

t.test('a WebSocket closes once the issuer puts a new key under the kid its token was signed with', async (t) => {
  const dir = t.testdir();
  const issuer = await fileIssuer(dir);
  const g = await startGateway({ routes: websockets, identity: issuer.identity });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const session = await openSession(g, '/api/stream', await issuer.sign('k1'));
  t.equal(session.status, 101);
  await issuer.rotate('k1');
  t.ok(await session.closedWithin(5000), 'the session opened with the withdrawn key is closed');
  t.ok(await upstreamEnded(upstream), 'on both sides');
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_TOKEN_INVALID', 'its token no longer verifies: the decision log says so');
  const again = await openSession(g, '/api/stream', await issuer.sign('k1'));
  t.equal(again.status, 101, 'a token signed with the new key under that kid opens one');
  again.hangUp();
});

t.test('a request body still uploading when its grant is revoked is cut off: nothing sent after reaches the upstream', async (t) => {
  const g = await startGateway({ routes: (u) => [demoRoute(u, { body_limit_bytes: 10_000_000 })] });
  t.teardown(() => g.close());
  const grant = g.grants.add('erin', 'writer', 600);
  const sock = connect(g.port, '127.0.0.1');
  t.teardown(() => sock.destroy());
  sock.on('error', () => { /* the close tells */ });
  const conn = { closed: false };
  sock.on('close', () => { conn.closed = true; });
  sock.write(`PUT /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await g.issuer.issue('erin', ['eng'])}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = (text: string): void => { if (!conn.closed) sock.write(`${text.length.toString(16)}\r\n${text}\r\n`); };
  for (let i = 0; i < 3; i++) {
    chunk(`before-${String(i)};`);
    await sleep(300);
  }
  t.ok(await within(() => g.upstream.seen.some((s) => s.method === 'PUT' && s.body.includes('before-2')), 2000), 'the upload streams through while the grant stands');
  g.grants.revoke(grant.id);
  for (let i = 0; i < 10 && !conn.closed; i++) {
    chunk(`after-${String(i)};`);
    await sleep(300);
  }
  t.ok(conn.closed, 'the gateway ends the request once its grant is gone');
  const seen = g.upstream.seen.find((s) => s.method === 'PUT');
  t.notOk(seen?.body.includes('after-9'), 'bytes sent seconds after the revoke never reached the upstream');
  t.notOk(seen?.complete, 'and the upstream never got the request whole');
  t.ok(await within(() => g.decisions.events.some((e) => e.jitgate.session === 'closed' && e.jitgate.error_code === 'JITGATE_E_FORBIDDEN'), 2000), 'the deny that ended it is logged');
});

t.test('a WebSocket opened with an API key closes once a reload takes the key out; one opened with a token stays open', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const service = await openSession(g, '/api/reports/live', SERVICE_KEY);
  const user = await openSession(g, '/api/stream', await g.token('alice'));
  t.teardown(() => { user.hangUp(); });
  t.equal(service.status, 101, 'the service key opens a session');
  t.equal(user.status, 101);
  // What a SIGHUP does with a file whose api_keys no longer hold the service's key.
  const next = createAuthenticator({ ...identityConfig(g.keyFile), api_keys: [] }, { logger: g.logger, previous: g.authenticator });
  await next.start({ keysRequired: true });
  g.authenticator.replace(next);
  t.ok(await service.closedWithin(5000), 'the session opened with the key taken out is closed, long before recheck_seconds');
  t.ok(await upstreamEnded(upstream.slice(0, 1)), 'on both sides');
  const closing = g.logLines.map((l) => JSON.parse(l) as { msg: string; why?: string }).find((l) => l.msg === 'session closed: the access that opened it ended');
  t.equal(closing?.why, 'JITGATE_E_API_KEY_INVALID', 'the log says why');
  t.equal(await user.echo('still here'), 'echo:still here', 'the session of a token from the unchanged issuer stays open');
});

t.test('a route reload that no longer allows WebSockets closes the open ones', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const session = await openSession(g, '/api/stream', await g.token('alice'));
  t.equal(session.status, 101);
  g.proxy.updateRoutes([demoRoute(g.upstream.url, { websocket: false })]);
  t.ok(await session.closedWithin(3000), 'closed after the reload');
  t.ok(await upstreamEnded(upstream));
  t.equal(g.decisions.events.at(-1)?.jitgate.error_code, 'JITGATE_E_UPGRADE_REFUSED', 'logged as the route refusing it');
});

t.test('a new policy revision that denies closes the open ones', async (t) => {
  const engines = { open: await policyAllowingIf(['true'], 'open'), closed: await policyAllowingIf(['false'], 'streams are closed') };
  let serving: 'open' | 'closed' = 'open';
  // A hot reload, as the policy manager does it: a new revision answers from the next decision on.
  const policy: PolicyEvaluator = {
    get revision() { return `rev-${serving}`; },
    authorize: (input) => engines[serving].authorize(input),
    elevation: (input) => engines[serving].elevation(input),
  };
  const g = await startGateway({ policy, routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const session = await openSession(g, '/api/stream', await g.token('alice'));
  t.equal(session.status, 101);
  serving = 'closed';
  t.ok(await session.closedWithin(3000), 'closed under the new revision');
  t.ok(await upstreamEnded(upstream));
  t.equal((g.decisions.events.at(-1)?.result as { reason?: string } | undefined)?.reason, 'streams are closed');
});

t.test('a session whose access stands stays open, decided again every recheck_seconds', async (t) => {
  const g = await startGateway({ routes: (u) => [demoRoute(u, { websocket: true, recheck_seconds: 1 })] });
  t.teardown(() => g.close());
  echoingUpstream(g);
  const session = await openSession(g, '/api/stream', await g.token('alice'));
  t.teardown(() => { session.hangUp(); });
  t.equal(session.status, 101);
  // Checked every second, decided again once a second has passed since the last decision: at
  // least every other second, whatever the timers' phase.
  t.notOk(await session.closedWithin(4600), 'still open after 4.6 s');
  t.equal(await session.echo('ping'), 'echo:ping');
  const rechecks = g.decisions.events.filter((e) => e.jitgate.session === 'rechecked');
  t.ok(rechecks.length >= 2, `decided again (${String(rechecks.length)} times), each logged`);
  t.ok(rechecks.every((e) => (e.result as { allow: boolean }).allow), 'and allowed');
  t.equal(g.decisions.events.filter((e) => e.jitgate.session === 'closed').length, 0);
});

/**
 * Opens erin's admin event stream (the upstream's `__drip` with `query`) under an admin grant,
 * revokes the grant 1.5 s in, and checks the stream is then cut, its upstream call dropped, the
 * deny audited and logged once. Returns what the caller had received by the revoke, and in all.
 */
async function revokeMidStream(t: Test, query: string): Promise<{ atRevoke: string; received: string }> {
  const g = await startGateway();
  t.teardown(() => g.close());
  const grant = g.grants.add('erin', 'admin', 600);
  const res = await request(`${g.url}/admin/__drip${query}`, { headers: { authorization: `Bearer ${await g.issuer.issue('erin', ['eng'])}` } });
  // Node holds a head back until the first chunk: a quiet stream's would wait for its first event.
  t.equal(res.statusCode, 200, 'the admin grant opens the admin event stream, its head ahead of any event');
  let received = '';
  const ended = new Promise<string>((resolve) => {
    res.body.on('data', (d: Buffer) => { received += d.toString(); });
    res.body.on('error', (err: Error) => { resolve(`cut: ${err.message}`); });
    res.body.on('end', () => { resolve('ended'); });
  });
  await new Promise((r) => setTimeout(r, 1500));
  const atRevoke = received;
  g.grants.revoke(grant.id);
  const outcome = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => { r('still streaming'); }, 4000))]);
  t.match(outcome, /^cut/, 'the response was cut within seconds of the revoke, never ended as if complete');
  const seen = g.upstream.seen.find((s) => s.url.includes('__drip'));
  await within(() => seen?.abandoned === true, 2000);
  t.equal(seen?.abandoned, true, 'the gateway dropped the upstream call');
  t.equal(g.audit.entries.at(-1)?.kind, 'proxy.denied', 'the deny is audited');
  const closing = g.decisions.events.filter((e) => e.jitgate.session === 'closed');
  t.equal(closing.length, 1, 'and logged as the decision that ended the stream');
  t.equal(closing[0]?.jitgate.error_code, 'JITGATE_E_FORBIDDEN');
  return { atRevoke, received };
}

t.test('an event stream opened under a grant is cut once the grant is revoked; the upstream call with it', async (t) => {
  const { atRevoke } = await revokeMidStream(t, '');
  t.match(atRevoke, /tick/, 'events flowed while the grant stood');
});

t.test('a quiet event stream is cut once its grant is revoked, before its next event could pass', async (t) => {
  // Headers at once, then nothing for 8 s: no chunk passes the gateway to notice the stream by.
  const { received } = await revokeMidStream(t, '?every=8000');
  t.equal(received, '', 'the event due at 8 s never reached the caller');
});

t.test('an event stream whose grant ends 300 ms after its decision is cut within a second of the end', async (t) => {
  const g = await startGateway();
  t.teardown(() => g.close());
  const grant = g.grants.add('erin', 'admin', 0.3);
  const expiresMs = grant.expires_at_ns / 1e6;
  const res = await request(`${g.url}/admin/__drip?ms=5000`, { headers: { authorization: `Bearer ${await g.issuer.issue('erin', ['eng'])}` } });
  t.equal(res.statusCode, 200, 'the grant opens the stream');
  let lastDataMs = 0;
  const outcome = await new Promise<string>((resolve) => {
    res.body.on('data', () => { lastDataMs = Date.now(); });
    res.body.on('error', (err: Error) => { resolve(`cut: ${err.message}`); });
    res.body.on('end', () => { resolve('ended'); });
  });
  t.match(outcome, /^cut/, 'the stream was cut');
  // Watched from a second after the decision on, and decided again at once then: before, only a
  // second later still, about 1.7 s past the grant's end.
  t.ok(lastDataMs - expiresMs < 1_300, `its last event came ${String(Math.round(lastDataMs - expiresMs))} ms after the grant ended`);
});

t.test('an event stream whose access stands goes on; short responses are never decided again', async (t) => {
  const g = await startGateway({ routes: (u) => [demoRoute(u, { recheck_seconds: 1 })] });
  t.teardown(() => g.close());
  const alice = await g.token('alice');
  for (let i = 0; i < 20; i++) await (await request(`${g.url}/api/orders/${String(i)}`, { headers: { authorization: `Bearer ${alice}` } })).body.dump();
  const res = await request(`${g.url}/api/__drip?ms=4500`, { headers: { authorization: `Bearer ${alice}` } });
  const body = await res.body.text();
  t.equal(res.statusCode, 200);
  t.match(body, /done$/, 'the whole stream arrived');
  const rechecks = g.decisions.events.filter((e) => e.jitgate.session === 'rechecked');
  t.ok(rechecks.length >= 1, `the stream was decided again (${String(rechecks.length)} times)`);
  t.ok(rechecks.every((e) => (e.input as { request: { path: string } }).request.path === '/api/__drip'), 'only the stream: the 20 short requests were over before a second');
  t.equal(rechecks.at(-1)?.jitgate.upstream_status, 200);
});

t.test('a streamed answer to a request the policy read the body of is decided again on that body, not by reading it twice', async (t) => {
  const g = await startGateway({
    policy: await policyAllowingIf(['input.request.body.amount < 100'], 'small amounts only'),
    routes: (u) => [demoRoute(u, { recheck_seconds: 1, policy_body: { max_bytes: 4096, content_types: ['application/json'], read_timeout_ms: 300 } })],
  });
  t.teardown(() => g.close());
  const res = await request(`${g.url}/api/__drip?ms=3000`, {
    method: 'POST', headers: { authorization: `Bearer ${await g.token('alice')}`, 'content-type': 'application/json' }, body: '{"amount":40}',
  });
  const body = await res.body.text();
  t.equal(res.statusCode, 200);
  t.match(body, /done$/, 'the whole stream arrived: a second read of the body would have timed out and cut it');
  const rechecks = g.decisions.events.filter((e) => e.jitgate.session === 'rechecked');
  t.ok(rechecks.length >= 1, `decided again (${String(rechecks.length)} times)`);
  t.same((rechecks[0]?.input as { request: { body?: unknown } }).request.body, { amount: 40 }, 'on the body the policy read at first');
});

t.test('with the audit trail down, a session its access no longer allows is ended all the same', async (t) => {
  const g = await startGateway({ routes: websockets });
  t.teardown(() => g.close());
  const upstream = echoingUpstream(g);
  const grant = g.grants.add('erin', 'admin', 600);
  const session = await openSession(g, '/admin/stream', await g.issuer.issue('erin', ['eng']));
  t.equal(session.status, 101);
  g.audit.failing = true;
  g.grants.revoke(grant.id);
  t.ok(await session.closedWithin(3000), 'closed');
  t.ok(await upstreamEnded(upstream));
  const closing = g.decisions.events.filter((e) => e.jitgate.session === 'closed');
  t.equal(closing.length, 1, 'one decision-log event for the deny');
  t.equal(closing[0]?.jitgate.error_code, 'JITGATE_E_AUDIT_UNAVAILABLE', 'saying the trail could not take it');
});

t.test('a new policy revision that denies, landing before a stream starts to linger, still cuts it', async (t) => {
  // The watch of a streaming response starts a second after its decision; the change lands
  // before that, while the upstream is still answering. The watch must compare against the
  // revision that decided, not the one serving when it starts.
  const engines = { open: await policyAllowingIf(['true'], 'open'), closed: await policyAllowingIf(['false'], 'streams are closed') };
  let serving: 'open' | 'closed' = 'open';
  // As the policy manager swaps engines: the revision serving is the one its decisions carry.
  const policy: PolicyEvaluator = {
    get revision() { return `rev-${serving}`; },
    authorize: (input) => ({ ...engines[serving].authorize(input), revision: `rev-${serving}` }),
    elevation: (input) => ({ ...engines[serving].elevation(input), revision: `rev-${serving}` }),
  };
  const g = await startGateway({ policy });
  t.teardown(() => g.close());
  // The new revision swaps in the moment the upstream gets the (already decided) request.
  g.upstream.server.prependListener('request', (req: { url?: string }) => { if (req.url?.includes('__drip')) serving = 'closed'; });
  // Events every 100 ms, the stream's own end after 8 s: long past the first recheck, far short of recheck_seconds (60).
  const res = await request(`${g.url}/api/__drip?ms=8000`, { headers: { authorization: `Bearer ${await g.token('alice')}` } });
  t.equal(res.statusCode, 200, 'the stream opens under the revision that allowed it');
  t.equal(serving, 'closed', 'and the revision that denies serves before its first event');
  let received = '';
  const outcome = await new Promise<string>((resolve) => {
    res.body.on('data', (d: Buffer) => { received += d.toString(); });
    res.body.on('error', (err: Error) => { resolve(`cut: ${err.message}`); });
    res.body.on('end', () => { resolve('ended'); });
  });
  t.match(outcome, /^cut/, 'the stream was cut, not run to its end');
  t.notMatch(received, /done/, 'the caller never got the end of the stream');
  const seen = g.upstream.seen.find((s) => s.url.includes('__drip'));
  t.ok(await within(() => seen?.abandoned === true, 2000), 'the gateway dropped the upstream call');
  const closing = g.decisions.events.filter((e) => e.jitgate.session === 'closed');
  t.equal(closing.length, 1, 'the deny that ended it is logged');
  t.equal((closing[0]?.result as { reason?: string } | undefined)?.reason, 'streams are closed', 'decided by the new revision');
  t.equal(g.audit.entries.at(-1)?.kind, 'proxy.denied', 'and audited');
});
