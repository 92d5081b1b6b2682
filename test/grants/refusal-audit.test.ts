// Every refused workflow action leaves a `workflow.refused` record: the 409s (already approved, no
// longer pending, grant not active, a repeated change) as much as the 400/403/404s, against the
// real store and the sample policies.
import t from 'tap';
import type { AuditRecord } from '../../src/audit/index.js';
import { alice, auditOf, bob, carol, dave, erin, openStore, replica, TestClock, type Dialect } from './helpers.js';

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  t.test(dialect, async (t) => {
    const s = await openStore(dialect);
    const clock = new TestClock();
    const r = await replica(s.db, clock, 600);
    t.teardown(async () => {
      await r.stop();
      await s.close();
    });
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
      t.same(refused.map((a) => [a.actor, a.details['action'], a.details['error_code']]), [
        ['bob', 'approve', 'JITGATE_E_ALREADY_APPROVED'],
        ['carol', 'approve', 'JITGATE_E_REQUEST_NOT_PENDING'],
        ['dave', 'revoke', 'JITGATE_E_GRANT_NOT_ACTIVE'],
        ['alice', 'extend', 'JITGATE_E_GRANT_NOT_ACTIVE'],
        ['bob', 'review', 'JITGATE_E_CONFLICT'],
      ]);
      t.match(refused[0], { request_id: twice.id, details: { comment: 'again' } });
      t.match(refused[2], { grant_id: grantId });
    });
  });
}
