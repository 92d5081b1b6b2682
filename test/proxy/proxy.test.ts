// The data path end to end with the real policy engine: allow forwards with the chosen credential,
// deny answers 403 with the elevation hint and leaves an audit record, errors fail closed.
import { connect } from 'node:net';
import t from 'tap';
import { Pool, request } from 'undici';
import pino from 'pino';
import { createMetrics } from '../../src/observability/index.js';
import { createProxyServer, elevationUrl } from '../../src/proxy/index.js';
import { demoRoute, leaks, noMetrics, policyFrom, SECRETS, SERVICE_KEY, startGateway, streamChunk, type Gateway } from './fixtures.js';

let g: Gateway;
t.before(async () => { g = await startGateway(); });
t.teardown(async () => { await g.close(); });

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`${g.url}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: parseJson(text) };
}

t.test('an employee reads under /api/: forwarded with the read-only key, caller credentials gone', async (t) => {
  const before = g.upstream.seen.length;
  const token = await g.token('alice');
  const res = await call('/api/orders?limit=5&tag=a&tag=b', {
    headers: { authorization: `Bearer ${token}`, cookie: 'jitgate_session=abc; app=1', 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-forwarded-host': 'evil' },
  });
  t.equal(res.status, 200);
  t.match(res.headers['x-jitgate-decision-id'], /^[0-9a-f-]{36}$/);
  t.ok(res.headers['x-request-id']);
  const seen = g.upstream.seen.slice(before);
  t.equal(seen.length, 1);
  const up = seen[0]!;
  t.equal(up.url, '/api/orders?limit=5&tag=a&tag=b');
  t.equal(up.headers['x-api-key'], SECRETS.DEMO_UPSTREAM_READ_KEY, 'the broker injected the read-only credential');
  t.equal(up.headers.authorization, undefined, 'the caller token is not forwarded');
  t.equal(up.headers.cookie, undefined, 'no cookie goes beside an injected credential (the gateway\'s nor the application\'s)');
  t.equal(up.headers['x-forwarded-for'], '127.0.0.1', 'forwarding headers are the gateway\'s own');
  t.notOk(String(up.headers.forwarded).includes('6.6.6.6'));
  t.equal(up.headers['x-forwarded-host'], `127.0.0.1:${g.port}`);
  t.same(leaks(g, res.text, JSON.stringify(res.headers)), [], 'the echoed secret never comes back to the caller');
  t.ok(res.text.includes('*'.repeat(SECRETS.DEMO_UPSTREAM_READ_KEY.length)), 'the echo is masked, not dropped');
  const ev = g.decisions.events.find((e) => e.decision_id === res.headers['x-jitgate-decision-id']);
  t.ok(ev, 'one decision-log event for the decision');
  t.equal(ev?.path, 'jitgate/authz');
  t.equal(ev?.jitgate.upstream_status, 200);
  t.same((ev?.input as { request: { query: unknown } }).request.query, { limit: ['5'], tag: ['a', 'b'] });
});

t.test('a decision-log event is stamped with the millisecond it was decided in, also where now_ns is not exact', async (t) => {
  // now_ns is that millisecond times 1e6: above 2^53 as a double it is rounded, for about one
  // millisecond in eight just below the exact value. Divided back and floored, it read one earlier.
  let ms = Date.now();
  while (Math.floor((ms * 1e6) / 1e6) === ms) ms++;
  const token = await g.token('alice');
  const realNow = Date.now;
  Date.now = () => ms;
  let res: Awaited<ReturnType<typeof call>>;
  try {
    res = await call('/api/orders/3', { headers: { authorization: `Bearer ${token}` } });
  } finally {
    Date.now = realNow;
  }
  t.equal(res.status, 200);
  const ev = g.decisions.events.find((e) => e.decision_id === res.headers['x-jitgate-decision-id']);
  t.equal(ev?.timestamp, new Date(ms).toISOString(), 'the timestamp is the decision\'s millisecond');
  t.equal((ev?.input as { now_ns: number }).now_ns, ms * 1e6, 'and the input the policy saw carries the same instant');
});

t.test('a write without a grant: 403 with reason, revision, decision id, elevation command; audited; never forwarded', async (t) => {
  const before = g.upstream.seen.length;
  const token = await g.token('alice');
  const res = await call('/api/orders', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"a":1}' });
  t.equal(res.status, 403);
  t.equal(res.json.error.code, 'JITGATE_E_FORBIDDEN');
  t.equal(res.json.error.message, 'writes under /api/ need an active writer grant');
  t.equal(res.json.error.policy_revision, 'test-revision');
  t.equal(res.json.error.decision_id, res.headers['x-jitgate-decision-id']);
  t.same(res.json.error.elevation, { role: 'writer', max_duration_seconds: 28800, command: 'jitgate request --role writer --duration 8h --reason "..."' });
  t.equal(g.upstream.seen.length, before, 'the upstream never saw it');
  const audit = g.audit.entries.find((e) => e.decision_id === res.json.error.decision_id);
  t.equal(audit?.kind, 'proxy.denied');
  t.equal(audit?.subject, 'alice');
  t.equal(audit?.policy_revision, 'test-revision');
  t.ok(g.decisions.events.some((e) => e.decision_id === res.json.error.decision_id && e.jitgate.error_code === 'JITGATE_E_FORBIDDEN'));
});

t.test('with the console\'s address configured, the hint also links to its request form, filled in', async (t) => {
  const linked = await startGateway({ consoleUrl: 'https://jitgate.example.com' });
  t.teardown(() => linked.close());
  const res = await request(`${linked.url}/api/orders`, { method: 'POST', headers: { authorization: `Bearer ${await linked.token('alice')}`, 'content-type': 'application/json' }, body: '{"a":1}' });
  const body = await res.body.json() as { error: { elevation: Record<string, unknown> } };
  t.equal(res.statusCode, 403);
  t.same(body.error.elevation, {
    role: 'writer', max_duration_seconds: 28800,
    command: 'jitgate request --role writer --duration 8h --reason "..."',
    url: 'https://jitgate.example.com/console/#request?role=writer&duration=8h',
  }, 'the command and the link ask for the same thing');
  // A hint narrowed to a scope: the link carries it, encoded, as the command does.
  t.equal(
    elevationUrl('https://jitgate.example.com', { role: 'refunds & co', max_duration_seconds: 1800, scope: { route: 'demo', methods: ['POST'], paths: ['/api/refunds/*', '/api/x y'] } }),
    'https://jitgate.example.com/console/#request?role=refunds+%26+co&duration=30m&route=demo&method=POST&path=%2Fapi%2Frefunds%2F*&path=%2Fapi%2Fx+y',
  );
});

t.test('with a writer grant the write goes through with the writer key, and the grant use is audited', async (t) => {
  const grant = g.grants.add('bob', 'writer', 600);
  const token = await g.token('bob');
  const before = g.upstream.seen.length;
  const res = await call('/api/orders', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"a":1}' });
  t.equal(res.status, 200);
  const up = g.upstream.seen[before]!;
  t.equal(up.method, 'POST');
  t.equal(up.body, '{"a":1}', 'the body is streamed through');
  t.equal(up.headers['x-api-key'], SECRETS.DEMO_UPSTREAM_WRITE_KEY);
  const audit = g.audit.entries.find((e) => e.decision_id === res.headers['x-jitgate-decision-id']);
  t.equal(audit?.kind, 'proxy.allowed_with_grant');
  t.equal(audit?.grant_id, grant.id);
  t.equal(audit?.role, 'writer');
});

t.test('an expired grant is not handed to the policy', async (t) => {
  g.grants.add('carol', 'writer', -1);
  const token = await g.issuer.issue('carol', ['eng']);
  const before = g.upstream.seen.length;
  const res = await call('/api/orders', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.status, 403);
  t.equal(g.upstream.seen.length, before);
});

t.test('services authenticate with API keys and get their standing permission only', async (t) => {
  const ok = await call('/api/reports/daily', { headers: { 'x-api-key': SERVICE_KEY } });
  t.equal(ok.status, 200);
  const bearer = await call('/api/reports/daily', { headers: { authorization: `Bearer ${SERVICE_KEY}` } });
  t.equal(bearer.status, 200);
  const no = await call('/api/orders', { headers: { 'x-api-key': SERVICE_KEY } });
  t.equal(no.status, 403);
  t.equal(no.json.error.elevation, undefined, 'services get no elevation hint');
  const wrong = await call('/api/reports/daily', { headers: { 'x-api-key': 'jg_reporting.wrong-secret-value' } });
  t.equal(wrong.status, 401);
  t.equal(wrong.json.error.code, 'JITGATE_E_API_KEY_INVALID');
});

t.test('unauthenticated: 401 with a code and a request id, nothing forwarded', async (t) => {
  const before = g.upstream.seen.length;
  const res = await call('/api/orders');
  t.equal(res.status, 401);
  t.equal(res.json.error.code, 'JITGATE_E_UNAUTHENTICATED');
  t.equal(res.headers['www-authenticate'], 'Bearer realm="jitgate"');
  t.ok(res.headers['x-request-id']);
  t.equal(g.upstream.seen.length, before);
});

t.test('audit trail down: a deny answers 503 instead of an unaudited 403', async (t) => {
  const token = await g.token('alice');
  g.audit.failing = true;
  try {
    const res = await call('/admin/users', { headers: { authorization: `Bearer ${token}` } });
    t.equal(res.status, 503);
    t.equal(res.json.error.code, 'JITGATE_E_AUDIT_UNAVAILABLE');
    t.ok(res.headers['x-jitgate-decision-id']);
    g.grants.add('dave', 'admin', 600);
    const before = g.upstream.seen.length;
    const dave = await g.token('dave');
    const res2 = await call('/admin/users', { headers: { authorization: `Bearer ${dave}` } });
    t.equal(res2.status, 503, 'an allow that uses a grant is not forwarded unaudited');
    t.equal(g.upstream.seen.length, before);
  } finally {
    g.audit.failing = false;
  }
});

t.test('grant store not ready: 503, nothing forwarded', async (t) => {
  const token = await g.token('alice');
  g.grants.ready = false;
  const before = g.upstream.seen.length;
  try {
    const res = await call('/api/orders', { headers: { authorization: `Bearer ${token}` } });
    t.equal(res.status, 503);
    t.equal(res.json.error.code, 'JITGATE_E_STORE_UNAVAILABLE');
    t.equal(g.upstream.seen.length, before);
  } finally {
    g.grants.ready = true;
  }
});

t.test('no secret appears in audit records, decision logs or log lines', (t) => {
  t.same(leaks(g), []);
  t.end();
});

t.test('a policy that errors at runtime: 503 with a decision id, nothing forwarded', async (t) => {
  const broken = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\n# Two different values for one complete rule: a runtime error in wasm.\nallow := true if input.request.method == "GET"\n\nallow := false if startswith(input.request.path, "/")\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const b = await startGateway({ policy: broken });
  t.teardown(() => b.close());
  const token = await b.token('alice');
  const res = await request(`${b.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.body.json() as { error: { code: string; decision_id: string } };
  t.equal(res.statusCode, 503);
  t.equal(body.error.code, 'JITGATE_E_POLICY_EVAL');
  t.equal(body.error.decision_id, res.headers['x-jitgate-decision-id']);
  t.equal(b.upstream.seen.length, 0, 'the upstream never saw it');
  t.ok(b.decisions.events.some((e) => e.jitgate.error_code === 'JITGATE_E_POLICY_EVAL'));
});

t.test('a policy naming a credential the route does not have: fail closed', async (t) => {
  const odd = await policyFrom({
    'authz.rego': 'package jitgate.authz\n\nallow := true\n\nobligations := {"credential": "root"}\n',
    'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n',
  });
  const b = await startGateway({ policy: odd });
  t.teardown(() => b.close());
  const token = await b.token('alice');
  const res = await request(`${b.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.body.json() as { error: { code: string } };
  t.equal(res.statusCode, 503);
  t.equal(body.error.code, 'JITGATE_E_CREDENTIAL_UNKNOWN');
  t.equal(b.upstream.seen.length, 0);
});

t.test('upstream down: 502 with a code, no internals', async (t) => {
  const b = await startGateway({ routes: () => [demoRoute('http://127.0.0.1:9')] });
  t.teardown(() => b.close());
  const token = await b.token('alice');
  const res = await request(`${b.url}/api/orders`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'down-trace-7' } });
  const text = await res.body.text();
  t.equal(res.statusCode, 502);
  t.match(text, /JITGATE_E_UPSTREAM_UNAVAILABLE/);
  t.notMatch(text, /ECONNREFUSED|127\.0\.0\.1:9/);
  const warning = b.logLines.map((l) => JSON.parse(l) as { msg: string; request_id?: string }).find((l) => l.msg === 'upstream request failed');
  t.equal(warning?.request_id, 'down-trace-7', 'the log line names the request');
});


t.test('redirects to the upstream\'s own address come back as the gateway\'s; others pass as they are', async (t) => {
  // The route puts every request under /v1 on the upstream; its redirects name that address.
  for (const trusted of [false, true]) {
    const r = await startGateway({ routes: (u) => [demoRoute(`${u}/v1`)], ...(trusted ? { trustedProxies: ['127.0.0.1'] } : {}) });
    t.teardown(() => r.close());
    const token = await r.token('alice');
    const gateway = `${trusted ? 'https' : 'http'}://127.0.0.1:${String(r.port)}`;
    const cases: [string, string][] = [
      [`${r.upstream.url}/v1/api/orders/7?view=full#items`, `${gateway}/api/orders/7?view=full#items`],
      [`${r.upstream.url.replace('http:', '')}/v1/api/orders`, `${gateway}/api/orders`],
      ['/v1/api/orders/8', '/api/orders/8'],
      ['orders/9', 'orders/9'],
      ['https://login.example.com/authorize?client=1', 'https://login.example.com/authorize?client=1'],
      // Not under the route's base path: no gateway address reaches it.
      [`${r.upstream.url}/internal/health`, `${r.upstream.url}/internal/health`],
    ];
    for (const [to, expected] of cases) {
      const res = await request(`${r.url}/api/__redirect?to=${encodeURIComponent(to)}`, {
        headers: { authorization: `Bearer ${token}`, ...(trusted ? { 'x-forwarded-proto': 'https' } : {}) },
      });
      await res.body.dump();
      t.equal(res.statusCode, 302);
      t.equal(res.headers.location, expected, `${trusted ? 'behind a TLS load balancer: ' : ''}${to}`);
      t.equal(res.headers['content-location'], expected, 'Content-Location too');
      t.equal(res.headers.refresh, `0; url='${expected}'`, 'and Refresh');
    }
    const page = await request(`${r.url}/api/__redirect?refresh&to=${encodeURIComponent(`${r.upstream.url}/v1/api/orders`)}`, {
      headers: { authorization: `Bearer ${token}`, ...(trusted ? { 'x-forwarded-proto': 'https' } : {}) },
    });
    await page.body.dump();
    t.equal(page.headers.refresh, `0; url='${gateway}/api/orders'`, 'a page that names the upstream in Refresh alone');
  }
  // A Host header that is not a plain host is never echoed into a URL.
  const odd = await startGateway({ routes: (u) => [demoRoute(`${u}/v1`)] });
  t.teardown(() => odd.close());
  const reply = await new Promise<string>((resolve) => {
    const sock = connect(odd.port, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    sock.on('close', () => { resolve(text); });
    void odd.token('alice').then((token) => {
      sock.write(`GET /api/__redirect?to=${encodeURIComponent(`${odd.upstream.url}/v1/api/x`)} HTTP/1.1\r\nHost: evil.example/@x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    });
  });
  t.match(reply, /^HTTP\/1\.1 302 /);
  t.notMatch(reply, /evil\.example/, 'the odd Host is not written into the redirect');
});

t.test('cookies the upstream sets are scoped to the gateway: its own domain dropped, its base path taken off, the gateway\'s names never set', async (t) => {
  const r = await startGateway({ routes: (u) => [demoRoute(`${u}/v1`, { upstream_cookies: true })] });
  t.teardown(() => r.close());
  const set = [
    'sid=abc; Domain=127.0.0.1; Path=/v1; HttpOnly; Secure; SameSite=Lax',
    'cart=1; Path=/v1/api/cart; Max-Age=60',
    'pref=dark; Domain=example.com; Path=/',
    'jitgate_session=planted; Path=/',
  ];
  const query = set.map((c) => `set=${encodeURIComponent(c)}`).join('&');
  const res = await request(`${r.url}/api/__cookies?${query}`, { headers: { authorization: `Bearer ${await r.token('alice')}` } });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.same(res.headers['set-cookie'], [
    'sid=abc; Path=/; HttpOnly; Secure; SameSite=Lax',
    'cart=1; Path=/api/cart; Max-Age=60',
    'pref=dark; Domain=example.com; Path=/',
  ], 'the upstream\'s host and base path become the gateway\'s; another domain stays; the gateway\'s namespace is not set');
});

t.test('no cookie passes beside an injected credential: a session the upstream opens for it would outlive the grant', async (t) => {
  // The upstream opens a session for whoever authenticated with a credential, and reads that
  // session before any credential (as Spring Security's httpBasic does by default). Handed to the
  // caller, the admin session would go on working after the admin grant ended.
  const r = await startGateway();
  t.teardown(() => r.close());
  const erin = await r.issuer.issue('erin', ['eng']);
  const grant = r.grants.add('erin', 'admin', 600);
  const sessionCookie = 'SESSION=admin-session-opened-with-the-admin-key; Path=/; HttpOnly';
  const res = await request(`${r.url}/admin/__cookies?set=${encodeURIComponent(sessionCookie)}`, { headers: { authorization: `Bearer ${erin}` } });
  await res.body.dump();
  t.equal(res.statusCode, 200, 'the admin grant allows it, with the admin credential');
  t.equal(res.headers['set-cookie'], undefined, 'the session the upstream opened for the admin credential does not reach the caller');

  r.grants.revoke(grant.id);
  const before = r.upstream.seen.length;
  const replay = await request(`${r.url}/api/orders`, { headers: { authorization: `Bearer ${erin}`, cookie: 'SESSION=admin-session-opened-with-the-admin-key' } });
  await replay.body.dump();
  t.equal(replay.statusCode, 200, 'a read, with the read-only credential');
  const seen = r.upstream.seen.slice(before);
  t.equal(seen.length, 1);
  t.equal(seen[0]?.headers.cookie, undefined, 'a session cookie the caller holds is not sent beside the injected credential');
  t.equal(seen[0]?.headers['x-api-key'], SECRETS.DEMO_UPSTREAM_READ_KEY);
});

t.test('a WebSocket upgrade carrying a credential: no cookie either way', async (t) => {
  const r = await startGateway({ routes: (u) => [demoRoute(u, { websocket: true })] });
  t.teardown(() => r.close());
  let upstreamCookie: string | undefined = 'not seen';
  r.upstream.server.on('upgrade', (req, socket) => {
    upstreamCookie = req.headers.cookie;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: SESSION=opened-with-the-key; Path=/\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  });
  const head = await new Promise<string>((resolve) => {
    const sock = connect(r.port, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) { sock.destroy(); resolve(text); }
    });
    sock.on('error', () => { resolve(text); });
    void r.token('alice').then((token) => sock.write(`GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nCookie: SESSION=held-by-the-caller\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`));
  });
  t.match(head, /^HTTP\/1\.1 101 /, 'upgraded, with the read-only credential');
  t.notMatch(head, /set-cookie/i, 'the upstream\'s session cookie does not reach the caller');
  t.equal(upstreamCookie, undefined, 'the caller\'s cookie does not reach the upstream');
});

t.test('with upstream_cookies: true, or no credential injected, cookies pass both ways (the gateway\'s own never)', async (t) => {
  const ui = await startGateway({ routes: (u) => [demoRoute(u, { upstream_cookies: true })] });
  t.teardown(() => ui.close());
  // A policy that allows without naming a credential, on a route with no default one: nothing injected.
  const plain = await startGateway({
    policy: await policyFrom({ 'authz.rego': 'package jitgate.authz\n\nallow := true\n', 'elevation.rego': 'package jitgate.elevation\n\ndefault allow := false\n' }),
    routes: (u) => [demoRoute(u, { default_credential: undefined })],
  });
  t.teardown(() => plain.close());
  for (const [name, r] of [['upstream_cookies: true', ui], ['no credential', plain]] as const) {
    const before = r.upstream.seen.length;
    const res = await request(`${r.url}/api/__cookies?set=${encodeURIComponent('theme=dark; Path=/')}`, { headers: { authorization: `Bearer ${await r.token('alice')}`, cookie: 'jitgate_session=abc; app=1' } });
    await res.body.dump();
    t.equal(res.statusCode, 200, name);
    t.equal(res.headers['set-cookie'], 'theme=dark; Path=/', `${name}: the upstream's cookie reaches the caller`);
    const seen = r.upstream.seen.slice(before)[0];
    t.equal(seen?.headers.cookie, 'app=1', `${name}: the caller's application cookie reaches the upstream, the gateway's does not`);
    t.equal(seen?.headers['x-api-key'], name === 'no credential' ? undefined : SECRETS.DEMO_UPSTREAM_READ_KEY);
  }
});

t.test('a secret echoed across two body chunks is still masked', async (t) => {
  const token = await g.token('alice');
  const res = await call('/api/__split', { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.status, 200);
  t.equal(res.text, `start:${'*'.repeat(SECRETS.DEMO_UPSTREAM_READ_KEY.length)}:end`);
});

t.test('an upstream that does not answer in time: 504, and the caller going away abandons the upstream call', async (t) => {
  const b = await startGateway({ routes: (u) => [demoRoute(u, { timeouts: { connect_ms: 1000, headers_ms: 300, body_ms: 1000 } })] });
  t.teardown(() => b.close());
  const token = await b.token('alice');
  const res = await request(`${b.url}/api/__hang`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.body.text();
  t.equal(res.statusCode, 504);
  t.match(text, /JITGATE_E_UPSTREAM_TIMEOUT/);
  t.ok(res.headers['x-jitgate-decision-id']);

  const patient = await startGateway();
  t.teardown(() => patient.close());
  const patientToken = await patient.token('alice');
  const ac = new AbortController();
  const pending = request(`${patient.url}/api/__hang?x=1`, { headers: { authorization: `Bearer ${patientToken}` }, signal: ac.signal }).catch(() => null);
  for (let i = 0; i < 100 && patient.upstream.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(patient.upstream.seen.length, 1, 'the upstream got the request');
  ac.abort();
  await pending;
  for (let i = 0; i < 100 && !patient.upstream.seen[0]!.abandoned; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(patient.upstream.seen[0]!.abandoned, 'the gateway dropped the upstream call when the caller left');
});

t.test('a caller who leaves before the upstream answers is recorded as having left, not as an upstream failure', async (t) => {
  const counted: string[] = [];
  const gw = await startGateway({ metrics: { ...noMetrics, proxyRequest(_route, kind, status) { counted.push(`${kind} ${String(status)}`); } } });
  t.teardown(() => gw.close());
  const token = await gw.token('alice');
  gw.grants.add('alice', 'writer', 600);
  for (const [method, body] of [['GET', undefined], ['POST', '{"n":1}']] as const) {
    const seen = gw.upstream.seen.length;
    const ac = new AbortController();
    const pending = request(`${gw.url}/api/__hang`, {
      method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, signal: ac.signal,
    }).catch(() => null);
    for (let i = 0; i < 100 && gw.upstream.seen.length === seen; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(gw.upstream.seen.length, seen + 1, `${method}: the upstream got the request`);
    ac.abort();
    await pending;
    for (let i = 0; i < 100 && !gw.upstream.seen[seen]!.abandoned; i++) await new Promise((r) => setTimeout(r, 20));
    t.ok(gw.upstream.seen[seen]!.abandoned, `${method}: the upstream call was dropped`);
    for (let i = 0; i < 100 && counted.length === seen; i++) await new Promise((r) => setTimeout(r, 20));
    const e = gw.decisions.events.at(-1);
    t.equal((e?.result as { allow?: boolean } | undefined)?.allow, true, `${method}: the decision was an allow`);
    t.equal(e?.jitgate.error_code, 'JITGATE_E_CLIENT_CLOSED', `${method}: logged as the caller having left`);
    t.same(counted.slice(seen), ['error 499'], `${method}: counted as 499, not as an upstream failure`);
  }
  const lines = gw.logLines.map((l) => JSON.parse(l) as { msg: string; code?: string; request_id?: string });
  t.notOk(lines.some((l) => l.msg === 'upstream request failed'), 'the log does not blame the upstream');
  t.same(lines.filter((l) => l.msg === 'the caller ended the request before the upstream answered').map((l) => l.code), ['JITGATE_E_CLIENT_CLOSED', 'JITGATE_E_CLIENT_CLOSED'], 'it says the caller ended it');
});

t.test('a caller who hangs up while sending its body is recorded as having left; a body that does not parse, as a bad request', async (t) => {
  const counted: string[] = [];
  const metrics = { ...noMetrics, proxyRequest(_route: string, kind: string, status: number) { counted.push(`${kind} ${String(status)}`); } };
  const streamed = await startGateway({ metrics });
  const judged = await startGateway({ metrics, routes: (upstream) => [demoRoute(upstream, { policy_body: { max_bytes: 4096, content_types: ['application/json'], read_timeout_ms: 5_000 } })] });
  t.teardown(() => Promise.all([streamed.close(), judged.close()]));
  const until = async (done: () => boolean): Promise<void> => {
    for (let i = 0; i < 250 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  const cases = [
    { gw: streamed, framing: 'Content-Length: 1000', body: '{"n":1', then: null, code: 'JITGATE_E_CLIENT_CLOSED', status: 499, what: 'streamed upstream, the caller hangs up' },
    { gw: streamed, framing: 'Transfer-Encoding: chunked', body: '5\r\n{"n":\r\n', then: 'zz\r\n', code: 'JITGATE_E_BAD_REQUEST', status: 400, what: 'streamed upstream, a chunk size that does not parse' },
    { gw: judged, framing: 'Content-Length: 1000', body: '{"n":1', then: null, code: 'JITGATE_E_CLIENT_CLOSED', status: 499, what: 'read for the policy, the caller hangs up' },
    { gw: judged, framing: 'Transfer-Encoding: chunked', body: '5\r\n{"n":\r\n', then: 'zz\r\n', code: 'JITGATE_E_BAD_REQUEST', status: 400, what: 'read for the policy, a chunk size that does not parse' },
  ];
  for (const c of cases) {
    c.gw.grants.add('alice', 'writer', 600);
    const seen = c.gw.upstream.seen.length;
    const events = c.gw.decisions.events.length;
    const before = counted.length;
    const socket = connect(Number(new URL(c.gw.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await c.gw.token('alice')}\r\nContent-Type: application/json\r\n${c.framing}\r\n\r\n${c.body}`);
    // Streamed: until the upstream has the request; read for the policy: until the gateway has the first bytes.
    if (c.gw === streamed) await until(() => c.gw.upstream.seen.length > seen);
    else await new Promise((r) => setTimeout(r, 200));
    if (c.then === null) socket.destroy();
    else socket.write(c.then);
    await until(() => counted.length > before);
    socket.destroy();
    t.same(counted.slice(before), [`error ${String(c.status)}`], `${c.what}: counted as ${String(c.status)}`);
    t.equal(c.gw.decisions.events.at(-1)?.jitgate.error_code, c.code, `${c.what}: logged as ${c.code}`);
    t.ok(c.gw.decisions.events.length > events, `${c.what}: in the decision log`);
    if (c.gw === judged) t.equal(c.gw.upstream.seen.length, seen, `${c.what}: the upstream never saw it`);
  }
});

t.test('a large response streams through whole, the secret masked at every chunk boundary', async (t) => {
  const token = await g.token('alice');
  const res = await request(`${g.url}/api/__stream?chunks=64`, { headers: { authorization: `Bearer ${token}` } });
  const body = Buffer.from(await res.body.arrayBuffer());
  const secret = SECRETS.DEMO_UPSTREAM_READ_KEY;
  const sent = Buffer.concat(Array.from({ length: 64 }, () => streamChunk(secret)));
  t.equal(res.statusCode, 200);
  t.equal(body.length, 64 * 64 * 1024, 'every byte arrived');
  t.equal(body.indexOf(secret), -1, 'the secret never came back');
  t.ok(body.equals(Buffer.from(sent.toString('latin1').replaceAll(secret, '*'.repeat(secret.length)), 'latin1')), 'byte for byte what the upstream sent, masked');
});

t.test('a caller that stops reading holds the upstream back, and leaving abandons the upstream call', async (t) => {
  const before = g.upstream.seen.length;
  const token = await g.token('alice');
  const socket = connect(g.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.pause();
  // 256 MiB offered; the caller reads nothing.
  socket.write(`GET /api/__stream?chunks=4096 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  let entry = g.upstream.seen[before];
  for (let i = 0; i < 100 && !entry; i++) {
    await new Promise((r) => setTimeout(r, 20));
    entry = g.upstream.seen[before];
  }
  if (!entry) return t.fail('the upstream never got the request');
  // Wait until the upstream can write no more: every buffer between it and the caller is full.
  let last = -1;
  for (let i = 0; i < 50 && entry.sent !== last; i++) {
    last = entry.sent;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(entry.sent < 64 * 1024 * 1024, `the upstream was held back (${String(entry.sent)} bytes sent of 256 MiB)`);
  t.notOk(entry.abandoned, 'the paused response is still open');
  socket.destroy();
  for (let i = 0; i < 100 && !entry.abandoned; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(entry.abandoned, 'the gateway dropped the upstream call when the caller left mid-body');
});

t.test('an upstream that drops the connection mid-body: the caller\'s response is cut, never passed off as complete', async (t) => {
  const token = await g.token('alice');
  for (const framing of ['', '&chunked']) {
    const res = await request(`${g.url}/api/__stream?chunks=16&cut${framing}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': `cut-trace${framing.replace('&', '-')}` } });
    t.equal(res.statusCode, 200, 'the head had been sent already');
    await t.rejects(res.body.arrayBuffer(), `the caller sees the body end early, not a clean end (${framing === '' ? 'Content-Length' : 'chunked'})`);
  }
  const named = (): (string | undefined)[] => g.logLines.map((l) => JSON.parse(l) as { msg: string; request_id?: string })
    .filter((l) => l.msg === 'streaming the upstream response was cut off' && l.request_id?.startsWith('cut-trace') === true).map((l) => l.request_id);
  for (let i = 0; i < 50 && named().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(named().sort(), ['cut-trace', 'cut-trace-chunked'], 'the gateway logs it, naming each request');
});

t.test('routes: host-bound first, then the longest whole-segment prefix; no match is 404', async (t) => {
  const b = await startGateway({
    routes: (u) => [
      demoRoute(u, { name: 'api', match: { path_prefix: '/api' } }),
      demoRoute(u, { name: 'hosted', match: { host: 'svc.example', path_prefix: '/' } }),
    ],
  });
  t.teardown(() => b.close());
  const token = await b.token('alice');
  const auth = { authorization: `Bearer ${token}` };
  const miss = await request(`${b.url}/apix/orders`, { headers: auth });
  t.equal(miss.statusCode, 404);
  t.match(await miss.body.text(), /JITGATE_E_NO_ROUTE/);
  const hit = await request(`${b.url}/api/orders`, { headers: auth });
  await hit.body.dump();
  t.equal(hit.statusCode, 200);
  const hosted = await request(`${b.url}/api/orders`, { headers: { ...auth, host: 'SVC.example:8080' } });
  await hosted.body.dump();
  const ev = b.decisions.events.find((e) => e.decision_id === hosted.headers['x-jitgate-decision-id']);
  t.equal(ev?.jitgate.route, 'hosted', 'the host-bound route wins over the prefix route');
  t.equal(b.upstream.seen.length, 2);
  t.throws(() => createProxyServer({ ...minimalDeps(), routes: [demoRoute('http://x'), demoRoute('http://y')] }), /duplicate route name/);
  t.throws(() => createProxyServer({ ...minimalDeps(), routes: [demoRoute('http://x')], env: {} }), /DEMO_UPSTREAM_READ_KEY is not set/, 'a missing secret stops the start');
  for (const odd of ['k\u0001ey-5e8b', 'k€y-5e8b']) {
    let message = 'started';
    try {
      createProxyServer({ ...minimalDeps(), routes: [demoRoute('http://x')], env: { ...SECRETS, DEMO_UPSTREAM_READ_KEY: odd } });
    } catch (err) {
      message = (err as Error).message;
    }
    t.match(message, /characters a header value cannot carry/, `a secret no header can carry (${JSON.stringify(odd)}) stops the start`);
    t.notMatch(message, /5e8b/, 'without saying what it holds');
  }
});

function minimalDeps() {
  return {
    policy: { revision: null, authorize: () => { throw new Error('unused'); }, elevation: () => { throw new Error('unused'); } },
    grants: { ready: true, activeGrants: () => [], stillActive: () => Promise.resolve(true) },
    authenticator: { authenticate: () => Promise.reject(new Error('unused')), keysGeneration: 0 },
    audit: { append: () => Promise.reject(new Error('unused')), appendWithin: () => Promise.reject(new Error('unused')) },
    decisionLog: { log() {} },
    metrics: noMetrics,
    logger: pino({ level: 'silent' }),
    env: { ...SECRETS },
  };
}

t.test('request ids: a plain caller id is kept end to end, anything else is replaced', async (t) => {
  const token = await g.token('alice');
  const before = g.upstream.seen.length;
  const kept = await call('/api/orders', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'trace-123.abc' } });
  t.equal(kept.headers['x-request-id'], 'trace-123.abc');
  t.equal(g.upstream.seen[before]?.headers['x-request-id'], 'trace-123.abc');
  const replaced = await call('/api/orders', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'evil\tvalue with spaces' } });
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(g.upstream.seen[before + 1]?.headers['x-request-id'], replaced.headers['x-request-id']);
});

t.test('a burst of identical requests: each is a decision of its own, and one answered from the decision memo names an evaluated one with its result', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const g = await startGateway({ metrics });
  t.teardown(() => g.close());
  const token = await g.token('alice');
  // Over connections opened beforehand, as a busy caller's are, so the burst arrives at once.
  const pool = new Pool(g.url, { connections: 50 });
  t.teardown(() => pool.close());
  const send = async () => {
    const res = await pool.request({ path: '/api/orders/7', method: 'GET', headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    return { status: res.statusCode, headers: res.headers };
  };
  await Promise.all(Array.from({ length: 50 }, send));
  const before = g.decisions.events.length;
  const seenBefore = g.upstream.seen.length;
  const responses = await Promise.all(Array.from({ length: 200 }, send));
  t.ok(responses.every((r) => r.status === 200), 'all allowed');
  t.equal(g.upstream.seen.length - seenBefore, 200, 'all forwarded');
  const events = g.decisions.events.slice(before);
  const ids = new Set(responses.map((r) => r.headers['x-jitgate-decision-id'] as string));
  t.equal(ids.size, 200, 'every response has a decision id of its own');
  t.same(new Set(events.map((e) => e.decision_id)), ids, 'and every decision its log event');
  const byId = new Map(events.map((e) => [e.decision_id, e]));
  const repeats = events.filter((e) => e.jitgate.answered_from !== undefined);
  t.ok(repeats.length > 0, `${String(repeats.length)} of 200 were answered from the memo`);
  for (const e of repeats) {
    const first = byId.get(e.jitgate.answered_from ?? '');
    t.ok(first && first.jitgate.answered_from === undefined, 'the decision it repeats was evaluated, and logged');
    t.same(e.input, first?.input, 'on the same input (the same millisecond)');
    t.same(e.result, first?.result, 'with the same result');
  }
  const text = await metrics.render();
  const count = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  // Every decision of this gateway, the warm-up's included.
  const answered = g.decisions.events.filter((e) => e.jitgate.answered_from !== undefined).length;
  t.equal(count(/jitgate_decision_memo_hits_total\{entrypoint="jitgate\/authz"\} (\d+)/), answered, 'the memo\'s answers are counted apart');
  t.equal(count(/jitgate_decision_duration_seconds_count\{entrypoint="jitgate\/authz"\} (\d+)/), g.decisions.events.length - answered, 'and the evaluation histogram has the rest');
  t.equal(g.decisions.events.length, 250);
});

t.test('updateRoutes swaps the routes whole; an invalid set changes nothing', async (t) => {
  const b = await startGateway();
  t.teardown(() => b.close());
  const auth = { authorization: `Bearer ${await b.token('alice')}` };
  const get = async (path: string) => {
    const res = await request(`${b.url}${path}`, { headers: auth });
    await res.body.dump();
    return res.statusCode;
  };
  t.equal(await get('/api/orders'), 200);
  t.throws(() => { b.proxy.updateRoutes([{ ...demoRoute(b.upstream.url), credentials: { readonly: { type: 'bearer', from_env: 'NOT_SET_ANYWHERE' } } }]); }, /NOT_SET_ANYWHERE/);
  t.equal(await get('/api/orders'), 200, 'the running routes stay after a refused update');
  b.proxy.updateRoutes([demoRoute(b.upstream.url, { name: 'reports', match: { path_prefix: '/api/reports' } })]);
  t.equal(await get('/api/orders'), 404, 'the old route is gone');
  t.equal(await get('/api/reports/daily'), 200);
  const ev = b.decisions.events.at(-1);
  t.equal(ev?.jitgate.route, 'reports');
});
