// The control API end to end, against the real workflow, policies, store and identity layer.
import t from 'tap';
import { api, startStack } from './stack.js';

const stack = await startStack();
t.teardown(() => stack.close());
const alice = await stack.token('alice');
const bob = await stack.token('bob');
const carol = await stack.token('carol');
const dave = await stack.token('dave');
const erin = await stack.token('erin');
const mallory = await stack.token('mallory');

async function requestCount(): Promise<number> {
  const all = await api(stack.base, 'GET', '/v1/requests?limit=500', { token: dave });
  return all.body.items.length as number;
}

t.test('ask, approve, use the grant, revoke it', async (t) => {
  const created = await api(stack.base, 'POST', '/v1/requests', {
    token: alice,
    body: { role: 'writer', duration: '30m', reason: 'refund for INC-42', ticket: 'INC-42', scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] } },
  });
  t.equal(created.status, 201);
  t.match(created.body, { status: 'pending', role: 'writer', duration_seconds: 1800, requester: { id: 'alice' }, approvals_required: 1, approver_groups: ['approvers'], grant_id: null });
  t.same(created.body.scope, { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] });
  const id: string = created.body.id;

  const listed = await api(stack.base, 'GET', '/v1/requests?status=pending', { token: bob });
  t.equal(listed.status, 200);
  t.ok(listed.body.items.some((r: { id: string }) => r.id === id), 'an approver sees the pending request');

  const approved = await api(stack.base, 'POST', `/v1/requests/${id}/approve`, { token: bob, body: { comment: 'ok for INC-42' } });
  t.equal(approved.status, 200);
  t.match(approved.body, { status: 'approved', approvals: [{ by: 'bob', comment: 'ok for INC-42' }] });
  const grantId: string = approved.body.grant_id;
  t.type(grantId, 'string');

  const grant = await api(stack.base, 'GET', `/v1/grants/${grantId}`, { token: alice });
  t.match(grant.body, { status: 'active', role: 'writer', subject: { id: 'alice' }, approved_by: ['bob'] });
  const active = await api(stack.base, 'GET', '/v1/grants?active=true&subject=alice', { token: alice });
  t.same(active.body.items.map((g: { id: string }) => g.id), [grantId]);

  const again = await api(stack.base, 'POST', `/v1/requests/${id}/approve`, { token: carol, body: {} });
  t.equal(again.status, 409, 'a decided request cannot be approved again');
  t.equal(again.body.error.code, 'JITGATE_E_REQUEST_NOT_PENDING');

  const revoked = await api(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, { token: dave, body: { reason: 'done early' } });
  t.equal(revoked.status, 200);
  t.match(revoked.body, { status: 'revoked', revoked_by: 'dave', revoke_reason: 'done early' });
  const none = await api(stack.base, 'GET', '/v1/grants?active=true&subject=alice', { token: alice });
  t.same(none.body.items, [], 'a revoked grant is not active any more');
});

t.test('text that is not well-formed Unicode (a lone surrogate, valid JSON) is refused and changes nothing', async (t) => {
  const before = await requestCount();
  const asked = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 600, reason: 'work \ud800' } });
  t.equal(asked.status, 400);
  t.equal(asked.body.error.code, 'JITGATE_E_VALIDATION');
  t.match(asked.body.error.message, /reason.*well-formed Unicode/);
  t.equal(await requestCount(), before, 'no request was stored');
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 600, reason: 'work' } });
  const approved = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: bob, body: { comment: 'ok \udc00' } });
  t.equal(approved.status, 400, 'nor an approval comment');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${created.body.id}`, { token: bob })).body.status, 'pending', 'the request is still pending');
  const granted = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: bob });
  const revoked = await api(stack.base, 'POST', `/v1/grants/${granted.body.grant_id}/revoke`, { token: alice, body: { reason: 'done \ud800' } });
  t.equal(revoked.status, 400, 'nor a revoke reason');
  t.equal((await api(stack.base, 'GET', `/v1/grants/${granted.body.grant_id}`, { token: alice })).body.status, 'active', 'the grant stands');
  await api(stack.base, 'POST', `/v1/grants/${granted.body.grant_id}/revoke`, { token: alice, body: { reason: 'done' } });
});

t.test('nobody approves their own request, and the refusal changes nothing', async (t) => {
  const created = await api(stack.base, 'POST', '/v1/requests', { token: bob, body: { role: 'writer', duration: 600, reason: 'migration' } });
  t.equal(created.status, 201);
  const self = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: bob });
  t.equal(self.status, 403);
  t.equal(self.body.error.code, 'JITGATE_E_SELF_APPROVAL');
  const outsider = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: erin });
  t.equal(outsider.status, 404, 'a non-approver, who may not even see the request, cannot approve it');
  t.equal(outsider.body.error.code, 'JITGATE_E_NOT_FOUND');
  const after = await api(stack.base, 'GET', `/v1/requests/${created.body.id}`, { token: bob });
  t.match(after.body, { status: 'pending', approvals: [], grant_id: null });
  const grants = await api(stack.base, 'GET', '/v1/grants?subject=bob', { token: bob });
  t.same(grants.body.items, [], 'no grant came out of it');
  const refusals = await api(stack.base, 'GET', `/v1/audit?kind=workflow.refused&request_id=${String(created.body.id)}`, { token: dave });
  t.same(refusals.body.items.map((r: { actor: string; details: { action: string; error_code: string } }) => [r.actor, r.details.action, r.details.error_code]).sort(),
    [['bob', 'approve', 'JITGATE_E_SELF_APPROVAL'], ['erin', 'approve', 'JITGATE_E_NOT_FOUND']], 'but both attempts are on the record');
  const probe = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'admin', duration: '8h', reason: 'looking around' } });
  t.equal(probe.body.error.code, 'JITGATE_E_DURATION_TOO_LONG', 'asking for more than the role allows is refused');
  const probed = await api(stack.base, 'GET', '/v1/audit?kind=workflow.refused&subject=erin&limit=1', { token: dave });
  t.match(probed.body.items[0], { actor: 'erin', role: 'admin', request_id: null, details: { action: 'request', error_code: 'JITGATE_E_DURATION_TOO_LONG', reason_given: 'looking around', duration_seconds: 28800 } }, 'and so is the probe');
});

t.test('deny and withdraw', async (t) => {
  const a = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: '1h', reason: 'cleanup' } });
  const denied = await api(stack.base, 'POST', `/v1/requests/${a.body.id}/deny`, { token: carol, body: { comment: 'use the report' } });
  t.equal(denied.status, 200);
  t.match(denied.body, { status: 'denied', decided_by: 'carol', decision_comment: 'use the report', grant_id: null });

  const b = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: '1h', reason: 'cleanup again' } });
  const stranger = await api(stack.base, 'POST', `/v1/requests/${b.body.id}/withdraw`, { token: alice });
  t.equal(stranger.status, 404, 'only the requester withdraws (a stranger may not even see it)');
  const approver = await api(stack.base, 'POST', `/v1/requests/${b.body.id}/withdraw`, { token: carol });
  t.equal(approver.body.error?.code, 'JITGATE_E_ELEVATION_DENIED', 'nor does an approver who sees it');
  const withdrawn = await api(stack.base, 'POST', `/v1/requests/${b.body.id}/withdraw`, { token: erin });
  t.equal(withdrawn.status, 200);
  t.equal(withdrawn.body.status, 'withdrawn');
  const late = await api(stack.base, 'POST', `/v1/requests/${b.body.id}/approve`, { token: bob });
  t.equal(late.status, 409);
});

t.test('the elevation policy refuses what it does not allow', async (t) => {
  const before = await requestCount();
  const ineligible = await api(stack.base, 'POST', '/v1/requests', { token: mallory, body: { role: 'writer', duration: '30m', reason: 'please' } });
  t.equal(ineligible.status, 403);
  t.equal(ineligible.body.error.code, 'JITGATE_E_ELEVATION_DENIED');
  const tooLong = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '9h', reason: 'long job' } });
  t.equal(tooLong.status, 400);
  t.equal(tooLong.body.error.code, 'JITGATE_E_DURATION_TOO_LONG');
  const noTicket = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'admin', duration: '30m', reason: 'upgrade' } });
  t.equal(noTicket.body.error.code, 'JITGATE_E_TICKET_REQUIRED');
  const service = await api(stack.base, 'POST', '/v1/requests', { token: stack.apiKey, body: { role: 'writer', duration: '30m', reason: 'nightly' } });
  t.equal(service.status, 403, 'service accounts never request roles');
  t.equal(await requestCount(), before, 'no refused request was stored');
});

t.test('break-glass is granted at once and reviewed by someone else', async (t) => {
  const bg = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'breakglass', duration: '15m', reason: 'production outage INC-99' } });
  t.equal(bg.status, 201);
  t.match(bg.body, { status: 'approved', break_glass: true });
  const grantId: string = bg.body.grant_id;
  const own = await api(stack.base, 'POST', `/v1/grants/${grantId}/review`, { token: alice });
  t.equal(own.status, 403, 'nobody reviews their own break-glass access');
  const reviewed = await api(stack.base, 'POST', `/v1/grants/${grantId}/review`, { token: dave, body: { comment: 'justified' } });
  t.equal(reviewed.status, 200);
  t.match(reviewed.body, { break_glass: true, reviewed_by: 'dave' });
});

t.test('extensions keep the role and go through approval', async (t) => {
  const r = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: '10m', reason: 'deploy' } });
  const ok = await api(stack.base, 'POST', `/v1/requests/${r.body.id}/approve`, { token: bob });
  const ext = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { extends_grant_id: ok.body.grant_id, duration: '10m', reason: 'deploy is slow' } });
  t.equal(ext.status, 201);
  t.match(ext.body, { status: 'pending', role: 'writer', extends_grant_id: ok.body.grant_id });
  const extended = await api(stack.base, 'GET', `/v1/grants/${ok.body.grant_id}`, { token: bob });
  const pending = await api(stack.base, 'GET', '/v1/requests?status=pending&requester=erin', { token: bob });
  const listed = pending.body.items.find((x: { id: string }) => x.id === ext.body.id);
  for (const [name, shown] of [['the created request', ext.body], ['the request read back', (await api(stack.base, 'GET', `/v1/requests/${ext.body.id}`, { token: bob })).body], ['the listed request', listed]]) {
    t.equal(shown.extends_grant_expires_at, extended.body.expires_at, `${name} says when the extended grant ends`);
  }
  t.equal(r.body.extends_grant_expires_at, null, 'a fresh request extends nothing');
  const approved = await api(stack.base, 'POST', `/v1/requests/${ext.body.id}/approve`, { token: bob });
  const granted = await api(stack.base, 'GET', `/v1/audit?kind=grant.granted&request_id=${String(ext.body.id)}`, { token: dave });
  t.match(granted.body.items[0], { actor: 'bob', reason: 'deploy is slow', details: { reason_by: 'erin', extends_grant_id: ok.body.grant_id } }, 'the grant.granted record says whose words its reason is');
  await api(stack.base, 'POST', `/v1/grants/${approved.body.grant_id}/revoke`, { token: erin });
  const mixed = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { extends_grant_id: ok.body.grant_id, role: 'admin', duration: '10m', reason: 'x' } });
  t.equal(mixed.status, 400, 'an extension cannot change the role');
  t.equal(mixed.body.error.details.field, 'role');
});

t.test('a request may ask to wait less than the configured pending time, never longer', async (t) => {
  const waitSeconds = (r: { body: { created_at: string; pending_expires_at: string } }): number =>
    (Date.parse(r.body.pending_expires_at) - Date.parse(r.body.created_at)) / 1000;
  const plain = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '10m', reason: 'x' } });
  t.equal(waitSeconds(plain), 3600, 'by default it waits the configured pending_ttl_seconds');
  const short = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '10m', reason: 'x', pending_ttl: '15m' } });
  t.equal(short.status, 201);
  t.equal(waitSeconds(short), 900, 'pending_ttl: 15m waits 15 minutes');

  const before = await requestCount();
  for (const [pending_ttl, why] of [['2h', 'longer than configured'], ['soon', 'not a duration'], [0, 'zero']] as const) {
    const refused = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '10m', reason: 'x', pending_ttl } });
    t.equal(refused.status, 400, `${why} is refused`);
    t.equal(refused.body.error.code, 'JITGATE_E_VALIDATION');
    t.match(JSON.stringify(refused.body.error), /pending_ttl/, 'naming the field');
  }
  t.match((await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '10m', reason: 'x', pending_ttl: '2h' } })).body.error.message, /at most 3600 seconds/, 'and the most it may be');
  t.equal(await requestCount(), before, 'nothing was stored for the refused ones');

  // Once its time is up nobody can approve it.
  const brief = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '10m', reason: 'x', pending_ttl: 1 } });
  await new Promise((r) => setTimeout(r, 1100));
  const late = await api(stack.base, 'POST', `/v1/requests/${brief.body.id}/approve`, { token: bob });
  t.equal(late.status, 409, 'approving it after its pending time is refused');
  t.equal(late.body.error.code, 'JITGATE_E_REQUEST_NOT_PENDING');

  const r = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: '10m', reason: 'deploy' } });
  const ok = await api(stack.base, 'POST', `/v1/requests/${r.body.id}/approve`, { token: bob });
  const ext = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { extends_grant_id: ok.body.grant_id, duration: '10m', reason: 'more', pending_ttl: '5m' } });
  t.equal(waitSeconds(ext), 300, 'an extension request may ask for a shorter wait too');
});

t.test('every input is validated and the error names the field', async (t) => {
  const before = await requestCount();
  const cases: [unknown, string][] = [
    [{ role: 'writer', duration: '30 minutes', reason: 'x' }, 'duration'],
    [{ role: 'writer', duration: 0, reason: 'x' }, 'duration'],
    [{ role: 'writer', duration: '0m', reason: 'x' }, 'duration'],
    [{ role: 'writer', duration: '30m' }, 'reason'],
    [{ duration: '30m', reason: 'x' }, 'role'],
    [{ role: 'writer', duration: '30m', reason: 'x', approved: true }, 'approved'],
    [{ role: 'writer', duration: '30m', reason: 'x', scope: { methods: ['get'] } }, 'scope.methods.0'],
    [{ role: 'writer', duration: '30m', reason: 42 }, 'reason'],
  ];
  for (const [body, field] of cases) {
    const res = await api(stack.base, 'POST', '/v1/requests', { token: alice, body });
    t.equal(res.status, 400, JSON.stringify(body));
    t.equal(res.body.error.code, 'JITGATE_E_VALIDATION');
    t.equal(res.body.error.details.field, field, res.body.error.message);
    t.match(res.body.error.message, field.split('.')[0]!);
  }
  const badQuery = await api(stack.base, 'GET', '/v1/requests?limit=1000', { token: alice });
  t.equal(badQuery.status, 400);
  t.match(badQuery.body.error, { code: 'JITGATE_E_VALIDATION', details: { in: 'querystring', field: 'limit' } });
  // ajv's coercion read these as 16, 100, 5, 5 and 3: a page the caller did not write.
  for (const query of ['limit=0x10', 'limit=1e2', 'limit=%205', 'limit=5.0', 'limit=3&limit=0x3', 'offset=0x0']) {
    const res = await api(stack.base, 'GET', `/v1/requests?${query}`, { token: alice });
    t.equal(res.status, 400, query);
    t.match(res.body.error, { code: 'JITGATE_E_VALIDATION', details: { in: 'querystring', field: query.slice(0, query.indexOf('=')) } }, query);
  }
  const auditHex = await api(stack.base, 'GET', '/v1/audit?cursor=0x1', { token: alice });
  t.equal(auditHex.status, 400);
  t.equal(auditHex.body.error.details.field, 'cursor');
  const decimal = await api(stack.base, 'GET', '/v1/requests?limit=007', { token: alice });
  t.equal(decimal.status, 200);
  t.equal(decimal.body.limit, 7);
  const badStatus = await api(stack.base, 'GET', '/v1/requests?status=maybe', { token: alice });
  t.equal(badStatus.body.error.details.field, 'status');
  const notJson = await fetch(`${stack.base}/v1/requests`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"role":' });
  t.equal(notJson.status, 400);
  t.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'JITGATE_E_BAD_REQUEST');
  const huge = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '30m', reason: 'x'.repeat(70_000) } });
  t.equal(huge.status, 413);
  t.equal(huge.body.error.code, 'JITGATE_E_BODY_TOO_LARGE');
  const text = await fetch(`${stack.base}/v1/requests`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'text/plain' }, body: 'role=writer' });
  t.equal(text.status, 400);
  t.equal(((await text.json()) as { error: { code: string } }).error.code, 'JITGATE_E_BAD_REQUEST');
  t.equal(await requestCount(), before, 'nothing invalid was stored');
});

t.test('unauthenticated and forged callers are refused before anything runs', async (t) => {
  const before = await requestCount();
  const body = { role: 'writer', duration: '30m', reason: 'x' };
  const anonymous = await api(stack.base, 'POST', '/v1/requests', { body });
  t.equal(anonymous.status, 401);
  t.equal(anonymous.body.error.code, 'JITGATE_E_UNAUTHENTICATED');
  const forged = await api(stack.base, 'POST', '/v1/requests', { token: await stack.forgedToken('alice'), body });
  t.equal(forged.status, 401, 'a token signed by an unknown key is refused');
  const forgedAudit = await api(stack.base, 'GET', '/v1/audit', { token: await stack.forgedToken('dave') });
  t.equal(forgedAudit.status, 401, 'a forged admin token reads nothing');
  const invalid = await api(stack.base, 'POST', '/v1/requests', { body: { nonsense: true } });
  t.equal(invalid.status, 401, 'anonymous callers learn nothing from validation');
  const both = await api(stack.base, 'GET', '/v1/whoami', { token: alice, headers: { 'x-api-key': stack.apiKey } });
  t.equal(both.status, 401);
  t.equal(both.body.error.code, 'JITGATE_E_IDENTITY_AMBIGUOUS');
  for (const [method, path] of [['GET', '/v1/requests'], ['GET', '/v1/grants'], ['GET', '/v1/whoami'], ['GET', '/v1/audit'], ['POST', '/v1/grants/x/revoke']] as const) {
    const res = await api(stack.base, method, path, method === 'POST' ? { body: {} } : {});
    t.equal(res.status, 401, `${method} ${path}`);
  }
  t.equal(await requestCount(), before);
});

t.test('not found is 404 with a stable code', async (t) => {
  for (const path of ['/v1/requests/nope', '/v1/grants/nope']) {
    const res = await api(stack.base, 'GET', path, { token: alice });
    t.equal(res.status, 404);
    t.equal(res.body.error.code, 'JITGATE_E_NOT_FOUND');
  }
  const approve = await api(stack.base, 'POST', '/v1/requests/nope/approve', { token: bob });
  t.equal(approve.status, 404);
  const route = await api(stack.base, 'GET', '/v2/anything', { token: alice });
  t.equal(route.status, 404);
  t.equal(route.body.error.code, 'JITGATE_E_NOT_FOUND');
});

t.test('whoami and the audit trail', async (t) => {
  const me = await api(stack.base, 'GET', '/v1/whoami', { token: alice });
  t.match(me.body, { id: 'alice', kind: 'user', groups: ['eng'], can_read_audit: false });
  const svc = await api(stack.base, 'GET', '/v1/whoami', { token: stack.apiKey });
  t.match(svc.body, { id: 'svc-reporting', kind: 'service' });

  const refused = await api(stack.base, 'GET', '/v1/audit', { token: alice });
  t.equal(refused.status, 403);
  t.equal(refused.body.error.code, 'JITGATE_E_AUDIT_READ_DENIED');
  t.match(refused.body.error.message, /only members of admins, auditors read the audit trail/, 'with the elevation policy\'s reason');
  const trail = await api(stack.base, 'GET', '/v1/audit?kind=request.*,grant.granted&limit=500', { token: dave });
  t.equal(trail.status, 200);
  const kinds = new Set(trail.body.items.map((r: { kind: string }) => r.kind));
  t.ok(kinds.has('request.created') && kinds.has('grant.granted') && kinds.has('request.denied'), [...kinds].join(','));
  t.notOk(kinds.has('grant.revoked'), 'the kind filter applies');
  const mine = await api(stack.base, 'GET', '/v1/audit?subject=erin&limit=1', { token: dave });
  t.equal(mine.body.items.length, 1);
  t.equal(mine.body.items[0].subject, 'erin');
  t.type(mine.body.next_cursor, 'number', 'more pages exist');
  const next = await api(stack.base, 'GET', `/v1/audit?subject=erin&limit=1&cursor=${mine.body.next_cursor}`, { token: dave });
  t.ok(next.body.items[0].seq > mine.body.items[0].seq);
});

t.test('pagination', async (t) => {
  const first = await api(stack.base, 'GET', '/v1/requests?limit=2', { token: dave });
  t.equal(first.body.items.length, 2);
  t.type(first.body.next_cursor, 'string');
  const second = await api(stack.base, 'GET', `/v1/requests?limit=2&cursor=${String(first.body.next_cursor)}`, { token: dave });
  const all = await api(stack.base, 'GET', '/v1/requests?limit=500', { token: dave });
  t.same([...first.body.items, ...second.body.items].map((r: { id: string }) => r.id), all.body.items.slice(0, 4).map((r: { id: string }) => r.id), 'the next page begins where the first ended');
  t.equal(all.body.next_cursor, null);
  t.equal((await api(stack.base, 'GET', '/v1/requests?limit=2&offset=0', { token: dave })).status, 200, 'offset=0 (a first page) is still taken');
  const offset = await api(stack.base, 'GET', '/v1/requests?limit=2&offset=2', { token: dave });
  t.match(offset, { status: 400, body: { error: { code: 'JITGATE_E_VALIDATION', details: { field: 'offset' } } } }, 'a stored-row offset is not');
  const given = String(first.body.next_cursor);
  const [at] = JSON.parse(Buffer.from(given.split('.')[0] ?? '', 'base64url').toString('utf8')) as [string];
  // A cursor is good only for the listing and caller it was given to: one written by hand, or
  // taken from another listing, lets a caller start where it chooses and (where 5,000 rows it
  // may not see follow) learn when each of them was made.
  const refused: [string, string, string][] = [
    ['/v1/grants', 'bm9wZQ', 'not a cursor'],
    ['/v1/grants', Buffer.from('["yesterday","x"]').toString('base64url'), 'not a place'],
    ['/v1/requests', Buffer.from(JSON.stringify([at])).toString('base64url'), 'a time written by hand'],
    ['/v1/requests', `${Buffer.from(JSON.stringify(['2020-01-01T00:00:00.000Z'])).toString('base64url')}.${given.split('.')[1] ?? ''}`, 'another time under the signature given'],
    ['/v1/grants', given, 'given for another route'],
    ['/v1/requests?requester=dave', given, 'given for another filter'],
  ];
  for (const [path, cursor, what] of refused) {
    t.match(await api(stack.base, 'GET', `${path}${path.includes('?') ? '&' : '?'}cursor=${cursor}`, { token: dave }), { status: 400, body: { error: { code: 'JITGATE_E_VALIDATION', details: { field: 'cursor' } } } }, `${what}: refused`);
  }
  t.match(await api(stack.base, 'GET', `/v1/requests?limit=2&cursor=${given}`, { token: erin }), { status: 400, body: { error: { details: { field: 'cursor' } } } }, 'a cursor given to another caller: refused');
  t.equal((await api(stack.base, 'GET', `/v1/requests?limit=5&cursor=${given}`, { token: dave })).status, 200, 'the same listing with another page size takes it');
});

t.test('who may see which requests and grants is the policy\'s decision', async (t) => {
  // mallory (no approver or admin group) asks for nothing; erin asks for writer and gets it.
  const asked = await api(stack.base, 'POST', '/v1/requests', { token: erin, body: { role: 'writer', duration: 600, reason: 'visibility check' } });
  t.equal(asked.status, 201);
  const id: string = asked.body.id;
  const granted = await api(stack.base, 'POST', `/v1/requests/${id}/approve`, { token: bob, body: {} });
  const grantId: string = granted.body.grant_id;
  const ids = async (token: string, path: string): Promise<string[]> => {
    const seen: string[] = [];
    // Follow every page: a page may hold fewer items than asked when some are hidden.
    for (let cursor: string | null = ''; cursor !== null;) {
      const page = await api(stack.base, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=3${cursor === '' ? '' : `&cursor=${cursor}`}`, { token });
      t.equal(page.status, 200);
      seen.push(...(page.body.items as { id: string }[]).map((x) => x.id));
      cursor = page.body.next_cursor as string | null;
    }
    return seen;
  };
  t.ok((await ids(erin, '/v1/requests')).includes(id), 'the requester sees her request');
  t.ok((await ids(bob, '/v1/requests')).includes(id), 'an approver of the role sees it');
  t.ok((await ids(dave, '/v1/requests')).includes(id), 'an administrator sees it');
  const alicesView = await ids(alice, '/v1/requests');
  t.notOk(alicesView.includes(id), 'another employee does not');
  const alicesRequests = await api(stack.base, 'GET', '/v1/requests?limit=500', { token: dave });
  const hers = (alicesRequests.body.items as { id: string; requester: { id: string } }[]).filter((r) => r.requester.id === 'alice').map((r) => r.id);
  t.same(alicesView.sort(), hers.sort(), 'alice sees exactly her own requests, across pages');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${id}`, { token: alice })).status, 404, 'reading it by id answers as if it did not exist');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${id}`, { token: erin })).status, 200);

  t.ok((await ids(erin, '/v1/grants')).includes(grantId), 'the holder sees her grant');
  t.notOk((await ids(mallory, '/v1/grants?subject=erin')).includes(grantId), 'mallory cannot see who holds what');
  t.equal((await api(stack.base, 'GET', `/v1/grants/${grantId}`, { token: mallory })).status, 404);
  t.equal((await api(stack.base, 'GET', `/v1/grants/${grantId}`, { token: bob })).status, 200);
});

t.test('operator endpoints answer without authentication', async (t) => {
  const health = await api(stack.base, 'GET', '/healthz');
  t.equal(health.status, 200);
  const ready = await api(stack.base, 'GET', '/readyz');
  t.equal(ready.status, 200);
  t.match(ready.body, { ok: true, checks: { store: { ok: true } } });
  const metrics = await fetch(`${stack.base}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /text\/plain/);
  t.match(await metrics.text(), /# (HELP|TYPE) jitgate_/);
});

t.test('break-glass grants nobody reviewed are listed for reviewers whatever their status, until reviewed', async (t) => {
  const toReview = '/v1/grants?break_glass=true&reviewed=false&limit=500';
  const bg = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'breakglass', duration: '1h', reason: 'urgent key rotation' } });
  const grantId = String(bg.body.grant_id);
  await api(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, { token: alice, body: { reason: 'done' } });
  const listed = await api(stack.base, 'GET', toReview, { token: bob });
  t.equal(listed.status, 200);
  t.ok(listed.body.items.some((g: { id: string }) => g.id === grantId), 'revoked a second after, it is still on the reviewers\' list');
  t.ok(listed.body.items.every((g: { break_glass: boolean; reviewed_by: string | null }) => g.break_glass && g.reviewed_by === null), 'which holds only unreviewed break-glass grants');
  t.notOk((await api(stack.base, 'GET', '/v1/grants?active=true&limit=500', { token: bob })).body.items.some((g: { id: string }) => g.id === grantId), 'the active list no longer has it');
  t.same((await api(stack.base, 'GET', toReview, { token: mallory })).body.items, [], 'one who may see none of them sees none');
  t.equal((await api(stack.base, 'GET', '/v1/grants?break_glass=maybe', { token: bob })).status, 400, 'the filter takes true or false');
  await api(stack.base, 'POST', `/v1/grants/${grantId}/review`, { token: bob, body: { comment: 'justified' } });
  t.notOk((await api(stack.base, 'GET', toReview, { token: bob })).body.items.some((g: { id: string }) => g.id === grantId), 'reviewed, it leaves the list');
  t.ok((await api(stack.base, 'GET', '/v1/grants?break_glass=true&reviewed=true&limit=500', { token: bob })).body.items.some((g: { id: string }) => g.id === grantId));
});
