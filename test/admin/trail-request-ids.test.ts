// The control API's request id in the trail (docs/audit.md): every record a call makes the
// workflow write, refusals included, carries the id its answer echoed as
// `details.http_request_id`, where the data path's records carry theirs. On both stores.
import t from 'tap';
import { verifyChain } from '../../src/audit/index.js';
import { startStack } from './stack.js';

interface Call {
  status: number;
  /** The answer's x-request-id. */
  id: string;
  body: Record<string, unknown>;
}

async function call(base: string, method: string, path: string, token: string, body: unknown, requestId?: string): Promise<Call> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, id: res.headers.get('x-request-id') ?? '', body: await res.json() as Record<string, unknown> };
}

for (const store of ['sqlite', 'postgres'] as const) {
  t.test(`${store}: each workflow record names the control API call that caused it`, async (t) => {
    const stack = await startStack({ store });
    t.teardown(() => stack.close());
    const [alice, bob, dave] = [await stack.token('alice'), await stack.token('bob'), await stack.token('dave')];

    const asked = await call(stack.base, 'POST', '/v1/requests', alice, { role: 'writer', duration: '30m', reason: 'trace me' }, 'ctl-ask-1');
    t.equal(`${String(asked.status)} ${asked.id}`, '201 ctl-ask-1');
    const requestId = String(asked.body.id);
    const self = await call(stack.base, 'POST', `/v1/requests/${requestId}/approve`, alice, {}, 'ctl-self-2');
    t.equal(`${String(self.status)} ${self.id}`, '403 ctl-self-2', 'approving one\'s own request is refused');
    const approved = await call(stack.base, 'POST', `/v1/requests/${requestId}/approve`, bob, { comment: 'ok' }, 'ctl-approve-3');
    t.equal(`${String(approved.status)} ${approved.id}`, '200 ctl-approve-3');
    const grantId = String(approved.body.grant_id);
    // No X-Request-Id (and one that is not plain): the gateway's own id, the one the answer carries.
    const revoked = await call(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, bob, { reason: 'done' });
    t.equal(revoked.status, 200);
    t.match(revoked.id, /^[0-9a-f-]{36}$/, 'a fresh id');
    const again = await call(stack.base, 'POST', `/v1/grants/${grantId}/revoke`, bob, {}, 'not plain {"x":1}');
    t.equal(again.status, 409, 'a grant no longer active');
    t.match(again.id, /^[0-9a-f-]{36}$/);

    const trail = await fetch(`${stack.base}/v1/audit?kind=request.*,approval.*,grant.*,workflow.*&limit=1000`, { headers: { authorization: `Bearer ${dave}` } });
    const records = (await trail.json() as { items: { kind: string; details: Record<string, unknown> }[] }).items;
    t.same(records.map((r) => [r.kind, r.details.http_request_id]), [
      ['request.created', 'ctl-ask-1'],
      ['workflow.refused', 'ctl-self-2'],
      ['approval.added', 'ctl-approve-3'],
      ['request.approved', 'ctl-approve-3'],
      ['grant.granted', 'ctl-approve-3'],
      ['grant.revoked', revoked.id],
      ['workflow.refused', again.id],
    ]);
    const one = await fetch(`${stack.base}/v1/audit?http_request_id=ctl-approve-3`, { headers: { authorization: `Bearer ${dave}` } });
    t.same((await one.json() as { items: { kind: string }[] }).items.map((r) => r.kind), ['approval.added', 'request.approved', 'grant.granted'],
      'the API finds one call\'s records by its id');
    t.match(await verifyChain(stack.db), { ok: true }, 'the chain verifies');
  });
}
