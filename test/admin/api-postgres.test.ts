// The same control API over PostgreSQL (the replicated deployment's store).
import t from 'tap';
import { api, startStack } from './stack.js';

const stack = await startStack({ store: 'postgres' });
t.teardown(() => stack.close());

t.test('request, approve, list, revoke and audit over PostgreSQL', async (t) => {
  const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((s) => stack.token(s)));
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: '1h30m', reason: 'pg flow' } });
  t.equal(created.status, 201);
  t.equal(created.body.duration_seconds, 5400);
  const self = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: alice });
  t.equal(self.body.error.code, 'JITGATE_E_SELF_APPROVAL');
  const approved = await api(stack.base, 'POST', `/v1/requests/${created.body.id}/approve`, { token: bob });
  t.match(approved.body, { status: 'approved', approvals: [{ by: 'bob' }] });
  const active = await api(stack.base, 'GET', '/v1/grants?active=true', { token: alice });
  t.same(active.body.items.map((g: { id: string }) => g.id), [approved.body.grant_id]);
  const revoked = await api(stack.base, 'POST', `/v1/grants/${approved.body.grant_id}/revoke`, { token: bob, body: { reason: 'pg done' } });
  t.equal(revoked.body.status, 'revoked');
  const again = await api(stack.base, 'POST', `/v1/grants/${approved.body.grant_id}/revoke`, { token: bob });
  t.equal(again.status, 409);
  t.equal(again.body.error.code, 'JITGATE_E_GRANT_NOT_ACTIVE');
  const trail = await api(stack.base, 'GET', `/v1/audit?grant_id=${approved.body.grant_id}`, { token: dave });
  t.ok(trail.body.items.some((r: { kind: string }) => r.kind === 'grant.revoked'));
  const ready = await api(stack.base, 'GET', '/readyz');
  t.equal(ready.status, 200);
});

t.test('text PostgreSQL cannot store (U+0000) is the caller\'s mistake: 400 naming the field, not "store unavailable" with the driver\'s words', async (t) => {
  const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((s) => stack.token(s)));
  const created = await api(stack.base, 'POST', '/v1/requests', { token: alice, body: { role: 'writer', duration: 600, reason: 'fine' } });
  for (const [path, token, body] of [
    ['/v1/requests', alice, { role: 'writer', duration: 600, reason: 'a\u0000b' }],
    [`/v1/requests/${String(created.body.id)}/approve`, bob, { comment: 'ok\u0000' }],
    ['/v1/requests/a%00b/approve', bob, undefined],
  ] as [string, string, Record<string, unknown> | undefined][]) {
    const res = await api(stack.base, 'POST', path, { token, ...(body ? { body } : {}) });
    t.equal(`${String(res.status)} ${String(res.body.error?.code)}`, '400 JITGATE_E_VALIDATION', path);
    t.notMatch(res.body.error.message, /UTF8|byte sequence/, 'nothing of the driver\'s');
  }
  t.equal((await api(stack.base, 'GET', '/v1/audit?who=a%00b', { token: dave })).status, 400);
  t.equal((await api(stack.base, 'GET', '/v1/audit?cursor=9223372036854775808', { token: dave })).status, 400, 'a cursor past bigint: 400, not 500');
  t.equal((await api(stack.base, 'GET', `/v1/requests/${String(created.body.id)}`, { token: bob })).body.status, 'pending', 'nothing changed');
});
