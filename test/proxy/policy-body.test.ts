// Bodies the policy reads (routes with policy_body), with the sample policy deciding refunds on
// their amount. Every refused body is sent for real, and the upstream must never have seen it;
// every allowed one must reach the upstream byte for byte as the policy judged it.
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { demoRoute, policyAllowingIf, sendExpectingContinue, startGateway, type Gateway } from './fixtures.js';

const MAX = 256;
let g: Gateway;
let alice: string;

t.before(async () => {
  g = await startGateway({
    routes: (upstream) => [
      demoRoute(upstream, { policy_body: { max_bytes: MAX, content_types: ['application/json'], read_timeout_ms: 300 }, body_limit_bytes: 4096 }),
      // The same upstream on a host whose route shows the policy no bodies.
      demoRoute(upstream, { name: 'plain', match: { host: 'plain.test', path_prefix: '/' } }),
    ],
  });
  alice = await g.token('alice');
  g.grants.add('alice', 'writer', 3600);
});
t.teardown(async () => { await g.close(); });

interface Sent {
  status: number;
  code: string | undefined;
  /** The policy's reason, on a 403. */
  reason: string | undefined;
  elevation: { role?: string } | undefined;
  decisionId: string | undefined;
  /** Requests the upstream saw while this one was handled. */
  reached: number;
}

async function post(body: string | Buffer | Readable, headers: Record<string, string> = {}, path = '/api/refunds'): Promise<Sent> {
  const before = g.upstream.seen.length;
  const res = await request(`${g.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.body.text();
  const json = (text.startsWith('{') ? JSON.parse(text) : {}) as { error?: { code?: string; message?: string; elevation?: { role?: string } } };
  const id = res.headers['x-jitgate-decision-id'];
  return {
    status: res.statusCode,
    code: json.error?.code,
    reason: json.error?.message,
    elevation: json.error?.elevation,
    decisionId: typeof id === 'string' ? id : undefined,
    reached: g.upstream.seen.length - before,
  };
}

function loggedRequest(decisionId: string | undefined): Record<string, unknown> | undefined {
  const event = g.decisions.events.find((e) => e.decision_id === decisionId);
  return (event?.input as { request?: Record<string, unknown> } | undefined)?.request;
}

/** Sends raw bytes (with pauses between the parts) and returns what the gateway wrote. */
function raw(parts: string[], pauseMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(g.port, '127.0.0.1');
    let out = '';
    const guard = setTimeout(() => { sock.destroy(); }, 5000);
    sock.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    sock.on('error', (e) => { clearTimeout(guard); if (out) resolve(out); else reject(e); });
    sock.on('close', () => { clearTimeout(guard); resolve(out); });
    let i = 0;
    const next = (): void => {
      const part = parts[i++];
      if (part === undefined) return;
      sock.write(part);
      setTimeout(next, pauseMs);
    };
    next();
  });
}

t.test('a refund within the writer limit reaches the upstream exactly as the policy read it', async (t) => {
  // Spacing, key order and number forms the upstream must get untouched.
  const body = '{ "order" : "o-7",\n  "amount": 50.50e0 }';
  const sent = await post(body);
  t.equal(sent.status, 200);
  t.equal(sent.reached, 1);
  const seen = g.upstream.seen.at(-1);
  t.equal(seen?.body, body, 'the upstream got the bytes the policy judged');
  t.equal(seen?.headers['content-length'], String(Buffer.byteLength(body)));
  t.same(loggedRequest(sent.decisionId)?.body, { order: 'o-7', amount: 50.5 }, 'the decision log has the body the policy saw');
  t.equal(loggedRequest(sent.decisionId)?.body_status, 'parsed');
});

t.test('Expect: 100-continue: the body the policy reads is asked for only after the caller authenticated', async (t) => {
  const body = '{"order":"o-7","amount":5}';
  const head = (auth: string): string => `POST /api/refunds HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: ${String(body.length)}`;
  const before = g.upstream.seen.length;
  const anonymous = await sendExpectingContinue(g.port, head(''), body);
  t.match(anonymous.text, /^HTTP\/1\.1 401 /, 'unauthenticated: refused at once');
  t.notOk(anonymous.invited, 'without asking for the body');
  const allowed = await sendExpectingContinue(g.port, head(`Authorization: Bearer ${alice}\r\n`), body);
  t.ok(allowed.invited, 'an authenticated caller is asked for the body the policy reads');
  t.match(allowed.text, /\r\n\r\nHTTP\/1\.1 200 /, 'then the decision is made on it');
  t.equal(g.upstream.seen.length, before + 1);
  t.equal(g.upstream.seen.at(-1)?.body, body);
});

t.test('a refund above the limit is refused with the role that would allow it, and never sent', async (t) => {
  const sent = await post(JSON.stringify({ order: 'o-7', amount: 5000 }));
  t.equal(sent.status, 403);
  t.equal(sent.code, 'JITGATE_E_FORBIDDEN');
  t.equal(sent.reason, 'this refund needs an active grant of a role whose refund limit covers it');
  t.equal(sent.elevation?.role, 'admin');
  t.equal(sent.reached, 0, 'the upstream never saw it');
});

t.test('bodies read two ways are refused before the policy, and never sent', async (t) => {
  const cases: [string, string][] = [
    ['{"order": "o-7", "amount": 5000, "amount": 5}', 'the first amount is above the limit, the last within it'],
    ['{"order": "o-7", "amount": 5, "\\u0061mount": 5000}', 'the same name written with an escape'],
    ['{"order": "o-7", "amount": 5, "meta": {"a": 1, "a": 2}}', 'a repeated name deeper down'],
    ['{"order": 12345678901234567891, "amount": 5}', 'a number a double cannot hold'],
    ['{"order": "o-7", "amount": 1e400}', 'a number beyond a double: JSON.parse makes it Infinity'],
    ['{"order": "o-7", "amount": 5, "note": "\\ud800"}', 'half a surrogate pair'],
    ['{"order": "o-7", "amount": 5, "AMOUNT": 5000}', 'the same name in another case: Go reads the last'],
    ['{"order": "o-7", "amount": 5, "amount\\u0000": 5000}', 'a name with an escaped NUL: C parsers read "amount"'],
    ['{"order": "o-7\\u0000x", "amount": 5}', 'a value with an escaped NUL'],
  ];
  for (const [body, what] of cases) {
    const sent = await post(body);
    t.equal(sent.status, 400, what);
    t.equal(sent.code, 'JITGATE_E_BODY_AMBIGUOUS', what);
    t.equal(sent.reached, 0, `${what}: the upstream never saw it`);
  }
  const twoTypes = await raw([`POST /api/refunds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"amount": 5.0}`]);
  t.match(twoTypes, /^HTTP\/1\.1 400 /, 'a repeated Content-Type is refused');
  t.match(twoTypes, /JITGATE_E_BODY_AMBIGUOUS/);
  t.equal(g.upstream.seen.filter((s) => s.url === '/api/refunds' && s.body.includes('5.0')).length, 0, 'the upstream never saw it');
});

t.test('bodies the policy cannot read reach it as a status without a value, and the refund is denied', async (t) => {
  const amount = JSON.stringify({ order: 'o-7', amount: 5 });
  const cases: [string | Buffer | Readable, Record<string, string>, string, string][] = [
    [amount, { 'content-type': 'text/plain' }, 'unsupported', 'another media type'],
    [amount, { 'content-type': 'application/json; charset=utf-16' }, 'unsupported', 'another charset'],
    [amount, { 'content-encoding': 'gzip' }, 'unsupported', 'a content coding'],
    [Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x3a, 0x31, 0x7d]), {}, 'malformed', 'invalid UTF-8'],
    ['\ufeff' + amount, {}, 'malformed', 'a byte order mark'],
    ['{"order": "o-7", "amount": 5,}', {}, 'malformed', 'a trailing comma'],
    ['[' .repeat(70) + ']'.repeat(70), {}, 'malformed', 'nested 70 levels deep'],
    [JSON.stringify({ amount: 5, pad: 'x'.repeat(MAX) }), {}, 'too_large', 'over max_bytes with a Content-Length'],
    [Readable.from([Buffer.from('{"amount": 5, "pad": "'), Buffer.from('x'.repeat(MAX)), Buffer.from('"}')]), {}, 'too_large', 'over max_bytes, chunked'],
  ];
  for (const [body, headers, status, what] of cases) {
    const sent = await post(body, headers);
    t.equal(sent.status, 403, what);
    t.equal(sent.reason, 'a refund needs a JSON body whose amount is a positive number', what);
    t.equal(sent.reached, 0, `${what}: the upstream never saw it`);
    const logged = loggedRequest(sent.decisionId);
    t.equal(logged?.body_status, status, `${what}: the policy saw body_status ${status}`);
    t.notOk(logged && 'body' in logged, `${what}: and no body`);
  }
});

t.test('an allowed body the policy did not read still reaches the upstream whole', async (t) => {
  // A write the policy allows whatever its body: an item past max_bytes, sent in chunks.
  const item = JSON.stringify({ name: 'widget', note: 'y'.repeat(MAX * 3) });
  const pieces = [item.slice(0, 100), item.slice(100, 400), item.slice(400)].map((s) => Buffer.from(s));
  const sent = await post(Readable.from(pieces), {}, '/api/items');
  t.equal(sent.status, 200);
  t.equal(loggedRequest(sent.decisionId)?.body_status, 'too_large');
  t.equal(g.upstream.seen.at(-1)?.body, item, 'the bytes read for the policy, then the rest, in order');
  const text = await post('name=widget', { 'content-type': 'application/x-www-form-urlencoded' }, '/api/items');
  t.equal(text.status, 200);
  t.equal(g.upstream.seen.at(-1)?.body, 'name=widget', 'an unread body streams through');
  t.equal(loggedRequest(text.decisionId)?.body_status, 'unsupported');
  const none = await request(`${g.url}/api/items/1`, { method: 'DELETE', headers: { authorization: `Bearer ${alice}` } });
  await none.body.text();
  const id = none.headers['x-jitgate-decision-id'];
  t.equal(loggedRequest(typeof id === 'string' ? id : undefined)?.body_status, 'none', 'no body: status none');
});

t.test('a body over the route limit is refused whole, and a slow one times out', async (t) => {
  const big = await post(Readable.from([Buffer.from('{"amount": 5, "pad": "'), Buffer.from('z'.repeat(5000)), Buffer.from('"}')]));
  t.equal(big.status, 413);
  t.equal(big.code, 'JITGATE_E_BODY_TOO_LARGE');
  t.equal(big.reached, 0);
  const before = g.upstream.seen.length;
  const slow = await raw([
    `POST /api/refunds HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice}\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"amount": 5,`,
  ]);
  t.match(slow, /^HTTP\/1\.1 408 /, 'a body that stops arriving: 408 after read_timeout_ms');
  t.match(slow, /JITGATE_E_BODY_TIMEOUT/);
  t.equal(g.upstream.seen.length, before, 'the upstream never saw it');
});

t.test('an anonymous caller gets 401 and the body is never read', async (t) => {
  const before = g.decisions.events.length;
  const res = await request(`${g.url}/api/refunds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amount": 5}' });
  await res.body.text();
  t.equal(res.statusCode, 401);
  const logged = g.decisions.events.slice(before);
  t.equal(logged.length, 1, 'one event: the refusal');
  t.equal(logged[0]?.result, undefined, 'no decision was made');
  t.equal(logged[0]?.jitgate.error_code, 'JITGATE_E_UNAUTHENTICATED');
  t.notOk('body' in ((logged[0]?.input as { request: object } | undefined)?.request ?? {}), 'and no body was read for it');
});

t.test('on a route that shows the policy no bodies, refunds are refused and bodies stream through', async (t) => {
  const sent = await post(JSON.stringify({ order: 'o-7', amount: 5 }), { host: 'plain.test' });
  t.equal(sent.status, 403);
  t.equal(sent.reason, 'refunds are decided on their amount, and this route does not show the policy request bodies');
  t.equal(sent.reached, 0);
  const logged = loggedRequest(sent.decisionId);
  t.notOk(logged && ('body' in logged || 'body_status' in logged), 'neither body nor body_status in the input');
  // A duplicate name is nobody's business where the policy does not read bodies.
  const item = await post('{"name": "a", "name": "b"}', { host: 'plain.test' }, '/api/items');
  t.equal(item.status, 200);
  t.equal(g.upstream.seen.at(-1)?.body, '{"name": "a", "name": "b"}');
});

t.test('form bodies: fields the policy reads are the fields the upstream reads; anything servers read differently is refused unseen', async (t) => {
  const limit = await policyAllowingIf(['input.request.body_status == "parsed"', 'units.parse(input.request.body.amount) <= 100'], 'refunds need a readable amount of at most 100');
  const forms = await startGateway({
    policy: limit,
    routes: (upstream) => [demoRoute(upstream, { policy_body: { max_bytes: 4096, content_types: ['application/x-www-form-urlencoded'], read_timeout_ms: 300 }, body_limit_bytes: 65536 })],
  });
  t.teardown(() => forms.close());
  const token = await forms.token('alice');
  const send = async (body: string, type = 'application/x-www-form-urlencoded'): Promise<{ status: number; text: string; reached: number }> => {
    const before = forms.upstream.seen.length;
    const res = await request(`${forms.url}/api/refunds`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
    return { status: res.statusCode, text: await res.body.text(), reached: forms.upstream.seen.length - before };
  };

  const within = await send('order=o-7&amount=40&note=two+words%21');
  t.equal(within.status, 200, 'an amount within the limit');
  t.equal(forms.upstream.seen.at(-1)?.body, 'order=o-7&amount=40&note=two+words%21', 'the upstream got the bytes the policy judged');
  t.same((forms.decisions.events.at(-1)?.input as { request: { body: unknown } }).request.body, { order: 'o-7', amount: '40', note: 'two words!' }, 'the policy saw the decoded fields');
  const above = await send('order=o-7&amount=4000');
  t.equal(above.status, 403, 'an amount above it is denied');
  t.equal(above.reached, 0);

  // Each would show the policy a small amount while some upstream reads a large one.
  const refused: [string, string][] = [
    ['amount=40&amount=4000', 'a repeated field'],
    ['amount=40;amount=4000', 'a ";" separator'],
    ['amount=40&amount[]=4000', 'a bracketed name'],
    ['amount=40&amount.x=4000', 'a dotted name (PHP reads amount_x)'],
    ['amount=40%004000', 'a NUL in a value'],
  ];
  for (const [body, what] of refused) {
    const sent = await send(body);
    t.equal(sent.status, 400, what);
    t.match(sent.text, /JITGATE_E_BODY_AMBIGUOUS/, what);
    t.equal(sent.reached, 0, `${what}: the upstream never saw it`);
  }
  const garbled = await send('amount=%zz');
  t.equal(garbled.status, 403, 'invalid encoding: no fields, so the amount rule denies');
  t.equal((forms.decisions.events.at(-1)?.input as { request: { body_status: string } }).request.body_status, 'malformed');
  const json = await send('{"amount": 40}', 'application/json');
  t.equal(json.status, 403, 'a media type the route does not read gives the policy no body');
  t.equal((forms.decisions.events.at(-1)?.input as { request: { body_status: string } }).request.body_status, 'unsupported');
});
