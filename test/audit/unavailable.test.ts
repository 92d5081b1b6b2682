// Fail closed: when the store cannot commit, append rejects (the caller must not answer
// as if it were recorded) and the failure is reported for the store-errors metric.
import t from 'tap';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createAuditTrail } from '../../src/audit/index.js';
import { PostgresDb } from '../../src/store/postgres.js';
import { entry } from './entries.js';

t.test('no store, no acknowledgement', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => { resolve(); }));

  const db = new PostgresDb({ url: `postgres://jitgate@127.0.0.1:${port}/none`, poolSize: 1 });
  t.teardown(() => db.close());
  const errors: string[] = [];
  const trail = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 1 }, { onStoreError: (op) => errors.push(op) });
  const results = await Promise.allSettled([trail.append(entry()), trail.append(entry())]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected']);
  t.match((results[0] as PromiseRejectedResult).reason, { code: 'JITGATE_E_AUDIT_UNAVAILABLE' });
  t.same(errors, ['audit.append'], 'one failed commit reported');
  await t.rejects(trail.start(), 'start fails too, and can be retried');
  await trail.stop();
});
