// Every refused workflow action leaves a `workflow.refused` record naming whose request or grant it
// was aimed at: the 409s (already approved, no longer pending, grant not active, a concurrent or
// repeated change) as much as the 400/403/404s, against the real store and the sample policies.
import t from 'tap';
import type { AuditRecord } from '../../src/audit/index.js';
import { alice, auditOf, bob, carol, dave, erin, storeWithReplica, user, type Dialect } from './helpers.js';

const frank = user('frank', ['admins']);

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  t.test(dialect, async (t) => {
    const { s, r } = await storeWithReplica(t, dialect, 600);
    const wf = r.workflow;
    /** The refusals recorded since `after` (a seq), oldest first. */
    const refusalsSince = async (after: number): Promise<AuditRecord[]> =>
      (await auditOf(s.db, { kind: 'workflow.refused' })).filter((a) => a.seq > after);
    const lastSeq = async (): Promise<number> => (await auditOf(s.db)).at(-1)?.seq ?? 0;

    await t.test('a 409 refusal is audited like any other', async (t) => {
      const before = await lastSeq();
      const twice = await wf.request(alice, { role: 'admin', duration_seconds: 600, reason: 'twice', ticket: 'T-1' });
      await wf.approve(bob, twice.id);
      await t.rejects(wf.approve(bob, twice.id, 'again'), { code: 'JITGATE_E_ALREADY_APPROVED' });

      const gone = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'withdrawn' });
      await wf.withdraw(alice, gone.id);
      await t.rejects(wf.approve(carol, gone.id), { code: 'JITGATE_E_REQUEST_NOT_PENDING' });

      const used = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'revoked' });
      const grantId = (await wf.approve(bob, used.id)).grant_id!;
      await wf.revoke(alice, grantId, 'done');
      await t.rejects(wf.revoke(dave, grantId), { code: 'JITGATE_E_GRANT_NOT_ACTIVE' });
      await t.rejects(wf.extend(alice, grantId, { duration_seconds: 60, reason: 'more' }), { code: 'JITGATE_E_GRANT_NOT_ACTIVE' });

      const bg = await wf.request(erin, { role: 'breakglass', duration_seconds: 600, reason: 'outage of the refunds API' });
      await wf.review(dave, bg.grant_id!);
      await t.rejects(wf.review(bob, bg.grant_id!), { code: 'JITGATE_E_CONFLICT' });

      const refused = await refusalsSince(before);
      t.same(refused.map((a) => [a.actor, a.details['action'], a.details['error_code'], a.subject]), [
        ['bob', 'approve', 'JITGATE_E_ALREADY_APPROVED', 'alice'],
        ['carol', 'approve', 'JITGATE_E_REQUEST_NOT_PENDING', 'alice'],
        ['dave', 'revoke', 'JITGATE_E_GRANT_NOT_ACTIVE', 'alice'],
        ['alice', 'extend', 'JITGATE_E_GRANT_NOT_ACTIVE', 'alice'],
        ['bob', 'review', 'JITGATE_E_CONFLICT', 'erin'],
      ]);
      t.match(refused[0], { request_id: twice.id, role: 'admin', details: { comment: 'again' } });
      t.match(refused[2], { grant_id: grantId, role: 'writer' });
    });

    await t.test('a refusal names whose request or grant it was aimed at, seen or not', async (t) => {
      const before = await lastSeq();
      const req = await wf.request(alice, { role: 'writer', duration_seconds: 600, reason: 'aimed at' });
      // erin may not see alice's request: she is told there is none, and nothing names alice to her.
      const hidden = await wf.approve(erin, req.id).then(() => null, (err: unknown) => err);
      t.match(hidden, { code: 'JITGATE_E_NOT_FOUND' });
      t.notMatch(JSON.stringify(hidden) + (hidden as Error).message, /alice/, 'the refusal erin reads does not name alice');
      await t.rejects(wf.approve(frank, req.id), { code: 'JITGATE_E_ELEVATION_DENIED' }, 'an admin sees it, and is no approver');
      const grantId = (await wf.approve(bob, req.id)).grant_id!;
      await t.rejects(wf.revoke(erin, grantId), { code: 'JITGATE_E_NOT_FOUND' });
      await t.rejects(wf.approve(bob, 'req_nosuchrequest'), { code: 'JITGATE_E_NOT_FOUND' });
      await t.rejects(wf.request(erin, { role: 'admin', duration_seconds: 600, reason: 'x' }), { code: 'JITGATE_E_TICKET_REQUIRED' });

      const refused = await refusalsSince(before);
      t.same(refused.map((a) => [a.actor, a.details['action'], a.details['error_code'], a.subject, a.role]), [
        ['erin', 'approve', 'JITGATE_E_NOT_FOUND', 'alice', 'writer'],
        ['frank', 'approve', 'JITGATE_E_ELEVATION_DENIED', 'alice', 'writer'],
        ['erin', 'revoke', 'JITGATE_E_NOT_FOUND', 'alice', 'writer'],
        ['bob', 'approve', 'JITGATE_E_NOT_FOUND', null, null],
        ['erin', 'request', 'JITGATE_E_TICKET_REQUIRED', 'erin', 'admin'],
      ]);
    });
  });
}
