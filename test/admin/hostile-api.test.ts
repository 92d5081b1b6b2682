// The control API read with a hostile eye: what a caller learns about requests and grants it
// may not see, input no store keeps as sent, and answers that must keep the API's error shape.
import { connect } from 'node:net';
import t from 'tap';
import { api, startStack } from './stack.js';

const stack = await startStack();
t.teardown(() => stack.close());
const alice = await stack.token('alice');
const bob = await stack.token('bob');
const erin = await stack.token('erin');
const mallory = await stack.token('mallory');
const dave = await stack.token('dave');

async function auditKinds(): Promise<string[]> {
  const page = await api(stack.base, 'GET', '/v1/audit?order=desc&limit=1000', { token: dave });
  return (page.body.items as { kind: string; details: { error_code?: string } }[]).map((r) => `${r.kind}:${r.details.error_code ?? ''}`);
}

t.test('an action on a request or grant the caller may not see answers as for one that does not exist, and changes nothing', async (t) => {
  const pending = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: 600, reason: 'pending one' } });
  const decided = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: 600, reason: 'approved one' } });
  const approved = await api(stack.base, 'POST', `/v1/requests/${decided.body.id as string}/approve`, { token: bob });
  const grantId = approved.body.grant_id as string;
  t.ok(grantId, 'erin holds a grant');
  const unknownReq = 'req_00000000000000000000000000000000';
  const unknownGrt = 'grt_00000000000000000000000000000000';

  const answer = async (token: string, method: string, path: string, body?: Record<string, unknown>): Promise<string> => {
    const res = await api(stack.base, method, path, { token, ...(body ? { body } : {}) });
    return `${String(res.status)} ${String(res.body.error?.code)}`;
  };
  const hidden = '404 JITGATE_E_NOT_FOUND';
  const refusedBefore = (await auditKinds()).filter((k) => k === 'workflow.refused:JITGATE_E_NOT_FOUND').length;
  for (const [what, token, path, body] of [
    ['withdraw a pending request', alice, `/v1/requests/${pending.body.id as string}/withdraw`],
    ['withdraw an approved request', alice, `/v1/requests/${decided.body.id as string}/withdraw`],
    ['deny a decided request', alice, `/v1/requests/${decided.body.id as string}/deny`],
    ['revoke a live grant', mallory, `/v1/grants/${grantId}/revoke`],
    ['review a grant', mallory, `/v1/grants/${grantId}/review`],
    ['extend someone else\'s grant', alice, '/v1/requests', { extends_grant_id: grantId, duration: 60, reason: 'mine now' }],
  ] as [string, string, string, Record<string, unknown>?][]) {
    const unknownPath = path.replace(pending.body.id as string, unknownReq).replace(decided.body.id as string, unknownReq).replace(grantId, unknownGrt);
    const unknownBody = body ? { ...body, extends_grant_id: unknownGrt } : undefined;
    t.equal(await answer(token, 'POST', path, body), hidden, `${what} the caller may not see: 404`);
    t.equal(await answer(token, 'POST', unknownPath, unknownBody), hidden, `${what} that does not exist: the same answer`);
  }
  const refused = (await auditKinds()).filter((k) => k === 'workflow.refused:JITGATE_E_NOT_FOUND').length;
  t.equal(refused - refusedBefore, 12, 'each attempt is in the audit trail as refused');

  t.equal((await api(stack.base, 'GET', `/v1/requests/${pending.body.id as string}`, { token: erin })).body.status, 'pending', 'the pending request is still pending');
  const grant = await api(stack.base, 'GET', `/v1/grants/${grantId}`, { token: erin });
  t.equal(grant.body.status, 'active', 'the grant is still active');

  await api(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, { token: erin, body: { reason: 'done' } });
  t.equal(await answer(mallory, 'POST', `/v1/grants/${grantId}/revoke`), hidden, 'a revoked grant the caller may not see: still 404, not "revoked"');
  t.equal(await answer(bob, 'POST', `/v1/grants/${grantId}/revoke`), '409 JITGATE_E_GRANT_NOT_ACTIVE', 'an approver who may see it is told it ended');
});

t.test('text no store keeps as sent (U+0000, a lone surrogate) and bodies nested too deeply are refused as invalid, before anything is stored', async (t) => {
  const before = (await api(stack.base, 'GET', '/v1/requests?limit=500', { token: dave })).body.items.length as number;
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 600, reason: 'fine' } });
  for (const [method, path, body] of [
    ['POST', '/v1/requests', { role: 'writer', duration: 600, reason: 'a\u0000b' }],
    ['POST', `/v1/requests/${created.body.id as string}/approve`, { comment: 'ok\u0000' }],
    ['GET', '/v1/requests?requester=a%00b'],
    ['GET', '/v1/grants?subject=a%00b'],
    ['GET', '/v1/requests/a%00b'],
    ['POST', '/v1/requests/a%00b/approve'],
  ] as [string, string, Record<string, unknown>?][]) {
    const res = await api(stack.base, method, path, { token: method === 'GET' ? alice : bob, ...(body ? { body } : {}) });
    t.equal(`${String(res.status)} ${String(res.body.error?.code)}`, '400 JITGATE_E_VALIDATION', `${method} ${path}`);
    t.match(res.body.error.message, /NUL/, 'and says why');
  }
  const audit = await api(stack.base, 'GET', '/v1/audit?who=a%00b', { token: dave });
  t.equal(audit.status, 400, 'an audit filter too');
  const deep = '['.repeat(20_000) + ']'.repeat(20_000);
  for (const body of [`{"role":"writer","duration":60,"reason":"x","scope":{"paths":${deep}}}`, `{"extra":${deep}}`]) {
    const res = await fetch(`${stack.base}/v1/requests`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body });
    const json = await res.json() as { error: { code: string; message: string } };
    t.equal(`${String(res.status)} ${json.error.code}`, '400 JITGATE_E_VALIDATION', `40 kB of nesting (${body.slice(0, 20)}): 400, not a stack overflow`);
    t.match(json.error.message, /nested deeper than 32 levels/);
  }
  t.equal((await api(stack.base, 'GET', '/v1/requests?limit=500', { token: dave })).body.items.length, before + 1, 'only the one good request was stored');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${created.body.id as string}`, { token: bob })).body.status, 'pending', 'the approval with NUL did not happen');
});

t.test('audit bounds and cursors the store cannot take are refused as invalid, not a 500', async (t) => {
  for (const q of ['since=2016-12-31T23:59:60Z', 'until=2016-12-31T23:59:60Z', 'since=2016-12-31T18:59:60-05:00']) {
    const res = await api(stack.base, 'GET', `/v1/audit?${q}`, { token: dave });
    t.equal(`${String(res.status)} ${String(res.body.error?.code)}`, '400 JITGATE_E_VALIDATION', q);
    t.match(res.body.error.message, /leap second/);
  }
  t.equal((await api(stack.base, 'GET', '/v1/audit?since=2016-12-31T23:59:59Z', { token: dave })).status, 200, 'a second earlier is a bound');
  // A bound finer than the stored milliseconds: the record at `at` lies before `at` + 0.5 ms, so until takes it, since does not.
  const [record] = (await api(stack.base, 'GET', '/v1/audit?limit=1', { token: dave })).body.items as { seq: number; at: string }[];
  const bound = record!.at.replace('Z', '5Z');
  const seqs = async (q: string): Promise<number[]> => ((await api(stack.base, 'GET', `/v1/audit?${q}`, { token: dave })).body.items as { seq: number }[]).map((r) => r.seq);
  t.ok((await seqs(`until=${bound}`)).includes(record!.seq), `until=${bound} includes the record at ${record!.at}`);
  t.notOk((await seqs(`since=${bound}`)).includes(record!.seq), `since=${bound} leaves it out`);
  // An offset carrying the last year past 9999 in UTC: its ISO form (+010000-…) sorts before every stored time, so it answered nothing.
  const past = await api(stack.base, 'GET', '/v1/audit?until=9999-12-31T23:00:00-02:00', { token: dave });
  t.equal(`${String(past.status)} ${String(past.body.error?.code)}`, '400 JITGATE_E_VALIDATION', 'until past year 9999 in UTC');
  t.equal((await api(stack.base, 'GET', '/v1/audit?until=9999-12-31T23:00:00Z&limit=1', { token: dave })).body.items.length, 1, 'an hour earlier is a bound, before which every record lies');
  for (const cursor of ['9223372036854775808', '1e400']) {
    const res = await api(stack.base, 'GET', `/v1/audit?cursor=${cursor}`, { token: dave });
    t.equal(`${String(res.status)} ${String(res.body.error?.code)}`, '400 JITGATE_E_VALIDATION', `cursor=${cursor}`);
  }
  t.equal((await api(stack.base, 'GET', '/v1/audit?cursor=9007199254740991', { token: dave })).status, 200, 'the largest safe integer is a cursor');
});

t.test('a body that is no object is told so', async (t) => {
  for (const body of ['[1,2]', '"writer"', '42', 'true']) {
    const res = await fetch(`${stack.base}/v1/requests`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body });
    const json = await res.json() as { error: { code: string; message: string } };
    t.equal(`${String(res.status)} ${json.error.code}`, '400 JITGATE_E_VALIDATION', body);
    t.match(json.error.message, /^The request failed validation: body must be object/, `${body}: ${json.error.message}`);
  }
});

t.test('a head too large or one that does not parse is answered in the API\'s error shape', async (t) => {
  const big = await fetch(`${stack.base}/v1/whoami`, { headers: { authorization: `Bearer ${alice}`, 'x-pad': 'a'.repeat(20_000) } });
  t.equal(big.status, 431);
  t.same(await big.json(), { error: { code: 'JITGATE_E_HEADERS_TOO_LARGE', message: 'The request headers are too large' } });
  const raw = await new Promise<string>((resolve, reject) => {
    const sock = connect(Number(new URL(stack.base).port), '127.0.0.1', () => { sock.write('GET /v1/whoami HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'); });
    let data = '';
    sock.on('data', (d: Buffer) => { data += d.toString(); });
    sock.on('end', () => { resolve(data); });
    sock.on('error', reject);
  });
  t.match(raw, /^HTTP\/1\.1 400 /);
  t.match(raw, /\r\n\r\n\{"error":\{"code":"JITGATE_E_BAD_REQUEST"/);
});

t.test('a path that does not decode is answered in the API\'s error shape, before authentication', async (t) => {
  for (const [method, path] of [['POST', '/v1/requests/%zz/approve'], ['GET', '/v1/grants/%E0%A4%A'], ['GET', '/v1/%zz']] as const) {
    const res = await fetch(`${stack.base}${path}`, { method });
    const json = await res.json() as { error?: { code?: string }; statusCode?: number };
    t.equal(`${String(res.status)} ${String(json.error?.code)}`, '400 JITGATE_E_BAD_REQUEST', `${method} ${path}`);
    t.same(Object.keys(json), ['error'], 'nothing but the error');
  }
});

t.test('a change a browser marks as sent from another site is refused before it is authenticated; the console\'s own and the CLI\'s pass', async (t) => {
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 600, reason: 'csrf target' } });
  const approve = async (headers: Record<string, string>): Promise<string> => {
    const res = await fetch(`${stack.base}/v1/requests/${created.body.id as string}/approve`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, ...headers } });
    return `${String(res.status)} ${(await res.json() as { error?: { code: string } }).error?.code ?? 'ok'}`;
  };
  t.equal(await approve({ 'sec-fetch-site': 'cross-site' }), '403 JITGATE_E_CROSS_SITE', 'Sec-Fetch-Site: cross-site');
  t.equal(await approve({ 'sec-fetch-site': 'same-site' }), '403 JITGATE_E_CROSS_SITE', 'a sibling subdomain is another site too');
  t.equal(await approve({ origin: 'https://evil.example' }), '403 JITGATE_E_CROSS_SITE', 'an Origin that is not the API\'s');
  t.equal(await approve({ origin: 'null' }), '403 JITGATE_E_CROSS_SITE', 'Origin: null');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${created.body.id as string}`, { token: bob })).body.status, 'pending', 'none of them approved it');
  const unauthenticated = await fetch(`${stack.base}/v1/requests/${created.body.id as string}/approve`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(unauthenticated.status, 403, 'refused before authentication: no 401 to tell a page whether a credential was attached');
  t.equal((await fetch(`${stack.base}/v1/whoami`, { headers: { authorization: `Bearer ${bob}`, 'sec-fetch-site': 'cross-site' } })).status, 200, 'reads are not refused (a page cannot read the answer)');
  t.equal(await approve({ 'sec-fetch-site': 'same-origin', origin: stack.base }), '200 ok', 'the console\'s own request (same origin) approves');
});

t.test('filtering on a subject whose rows one may not see tells nothing of how many there are', async (t) => {
  const stackOwn = await startStack();
  t.teardown(() => stackOwn.close());
  const erinOwn = await stackOwn.token('erin');
  const bobOwn = await stackOwn.token('bob');
  const malloryOwn = await stackOwn.token('mallory');
  for (let i = 0; i < 13; i++) await api(stackOwn.base, 'POST', '/v1/requests', { token: erinOwn, body: { role: 'writer', duration: 600, reason: `pending ${String(i)}` } });
  const probe = async (token: string, path: string): Promise<string[]> => {
    const answers: string[] = [];
    for (const limit of [1, 2, 5, 13, 500]) {
      const page = await api(stackOwn.base, 'GET', `${path}&limit=${String(limit)}`, { token });
      answers.push(`${String(page.body.items.length)}:${String(page.body.next_cursor)}`);
    }
    return answers;
  };
  const none = ['0:null', '0:null', '0:null', '0:null', '0:null'];
  t.same(await probe(malloryOwn, '/v1/requests?requester=erin&status=pending'), none, 'thirteen requests: the same answers at every limit');
  t.same(await probe(malloryOwn, '/v1/requests?requester=nobody&status=pending'), none, 'as for a subject with none');
  t.same(await probe(malloryOwn, '/v1/grants?subject=erin&active=true'), none, 'grants too');
  let seen = 0;
  for (let cursor: string | null = ''; cursor !== null;) {
    const page: { body: { items: unknown[]; next_cursor: string | null } } = await api(stackOwn.base, 'GET', `/v1/requests?requester=erin&limit=5${cursor === '' ? '' : `&cursor=${cursor}`}`, { token: bobOwn });
    seen += page.body.items.length;
    cursor = page.body.next_cursor;
  }
  t.equal(seen, 13, 'an approver who sees them pages through all of them');
});

t.test('where a page ends says nothing of the rows one may not see, whatever the filter', async (t) => {
  const stackOwn = await startStack();
  t.teardown(() => stackOwn.close());
  const [aliceOwn, erinOwn, bobOwn, daveOwn] = await Promise.all(['alice', 'erin', 'bob', 'dave'].map((s) => stackOwn.token(s)));
  const marker = await api(stackOwn.base, 'POST', '/v1/requests', { token: aliceOwn, body: { role: 'breakglass', duration: '5m', reason: 'marker for counting' } });
  t.equal(marker.status, 201);
  const look = async (): Promise<string[]> => Promise.all(['/v1/requests?role=breakglass&limit=1', '/v1/requests?status=approved&limit=1', '/v1/grants?active=true&limit=1', '/v1/grants?limit=2']
    .map(async (path) => JSON.stringify((await api(stackOwn.base, 'GET', path, { token: aliceOwn })).body)));
  const before = await look();
  for (const token of [erinOwn, bobOwn, daveOwn]) {
    t.equal((await api(stackOwn.base, 'POST', '/v1/requests', { token, body: { role: 'breakglass', duration: '1h', reason: 'prod incident 1234' } })).status, 201);
  }
  t.same(await look(), before, 'three break-glass grants of others later, alice reads exactly what she read before');
  const page = JSON.parse(before[0]!) as { items: { id: string }[]; next_cursor: string };
  t.same(page.items.map((r) => r.id), [marker.body.id], 'her own request');
  const next = await api(stackOwn.base, 'GET', `/v1/requests?role=breakglass&limit=1&cursor=${page.next_cursor}`, { token: aliceOwn });
  t.same(next.body, { items: [], limit: 1, next_cursor: null }, 'and after it, nothing');
});

t.test('a query parameter no route reads is refused on every authenticated route, before anything changes', async (t) => {
  const doc = (await api(stack.base, 'GET', '/v1/openapi.json')).body as { paths: Record<string, Record<string, { security: unknown[] }>> };
  const pending = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: 600, reason: 'query probe' } });
  const granted = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: 600, reason: 'query probe grant' } });
  const grantId = (await api(stack.base, 'POST', `/v1/requests/${granted.body.id as string}/approve`, { token: bob })).body.grant_id as string;
  const trail = async (): Promise<number> => ((await api(stack.base, 'GET', '/v1/audit?order=desc&limit=1', { token: dave })).body.items[0] as { seq: number }).seq;
  const before = await trail();
  let operations = 0;
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (op.security.length === 0) continue;
      operations++;
      const path = template.replace('{id}', template.startsWith('/v1/grants') ? grantId : pending.body.id as string);
      const res = await api(stack.base, method.toUpperCase(), `${path}?dry_run=true`, { token: bob, ...(method === 'post' && template === '/v1/requests' ? { body: { role: 'writer', duration: 60, reason: 'x' } } : {}) });
      t.equal(`${String(res.status)} ${String(res.body.error?.code)} ${String(res.body.error?.details?.field)}`, '400 JITGATE_E_VALIDATION dry_run', `${method.toUpperCase()} ${template}?dry_run=true`);
    }
  }
  t.equal(operations, 12, 'every authenticated operation was tried');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${pending.body.id as string}`, { token: bob })).body.status, 'pending', 'approve?dry_run=true did not approve');
  t.equal((await api(stack.base, 'GET', `/v1/grants/${grantId}`, { token: bob })).body.status, 'active', 'revoke?dry_run=true did not revoke');
  t.equal(await trail(), before, 'nothing was audited');
});

t.test('an id of any length the schema takes is looked up; a longer one is refused naming the field, after authentication', async (t) => {
  const answer = async (token: string | undefined, method: string, path: string): Promise<string> => {
    const res = await api(stack.base, method, path, token ? { token } : {});
    return `${String(res.status)} ${String(res.body.error?.code)} ${String(res.body.error?.details?.field ?? '')}`;
  };
  for (const length of [100, 101, 150, 200]) {
    const id = `req_${'a'.repeat(length - 4)}`;
    t.equal(await answer(bob, 'GET', `/v1/requests/${id}`), '404 JITGATE_E_NOT_FOUND ', `GET an id of ${String(length)} characters`);
    t.equal(await answer(bob, 'POST', `/v1/requests/${id}/approve`), '404 JITGATE_E_NOT_FOUND ', `approve an id of ${String(length)} characters`);
    t.equal(await answer(bob, 'GET', `/v1/grants/${id.replace('req_', 'grt_')}`), '404 JITGATE_E_NOT_FOUND ', `a grant id of ${String(length)} characters`);
  }
  t.equal(await answer(bob, 'GET', `/v1/requests/${'é'.repeat(200)}`), '404 JITGATE_E_NOT_FOUND ', '200 characters sent percent-encoded');
  t.equal(await answer(bob, 'GET', `/v1/requests/${'😀'.repeat(200)}`), '404 JITGATE_E_NOT_FOUND ', '200 characters outside the BMP');
  for (const length of [201, 5000]) {
    t.equal(await answer(bob, 'GET', `/v1/requests/${'a'.repeat(length)}`), '400 JITGATE_E_VALIDATION id', `an id of ${String(length)} characters`);
    t.equal(await answer(undefined, 'POST', `/v1/grants/${'a'.repeat(length)}/revoke`), '401 JITGATE_E_UNAUTHENTICATED ', `anonymous, ${String(length)} characters: 401 first`);
  }
});

t.test('a request that arrives on an open connection while the API closes is answered by the API, not by fastify\'s bare 503', async (t) => {
  const own = await startStack();
  const token = await own.token('alice');
  const port = Number(new URL(own.base).port);
  const body = JSON.stringify({ role: 'writer', duration: 60, reason: 'in flight at shutdown' });
  const sock = connect(port, '127.0.0.1');
  let data = '';
  sock.on('data', (d: Buffer) => { data += d.toString(); });
  const ended = new Promise<void>((resolve) => sock.on('close', () => { resolve(); }));
  await new Promise<void>((resolve) => sock.on('connect', () => { resolve(); }));
  // The first request is under way (the server read its head: it asks for the body) when the server starts to close.
  sock.write(`POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${String(body.length)}\r\nExpect: 100-continue\r\n\r\n`);
  while (!data.includes('100 Continue')) await new Promise((resolve) => sock.once('data', resolve));
  data = '';
  const closed = own.server.close();
  // Closing has begun once the listener takes no new connection.
  for (let refused = false; !refused;) {
    refused = await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1');
      probe.on('connect', () => { probe.destroy(); resolve(false); });
      probe.on('error', () => { resolve(true); });
    });
  }
  sock.write(`${body}GET /v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await ended;
  await closed;
  await own.close().catch(() => undefined);
  const answers = data.split(/(?=HTTP\/1\.1 )/);
  t.equal(answers.length, 2, 'both requests were answered');
  t.match(answers[0], /^HTTP\/1\.1 201 /, 'the request under way was served');
  t.match(answers[1], /^HTTP\/1\.1 200 /, 'so was the one that followed it');
  t.match(answers[1], /\r\nx-request-id: /i, 'with its request id');
  t.match(answers[1], /\r\nconnection: close\r\n/i, 'and the connection closes after it');
  t.match(answers[1], /\r\n\r\n\{"id":"alice",/, 'the whoami answer');
});

t.test('every refused field says which part of the call holds it, in one vocabulary', async (t) => {
  for (const [method, path, body, where] of [
    ['POST', '/v1/requests', { role: 'writer', duration: '366d', reason: 'x' }, 'body duration'],
    ['POST', '/v1/requests', { role: 'writer', duration: '9999999999999999999d', reason: 'x' }, 'body duration'],
    ['POST', '/v1/requests', { role: 'writer', duration: 60, reason: 'x', pending_ttl: '2d' }, 'body pending_ttl'],
    ['POST', '/v1/requests', { role: 'writer', duration: 60, reason: 'x', pending_ttl: '400d' }, 'body pending_ttl'],
    ['POST', '/v1/requests', { role: 'writer', duration: 60, reason: 'x', ticket: 7 }, 'body ticket'],
    ['GET', '/v1/requests?offset=5', undefined, 'querystring offset'],
    ['GET', '/v1/requests?cursor=abc', undefined, 'querystring cursor'],
    ['GET', '/v1/grants?limit=0', undefined, 'querystring limit'],
    ['GET', '/v1/audit?since=2016-12-31T23:59:60Z', undefined, 'querystring since'],
    ['GET', '/v1/audit?until=9999-12-31T23:00:00-02:00', undefined, 'querystring until'],
    ['GET', '/v1/requests/a%00b', undefined, 'params id'],
  ] as [string, string, Record<string, unknown> | undefined, string][]) {
    const res = await api(stack.base, method, path, { token: dave, ...(body ? { body } : {}) });
    t.equal(`${String(res.status)} ${String(res.body.error?.details?.in)} ${String(res.body.error?.details?.field)}`, `400 ${where}`, `${method} ${path} ${body ? JSON.stringify(body) : ''}`);
  }
});

t.test('a body with a repeated member name is refused, not read as its last one, and changes nothing', async (t) => {
  const count = async (): Promise<number> => ((await api(stack.base, 'GET', '/v1/requests?limit=500&requester=alice', { token: dave })).body.items as unknown[]).length;
  const before = await count();
  const send = async (path: string, body: string, token = alice): Promise<{ status: number; json: { error?: { code: string; message: string; details?: Record<string, unknown> }; id?: string; reason?: string } }> => {
    const res = await fetch(`${stack.base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    return { status: res.status, json: await res.json() as never };
  };
  for (const body of [
    '{"role":"writer","role":"admin","duration":60,"reason":"x","ticket":"T-1"}',
    '{"role":"writer","duration":60,"reason":"benign","reason":"other"}',
    '{"role":"writer","duration":60,"reason":"x","scope":{"route":"demo","route":"other"}}',
    '{"role":"writer","duration":60,"\\u0064uration":28800,"reason":"x"}',
  ]) {
    const res = await send('/v1/requests', body);
    t.equal(`${String(res.status)} ${String(res.json.error?.code)}`, '400 JITGATE_E_BODY_AMBIGUOUS', body);
    t.match(res.json.error?.message, /appears twice in one object/);
  }
  t.equal(await count(), before, 'no request was made');
  const tricky = await send('/v1/requests', '{"role":"writer","duration":60,"reason":"role, \\"role\\": {admin}"}');
  t.equal(tricky.status, 201, 'a reason that looks like a member name is a reason');
  t.equal(tricky.json.reason, 'role, "role": {admin}');
  const approve = await send(`/v1/requests/${String(tricky.json.id)}/approve`, '{"comment":"ok","comment":"ok"}', bob);
  t.equal(`${String(approve.status)} ${String(approve.json.error?.code)}`, '400 JITGATE_E_BODY_AMBIGUOUS', 'on every route');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${String(tricky.json.id)}`, { token: bob })).body.status, 'pending', 'and nothing was approved');
  const poisoned = await send('/v1/requests', '{"role":"writer","duration":60,"reason":"x","__proto__":{"admin":true}}');
  t.equal(`${String(poisoned.status)} ${String(poisoned.json.error?.code)}`, '400 JITGATE_E_BAD_REQUEST', '__proto__ is still refused');
});
