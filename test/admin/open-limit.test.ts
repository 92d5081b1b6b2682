// One requester cannot pile up requests and grants: against a real gateway (demo config) one eng
// user made 3,000 pending requests in 21 s (30 MB of store), or 2,000 auto-approved break-glass
// grants, all of which every request of theirs then handed to the policy and the decision log
// (4.6 MB per decision log line; other callers' median answer went from 3.8 ms to 28 ms).
// jitgate.workflow.max_open_per_requester (default 20) bounds pending requests plus active grants.
import t from 'tap';
import { DEFAULT_MAX_OPEN_PER_REQUESTER } from '../../src/grants/config.js';
import { api, startStack } from './stack.js';

for (const store of ['sqlite', 'postgres'] as const) {
  t.test(`${store}: pending requests and active grants of one requester are bounded`, async (t) => {
    const stack = await startStack({ store });
    t.teardown(() => stack.close());
    const [alice, erin] = await Promise.all([stack.token('alice'), stack.token('erin')]);
    const most = DEFAULT_MAX_OPEN_PER_REQUESTER;
    const ask = (token: string, role = 'writer'): Promise<{ status: number; body: { id: string; error?: { code: string; details?: unknown } } }> =>
      api(stack.base, 'POST', '/v1/requests', { token, body: { role, duration: '1h', reason: 'a long enough reason' } });

    // One break-glass grant (auto-approved, active at once) and pending requests up to the bound.
    t.equal((await ask(alice, 'breakglass')).status, 201, 'a break-glass grant');
    const mine: string[] = [];
    for (let i = 1; i < most; i++) {
      const r = await ask(alice);
      t.equal(r.status, 201);
      mine.push(r.body.id);
    }
    for (const role of ['writer', 'breakglass']) {
      const over = await ask(alice, role);
      t.equal(over.status, 409, `${role}: one more is refused`);
      t.match(over.body.error, { code: 'JITGATE_E_TOO_MANY_OPEN', message: `The requester has too many pending requests and active grants: ${String(most)} open, at most ${String(most)}`, details: { open: most, max_open_per_requester: most } });
    }
    const [pending] = await stack.db.query("SELECT COUNT(*) AS n FROM jitgate_requests WHERE requester_id = 'alice' AND status = 'pending'");
    const [grants] = await stack.db.query("SELECT COUNT(*) AS n FROM jitgate_grants WHERE subject_id = 'alice'");
    t.same([Number(pending!.n), Number(grants!.n)], [most - 1, 1], 'the refused ones made nothing');

    t.equal((await ask(erin)).status, 201, 'another requester is not held by it');
    t.equal((await api(stack.base, 'POST', `/v1/requests/${mine[0]!}/withdraw`, { token: alice })).status, 200);
    t.equal((await ask(alice)).status, 201, 'a withdrawn request frees its place');
  });
}
