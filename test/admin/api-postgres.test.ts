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
