// Every new request and extension counts its requester's open items (max_open_per_requester)
// inside the audit chain's lock. On SQLite, without statistics, the planner took the (status,
// expiry) indexes for those counts and walked every pending request and active grant of every
// requester: 28 ms a call at 100,000 active grants and 50,000 pending requests (9.5 us through
// the per-requester indexes), on the event loop, while no other workflow step could run.
// What is asserted is the plan SQLite runs for the counts (test/admin/open-limit.test.ts checks
// what they count, on both stores).
import t from 'tap';
import type { Sql } from '../../src/store/index.js';
import { auditMigrations } from '../../src/audit/index.js';
import { createGrantStore } from '../../src/grants/index.js';
import { openStore } from './helpers.js';

t.test('sqlite: counting one requester\'s open items reads only their rows', async (t) => {
  const s = await openStore('sqlite');
  t.teardown(() => s.close());
  await s.db.migrate('audit', auditMigrations);
  const store = createGrantStore(s.db);
  await store.migrate();

  const seen: string[] = [];
  const spy: Sql = { query: (text, params) => { seen.push(text); return s.db.query(text, params); } };
  await store.countOpen(spy, 'zoe', '2026-06-01T00:00:00.000Z');
  t.equal(seen.length, 2, 'two counts');
  const plans: string[] = [];
  for (const text of seen) {
    const rows = await s.db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, ['zoe', '2026-06-01T00:00:00.000Z']);
    plans.push(rows.map((r) => r.detail).join('; '));
  }
  t.match(plans[0], /USING (COVERING )?INDEX jitgate_requests_requester \(requester_id=\?/, 'pending requests: through the requester index');
  t.match(plans[1], /USING (COVERING )?INDEX jitgate_grants_subject \(subject_id=\?/, 'active grants: through the subject index');
});
