// Every request the gateway answers leaves a record, the ones it refuses before any policy decision
// too (no route, no identity, an ambiguous target, a method it does not proxy, a body over the
// limit): a decision-log event without a result, whose id the caller gets to quote. Each request
// is sent for real; none may reach the upstream, and none may leave its credential in the log.
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { request } from 'undici';
import type { DecisionLogEvent } from '../../src/audit/index.js';
import { demoRoute, noMetrics, policyFrom, startGateway, type Gateway } from './fixtures.js';

type Logged = Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>;

let g: Gateway;
/** What jitgate_proxy_requests_total counted: kind and status. */
const counted: string[] = [];
t.before(async () => {
  g = await startGateway({
    routes: (u) => [demoRoute(u, { match: { path_prefix: '/api' } })],
    metrics: { ...noMetrics, proxyRequest(_route, kind, status) { counted.push(`${kind} ${String(status)}`); } },
  });
});
t.teardown(async () => { await g.close(); });

interface Answer { status: number; decisionId: string | undefined; bodyDecisionId: string | undefined; code: string | undefined }

async function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const res = await request(`${g.url}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const text = await res.body.text();
  const body = JSON.parse(text) as { error?: { code?: string; decision_id?: string } };
  const id = res.headers['x-jitgate-decision-id'];
  return { status: res.statusCode, decisionId: typeof id === 'string' ? id : undefined, bodyDecisionId: body.error?.decision_id, code: body.error?.code };
}

function eventOf(id: string | undefined): Logged | undefined {
  return g.decisions.events.find((e) => e.decision_id === id);
}

function requestOf(e: Logged | undefined): Record<string, unknown> {
  return (e?.input as { request?: Record<string, unknown> } | undefined)?.request ?? {};
}

/** Sends one request, checks the answer quotes a logged refusal, and returns that event. */
async function refused(t: Test, path: string, init: Parameters<typeof send>[1], status: number, code: string): Promise<Logged | undefined> {
  const seen = g.upstream.seen.length;
  const a = await send(path, init);
  t.equal(a.status, status, `${init?.method ?? 'GET'} ${path}: ${status}`);
  t.equal(a.code, code);
  t.ok(a.decisionId, 'the answer carries a decision id');
  t.equal(a.bodyDecisionId, a.decisionId, 'the body quotes the same id');
  const e = eventOf(a.decisionId);
  t.ok(e, 'and the decision log has an event with that id');
  t.equal(e?.result, undefined, 'without a result: the policy was not asked');
  t.equal(e?.jitgate.error_code, code, 'naming why');
  t.equal(requestOf(e).client_ip, '127.0.0.1', 'and who sent it, by address');
  t.equal(g.upstream.seen.length, seen, 'the upstream saw nothing');
  return e;
}

t.test('no credential: 401, logged with the route and the normalized path', async (t) => {
  const e = await refused(t, '/api/orders/7?page=2', {}, 401, 'JITGATE_E_UNAUTHENTICATED');
  t.equal(e?.jitgate.route, 'demo');
  t.equal(e?.jitgate.subject, undefined, 'no subject');
  t.same(requestOf(e), { method: 'GET', path: '/api/orders/7', query: { page: ['2'] }, host: `127.0.0.1:${g.port}`, client_ip: '127.0.0.1' });
  t.equal((e?.input as Record<string, unknown>).subject, undefined);
});

t.test('a forged token: 401, and the token is nowhere in the log', async (t) => {
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: 'admin', iss: 'jitgate-dev', aud: 'jitgate', exp: 4102444800 })).toString('base64url');
  const token = `${header}.${payload}.`;
  const e = await refused(t, '/api/orders', { headers: { authorization: `Bearer ${token}` } }, 401, 'JITGATE_E_TOKEN_INVALID');
  t.notOk(JSON.stringify(g.decisions.events).includes(payload), 'the token is not logged');
  t.equal(e?.jitgate.subject, undefined, 'and its claimed subject is not taken for one');
});

t.test('an ambiguous target: 400, logged with its raw path and without its query', async (t) => {
  const e = await refused(t, '/api/a%2Fb?access_token=leaked-value-8d1f', {}, 400, 'JITGATE_E_REQUEST_AMBIGUOUS');
  t.equal(requestOf(e).raw_path, '/api/a%2Fb', 'what was tried');
  t.equal(requestOf(e).path, undefined, 'no normalized path: there was none');
  t.notOk(JSON.stringify(e).includes('leaked-value-8d1f'), 'a query the gateway did not parse is not logged');
  const long = await refused(t, `/api/%2F${'x'.repeat(5000)}`, {}, 400, 'JITGATE_E_REQUEST_AMBIGUOUS');
  t.equal(String(requestOf(long).raw_path).length, 1024, 'a long raw path is cut to 1024 characters');
});

t.test('no route: 404, logged without one', async (t) => {
  const e = await refused(t, '/elsewhere', {}, 404, 'JITGATE_E_NO_ROUTE');
  t.equal(e?.jitgate.route, undefined);
  t.equal(requestOf(e).path, '/elsewhere');
});

t.test('a method the gateway does not proxy: 405, logged', async (t) => {
  const e = await refused(t, '/api/orders', { method: 'PROPFIND' }, 405, 'JITGATE_E_METHOD_NOT_ALLOWED');
  t.equal(requestOf(e).method, 'PROPFIND');
});

t.test('a body over the limit from a caller who authenticated: 413, logged with who it was', async (t) => {
  const token = await g.token('alice');
  const e = await refused(t, '/api/orders', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: 'x'.repeat(4096) }, 413, 'JITGATE_E_BODY_TOO_LARGE');
  t.equal(e?.jitgate.subject, 'alice');
  t.equal((e?.input as { subject?: { id?: string } }).subject?.id, 'alice', 'the verified subject is in the input');
  t.notOk(JSON.stringify(e).includes(token.split('.')[1] ?? '-'), 'its token is not');
});

t.test('a Content-Type that is not a media type, on a request with a body: 400, logged and counted like any refusal', async (t) => {
  const token = await g.token('alice');
  for (const [method, type] of [['POST', 'text'], ['PUT', 'foo'], ['DELETE', 'a, b'], ['POST', 'application/json, text/plain'], ['PATCH', ';'], ['POST', 'a/b c']] as const) {
    const before = counted.length;
    const res = await request(`${g.url}/api/orders`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': type, 'x-request-id': 'ct-trace-1' }, body: '{"n":1}' });
    const body = JSON.parse(await res.body.text()) as { error?: { code?: string; decision_id?: string; request_id?: string } };
    t.equal(res.statusCode, 400, `${method} with Content-Type ${JSON.stringify(type)}`);
    t.equal(body.error?.code, 'JITGATE_E_BAD_REQUEST', 'in the catalogue\'s shape');
    t.equal(res.headers['x-request-id'], 'ct-trace-1', 'with the request id');
    const id = res.headers['x-jitgate-decision-id'];
    t.ok(typeof id === 'string' && id === body.error?.decision_id, 'and the decision id, in the header and the body');
    const e = eventOf(typeof id === 'string' ? id : undefined);
    t.equal(e?.jitgate.error_code, 'JITGATE_E_BAD_REQUEST', 'naming a logged refusal');
    t.equal(e?.result, undefined, 'the policy was not asked');
    t.same(counted.slice(before), ['error 400'], 'counted');
  }
  t.equal(g.upstream.seen.length, 0, 'the upstream saw none of them');
});

t.test('CONNECT: 405, logged, and no tunnel', async (t) => {
  const seen = g.upstream.seen.length;
  const text = await new Promise<string>((resolve, reject) => {
    const sock = connect(g.port, '127.0.0.1');
    let out = '';
    sock.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    sock.on('close', () => { resolve(out); });
    sock.on('error', reject);
    const upstream = new URL(g.upstream.url).host;
    sock.write(`CONNECT ${upstream} HTTP/1.1\r\nHost: ${upstream}\r\n\r\n`);
  });
  t.match(text, /^HTTP\/1\.1 405 /);
  const id = /"decision_id":"([^"]+)"/.exec(text)?.[1];
  const e = eventOf(id);
  t.equal(e?.jitgate.error_code, 'JITGATE_E_METHOD_NOT_ALLOWED');
  t.equal(requestOf(e).method, 'CONNECT');
  t.equal(g.upstream.seen.length, seen, 'the upstream saw nothing');
});

/** A WebSocket upgrade to /api/ws, sent raw: the whole answer, once the gateway closes. */
function upgrade(port: number, token: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    });
    let out = '';
    s.on('data', (d: Buffer) => { out += d.toString(); });
    s.on('end', () => { resolve(out); });
    s.on('error', reject);
  });
}

t.test('a WebSocket the policy allows but that cannot go (a credential the route lacks): 503, and its decision is logged', async (t) => {
  const policy = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\ndefault allow := true\n\nreason := "ok"\n\nobligations := {"credential": "nope"}\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const ws = await startGateway({ policy, routes: (u) => [demoRoute(u, { websocket: true })] });
  t.teardown(() => ws.close());
  const token = await ws.token('alice');
  const answer = await upgrade(ws.port, token);
  t.match(answer, /^HTTP\/1\.1 503 /);
  const id = /x-jitgate-decision-id: ([0-9a-f-]+)/i.exec(answer)?.[1];
  const logged = ws.decisions.events.find((e) => e.decision_id === id);
  t.ok(id !== undefined && logged, 'the id it answers with names a logged decision');
  t.equal(logged?.jitgate.error_code, 'JITGATE_E_CREDENTIAL_UNKNOWN', 'saying why it did not go');
  t.equal(ws.upstream.seen.length, 0, 'the upstream saw nothing');
});

t.test('a grant revoked while the audit record of a decision made under it is being written: the request is decided again, the upgrade refused', async (t) => {
  const policy = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\ndefault allow := false\n\nallow if count(input.grants) > 0\n\ngrant_ids := [g.id | some g in input.grants]\n\nreason := "under a grant"\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const gw = await startGateway({ policy, routes: (u) => [demoRoute(u, { websocket: true })] });
  t.teardown(() => gw.close());
  const token = await gw.token('alice');
  const append = gw.audit.append.bind(gw.audit);
  let grant = gw.grants.add('alice', 'writer', 600);
  // The revoke lands while the append is under way, as a group commit lets it.
  gw.audit.append = (entry) => {
    if (entry.kind === 'proxy.allowed_with_grant') gw.grants.revoke(grant.id);
    return append(entry);
  };
  const res = await request(`${gw.url}/api/items`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.body.text();
  t.equal(res.statusCode, 403, `HTTP: decided again on what holds now, and denied (${body})`);
  t.equal(gw.upstream.seen.length, 0, 'nothing forwarded');
  const [allowed, denied] = gw.audit.entries;
  t.same(gw.audit.entries.map((e) => e.kind), ['proxy.allowed_with_grant', 'proxy.denied'], 'the trail: the allow, then the deny that replaced it');
  t.equal(denied?.details.supersedes, allowed?.decision_id, 'the deny names the allow it replaced');
  t.equal(denied?.decision_id, res.headers['x-jitgate-decision-id'], 'and is the decision the caller was told');

  grant = gw.grants.add('alice', 'writer', 600);
  gw.audit.entries.length = 0;
  const answer = await upgrade(gw.port, token);
  t.match(answer, /^HTTP\/1\.1 503 [\s\S]*JITGATE_E_STORE_UNAVAILABLE/, 'WebSocket: refused, never opened on the ended grant');
  const id = /x-jitgate-decision-id: ([0-9a-f-]+)/i.exec(answer)?.[1];
  t.ok(gw.decisions.events.some((e) => e.decision_id === id), 'under a logged decision');
  t.equal(gw.upstream.seen.length, 0, 'the upstream saw nothing');
  t.same(gw.audit.entries.map((e) => [e.kind, e.decision_id, e.details.error_code]), [
    ['proxy.allowed_with_grant', id, undefined],
    ['proxy.not_forwarded', id, 'JITGATE_E_STORE_UNAVAILABLE'],
  ], 'the trail says the upgrade it recorded as allowed did not go');
});

/** A policy that allows under any grant (naming them all), and reads under /api/open on standing access. */
const grantOrOpen = (): ReturnType<typeof policyFrom> => policyFrom({
  'authz.rego': [
    'package jitgate.authz', '',
    'default allow := false', '',
    'allow if count(input.grants) > 0', '',
    'allow if startswith(input.request.path, "/api/open")', '',
    'grant_ids := [g.id | some g in input.grants]', '',
    'reason := "under a grant" if count(input.grants) > 0', '',
    'else := "open to all"', '',
  ].join('\n'),
  'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
});

t.test('grants that move during every audit append: three decisions, each recorded as replacing the one before, then 503 recorded as not forwarded', async (t) => {
  const gw = await startGateway({ policy: await grantOrOpen(), routes: (u) => [demoRoute(u)] });
  t.teardown(() => gw.close());
  const token = await gw.token('alice');
  const append = gw.audit.append.bind(gw.audit);
  let grant = gw.grants.add('alice', 'writer', 600);
  // Each append waits behind a revoke and a new grant: every round is allowed, none may go.
  gw.audit.append = (entry) => {
    if (entry.kind === 'proxy.allowed_with_grant') {
      gw.grants.revoke(grant.id);
      grant = gw.grants.add('alice', 'writer', 600);
    }
    return append(entry);
  };
  const res = await request(`${gw.url}/api/items`, { headers: { authorization: `Bearer ${token}` } });
  const body = JSON.parse(await res.body.text()) as { error?: { code?: string } };
  t.equal(res.statusCode, 503);
  t.equal(body.error?.code, 'JITGATE_E_STORE_UNAVAILABLE');
  t.equal(gw.upstream.seen.length, 0, 'nothing forwarded');
  const trail = gw.audit.entries;
  t.same(trail.map((e) => e.kind), ['proxy.allowed_with_grant', 'proxy.allowed_with_grant', 'proxy.allowed_with_grant', 'proxy.not_forwarded']);
  const [d1, d2, d3, last] = trail.map((e) => e.decision_id);
  t.same(trail.map((e) => e.details.supersedes), [undefined, d1, d2, d2], 'each later decision names the one it replaced');
  t.equal(last, d3, 'the last decision, whose allow is recorded, is recorded as not forwarded');
  t.equal(last, res.headers['x-jitgate-decision-id'], 'and is the decision the caller was told');
  t.equal(trail[3]?.details.error_code, 'JITGATE_E_STORE_UNAVAILABLE');
  const logged = gw.decisions.events.map((e) => [e.decision_id, e.jitgate.error_code, e.jitgate.supersedes]);
  t.same(logged, [[d1, 'JITGATE_E_CONFLICT', undefined], [d2, 'JITGATE_E_CONFLICT', d1], [d3, 'JITGATE_E_STORE_UNAVAILABLE', d2]], 'the decision log links the rounds too');
});

t.test('decided again and now allowed on standing access: recorded, and not forwarded when that record cannot be written', async (t) => {
  const gw = await startGateway({ policy: await grantOrOpen(), routes: (u) => [demoRoute(u)] });
  t.teardown(() => gw.close());
  const token = await gw.token('alice');
  const append = gw.audit.append.bind(gw.audit);
  let trailDown = false;
  // The grant is revoked during the allow's append; with `trailDown`, the trail fails right after it.
  gw.audit.append = (entry) => {
    const appended = append(entry);
    if (entry.kind === 'proxy.allowed_with_grant') {
      for (const g of gw.grants.bySubject.get('alice') ?? []) gw.grants.revoke(g.id);
      gw.audit.failing = trailDown;
    }
    return appended;
  };

  gw.grants.add('alice', 'writer', 600);
  const res = await request(`${gw.url}/api/open/a`, { headers: { authorization: `Bearer ${token}` } });
  await res.body.text();
  t.equal(res.statusCode, 200, 'allowed on standing access once the grant is gone');
  t.equal(gw.upstream.seen.length, 1, 'and forwarded');
  const [allowed, standing] = gw.audit.entries;
  t.same(gw.audit.entries.map((e) => [e.kind, e.grant_id]), [['proxy.allowed_with_grant', allowed?.grant_id], ['proxy.allowed_standing', null]]);
  t.ok(allowed?.grant_id, 'the first record names the grant');
  t.equal(standing?.details.supersedes, allowed?.decision_id, 'the standing allow names the allow it replaced');
  t.equal(standing?.decision_id, res.headers['x-jitgate-decision-id'], 'and is the decision it went under');

  trailDown = true;
  gw.grants.add('alice', 'writer', 600);
  const refused = await request(`${gw.url}/api/open/b`, { headers: { authorization: `Bearer ${token}` } });
  const body = JSON.parse(await refused.body.text()) as { error?: { code?: string } };
  gw.audit.failing = false;
  t.equal(refused.statusCode, 503, 'the standing allow cannot be recorded: refused');
  t.equal(body.error?.code, 'JITGATE_E_AUDIT_UNAVAILABLE');
  t.equal(gw.upstream.seen.length, 1, 'and not forwarded');
  t.equal(gw.audit.entries.at(-1)?.kind, 'proxy.allowed_with_grant', 'its allow under the grant was the last record written');
});
