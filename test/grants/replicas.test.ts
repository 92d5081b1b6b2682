// Two replicas (two Workflow instances on two Db connections to one PostgreSQL database)
// racing on the same request or grant: every race ends in exactly one outcome and a
// consistent history, and the shared audit chain still verifies.
import t from 'tap';
import { verifyChain } from '../../src/audit/index.js';
import { isJitgateError } from '../../src/errors.js';
import { alice, auditOf, bob, carol, dave, openStore, replica, TestClock, user } from './helpers.js';

const ROUNDS = 8;

function codeOf(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'ok';
  return isJitgateError(r.reason) ? r.reason.code : `unexpected: ${String(r.reason)}`;
}

t.test('PostgreSQL, two replicas', async (t) => {
  const s = await openStore('postgres');
  const clock = new TestClock();
  const a = await replica(s.db, clock, 600);
  const b = await replica(s.openAnother(), clock, 600);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
    await s.close();
  });

  await t.test('two approvers on two replicas, one approval needed: one approves, the other finds it decided', async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      const req = await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: `race ${i}` });
      const results = await Promise.allSettled([a.workflow.approve(bob, req.id), b.workflow.approve(carol, req.id)]);
      t.same(results.map(codeOf).sort(), ['JITGATE_E_REQUEST_NOT_PENDING', 'ok'], `round ${i}`);
      const final = (await a.workflow.getRequest(req.id))!;
      t.equal(final.status, 'approved');
      t.equal(final.approvals.length, 1, 'exactly one approval recorded');
      const grants = (await a.workflow.listGrants({ subject: 'alice', limit: 1000 })).filter((g) => g.request_id === req.id);
      t.equal(grants.length, 1, 'exactly one grant');
      const kinds = (await auditOf(s.db, { request_id: req.id })).map((x) => x.kind);
      t.same(kinds, ['request.created', 'approval.added', 'request.approved', 'grant.granted', 'workflow.refused'], 'the approval that came second is on the record as refused');
    }
  });

  await t.test('one requester\'s requests side by side on two replicas never pass max_open_per_requester', async (t) => {
    // Every workflow step takes the audit chain's lock before it reads anything, so the count
    // of open requests and grants is never read by two steps at once: the bound is exact.
    const most = 3;
    const x = await replica(s.openAnother(), clock, 600, most);
    const y = await replica(s.openAnother(), clock, 600, most);
    t.teardown(async () => { await x.stop(); await y.stop(); });
    const erin = user('erin', ['eng']);
    const asks = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? x : y).workflow.request(erin, { role: 'writer', duration_seconds: 600, reason: `flood ${i}` }));
    const codes = (await Promise.allSettled(asks)).map(codeOf);
    t.equal(codes.filter((c) => c === 'ok').length, most, `${String(most)} of 12 made`);
    t.equal(codes.filter((c) => c === 'JITGATE_E_TOO_MANY_OPEN').length, 12 - most, 'the others refused');
    t.equal((await x.workflow.listRequests({ requester: 'erin', status: 'pending', limit: 100 })).length, most, 'and no more are pending');
  });

  await t.test('the key listing cursors are signed with: made once, the same on both replicas', async (t) => {
    // Asked at once on both, before either has one: one INSERT wins, both read that one. A
    // cursor one replica gave is then good on the other (behind a load balancer pages alternate).
    const [ka, kb] = await Promise.all([a.workflow.listingKey(), b.workflow.listingKey()]);
    t.equal(ka.length, 32, '256 bits');
    t.ok(ka.equals(kb), 'the same key on both replicas');
    t.ok((await b.workflow.listingKey()).equals(ka), 'and it stays');
  });

  await t.test('the same approver submits twice on two replicas: counted once', async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      const req = await a.workflow.request(alice, { role: 'admin', duration_seconds: 600, reason: `double ${i}`, ticket: 'INC-1' });
      const results = await Promise.allSettled([a.workflow.approve(bob, req.id), b.workflow.approve(bob, req.id)]);
      t.same(results.map(codeOf).sort(), ['JITGATE_E_ALREADY_APPROVED', 'ok']);
      const final = (await b.workflow.getRequest(req.id))!;
      t.equal(final.status, 'pending', 'still needs a second, different approver');
      t.same(final.approvals.map((x) => x.by), ['bob']);
      await b.workflow.withdraw(alice, req.id);
    }
  });

  await t.test('approve against withdraw: one wins, the history says which', async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      const req = await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: `withdraw ${i}` });
      const [approve, withdraw] = await Promise.allSettled([a.workflow.approve(bob, req.id), b.workflow.withdraw(alice, req.id)]);
      const final = (await a.workflow.getRequest(req.id))!;
      t.equal([approve, withdraw].filter((x) => x.status === 'fulfilled').length, 1, 'exactly one succeeds');
      t.equal(final.status, approve.status === 'fulfilled' ? 'approved' : 'withdrawn');
      t.equal(final.grant_id !== null, approve.status === 'fulfilled');
    }
  });

  await t.test('approving an extension against revoking the grant: no access survives', async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      const first = await a.workflow.approve(bob, (await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: `ext ${i}` })).id);
      const ext = await a.workflow.extend(alice, first.grant_id!, { duration_seconds: 600, reason: 'more' });
      const [approve, revoke] = await Promise.allSettled([b.workflow.approve(carol, ext.id), a.workflow.revoke(dave, first.grant_id!, 'stop')]);
      t.equal(revoke.status, 'fulfilled', 'revocation always succeeds');
      if (approve.status === 'rejected') t.equal(codeOf(approve), 'JITGATE_E_GRANT_NOT_ACTIVE');
      const live = await a.workflow.listGrants({ subject: 'alice', active: true, limit: 1000 });
      t.same(live.filter((g) => g.id === first.grant_id || g.request_id === ext.id), [], 'neither the grant nor its extension is active');
      t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).filter((g) => g.request_id === ext.id || g.id === first.grant_id), []);
    }
  });

  await t.test('two revocations of one grant on two replicas: one revokes, the other finds it ended', async (t) => {
    for (let i = 0; i < ROUNDS; i++) {
      const ok = await a.workflow.approve(bob, (await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: `revoke ${i}` })).id);
      const results = await Promise.allSettled([a.workflow.revoke(alice, ok.grant_id!, 'a'), b.workflow.revoke(dave, ok.grant_id!, 'b')]);
      t.same(results.map(codeOf).sort(), ['JITGATE_E_GRANT_NOT_ACTIVE', 'ok']);
      const kinds = (await auditOf(s.db, { grant_id: ok.grant_id! })).map((x) => x.kind);
      t.equal(kinds.filter((k) => k === 'grant.revoked').length, 1, 'one revocation in the history');
    }
  });

  await t.test('approval at the moment the request expires, against the sweeper on the other replica', async (t) => {
    const outcomes = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      const req = await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: `deadline ${i}` });
      const deadline = Date.parse(req.pending_expires_at);
      // The approver's clock is 1 ms before the deadline, the sweeper's at it: both may act.
      const before = new TestClock(deadline - 1);
      const at = new TestClock(deadline);
      const approver = await replica(s.openAnother(), before, 600);
      const sweeperSide = await replica(s.openAnother(), at, 600);
      const [approve, sweep] = await Promise.allSettled([approver.workflow.approve(bob, req.id), sweeperSide.sweeper.sweepOnce()]);
      t.equal(sweep.status, 'fulfilled');
      const final = (await a.workflow.getRequest(req.id))!;
      const kinds = (await auditOf(s.db, { request_id: req.id })).map((x) => x.kind);
      if (approve.status === 'fulfilled') {
        t.equal(final.status, 'approved');
        t.notOk(kinds.includes('request.expired'));
      } else {
        t.equal(codeOf(approve), 'JITGATE_E_REQUEST_NOT_PENDING');
        t.equal(final.status, 'expired');
        t.same(kinds, ['request.created', 'request.expired', 'workflow.refused'], 'the late approval is on the record as refused');
      }
      outcomes.add(final.status);
      await approver.stop();
      await sweeperSide.stop();
    }
    t.ok(outcomes.size >= 1, `outcomes seen: ${[...outcomes].join(', ')}`);
  });

  await t.test('the shared audit chain verifies after the races', async (t) => {
    const report = await verifyChain(s.db);
    t.equal(report.ok, true, JSON.stringify(report.problem));
  });
});
