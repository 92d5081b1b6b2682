// The grants part as the gateway wires it: migrations, cache, workflow and a running sweeper.
import t from 'tap';
import { auditMigrations, createAuditTrail } from '../../src/audit/index.js';
import { createGrantServices, type WorkflowEvent } from '../../src/grants/index.js';
import { alice, bob, eventually, openStore, samplePolicy, TestClock } from './helpers.js';

t.test('createGrantServices: the sweeper runs on its own and the gauges follow', async (t) => {
  const s = await openStore('sqlite');
  await s.db.migrate('audit', auditMigrations);
  const audit = createAuditTrail(s.db, { checkpoint_interval_ms: 60_000, group_commit_ms: 0 });
  await audit.start();
  const clock = new TestClock();
  const events: WorkflowEvent[] = [];
  const grants = await createGrantServices({
    db: s.db, policy: await samplePolicy(), audit, clock: clock.now,
    notifier: { notify: (e) => { events.push(e); } },
    config: { pending_ttl_seconds: 60, sweep_interval_ms: 20 },
  });
  t.teardown(async () => {
    await grants.stop();
    await audit.stop();
    await s.close();
  });
  t.equal(grants.cache.ready, true);
  const pending = await grants.workflow.request(alice, { role: 'writer', duration_seconds: 120, reason: 'gauges' });
  await eventually(() => grants.gauges().pendingRequests === 1);
  const ok = await grants.workflow.approve(bob, pending.id);
  t.same(grants.gauges().activeGrants, 1);
  t.equal(grants.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length, 1);
  await eventually(() => grants.gauges().pendingRequests === 0);

  clock.advance(120_000);
  t.same(grants.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'expired before any sweep');
  await eventually(() => events.some((e) => e.type === 'grant.expired' && e.grant?.id === ok.grant_id));
  t.equal((await grants.workflow.getGrant(ok.grant_id!))!.status, 'expired', 'the running sweeper recorded the end');
  t.equal(grants.gauges().activeGrants, 0);
});
