// The per-replica grant cache: local writes visible before the call returns, other
// replicas' writes through LISTEN/NOTIFY, and a full resync after the feed is lost.
import t, { type Test } from 'tap';
import pg from 'pg';
import { GrantCache, GRANTS_CHANNEL, createGrantStore, type GrantStore, type StoredGrant } from '../../src/grants/index.js';
import type { Subject } from '../../src/policy/index.js';
import { alice, auditOf, bob, erin, eventually, openStore, replica, storeWithReplica, TestClock, type Replica } from './helpers.js';

/** A writer grant for `who`, asked for and approved through replica `a`; its id. */
async function grantOn(a: Replica, who: Subject, reason: string): Promise<string> {
  const ok = await a.workflow.approve(bob, (await a.workflow.request(who, { role: 'writer', duration_seconds: 3600, reason })).id);
  return ok.grant_id!;
}

/** A migrated grant store on a fresh SQLite database, closed when the test ends. */
async function sqliteGrants(t: Test): Promise<{ s: Awaited<ReturnType<typeof openStore>>; clock: TestClock; store: GrantStore }> {
  const s = await openStore('sqlite');
  t.teardown(() => s.close());
  const store = createGrantStore(s.db);
  await store.migrate();
  return { s, clock: new TestClock(), store };
}

/** An active writer grant of `subject`, as a row straight in the store. */
function activeGrant(id: string, subject: string, startsMs: number, expiresMs: number): StoredGrant {
  return {
    id, request_id: `req_${id}`, subject: { id: subject, kind: 'user', groups: [] }, role: 'writer', scope: null,
    reason: 'r', ticket: null, approved_by: ['bob'], break_glass: false, reviewed_by: null, reviewed_at: null,
    starts_at: new Date(startsMs).toISOString(), expires_at: new Date(expiresMs).toISOString(), status: 'active',
    revoked_at: null, revoked_by: null, revoke_reason: null, expired_recorded_at: null, extension_count: 0, extends_grant_id: null,
  };
}

t.test('a cache that has not loaded cannot vouch: ready is false and it hands out nothing', async (t) => {
  const s = await openStore('sqlite');
  t.teardown(() => s.close());
  const store = createGrantStore(s.db);
  await store.migrate();
  const cache = new GrantCache({ store });
  t.equal(cache.ready, false);
  t.same(cache.activeGrants({ id: 'alice', kind: 'user' }, Date.now()), []);
  await cache.start();
  t.equal(cache.ready, true);
  await cache.stop();
  t.equal(cache.ready, false);
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  t.test(`${dialect}: grants are a subject's by id and kind; a service with a person's id gets none of theirs`, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const store = createGrantStore(s.db);
    await store.migrate();
    const clock = new TestClock();
    const service = (g: StoredGrant): StoredGrant => ({ ...g, subject: { id: 'bob', kind: 'service', groups: [] } });
    const strange = (g: StoredGrant): StoredGrant => ({ ...g, subject: { id: 'bob', kind: 'robot' as never, groups: [] } });
    await s.db.tx((sql) => store.insertGrants(sql, [
      activeGrant('grt_person', 'bob', clock.ms - 1000, clock.ms + 60_000),
      service(activeGrant('grt_service', 'bob', clock.ms - 1000, clock.ms + 60_000)),
      strange(activeGrant('grt_strange', 'bob', clock.ms - 1000, clock.ms + 60_000)),
    ]));
    const unreadable: unknown[] = [];
    const cache = new GrantCache({ store, clock: clock.now, onError: (e) => unreadable.push(e) });
    await cache.start();
    t.teardown(() => cache.stop());
    const ids = (kind: 'user' | 'service'): string[] => cache.activeGrants({ id: 'bob', kind }, clock.ms).map((g) => g.id);
    t.same(ids('user'), ['grt_person'], 'loaded: the person\'s grant is the person\'s');
    t.same(ids('service'), ['grt_service'], 'and the service\'s the service\'s');
    t.equal(unreadable.length, 1, 'a row naming no known kind is left out, as unreadable');
    cache.apply(activeGrant('grt_person2', 'bob', clock.ms - 1000, clock.ms + 60_000));
    t.same(ids('service'), ['grt_service'], 'applied: a new grant of the person is not the service\'s');
    t.same(ids('user').sort(), ['grt_person', 'grt_person2']);
  });
}

t.test('the load pages through the store and skips grants that ended but were not swept yet', async (t) => {
  const { s, clock, store } = await sqliteGrants(t);
  const g = (i: number, expiresMs: number): StoredGrant => activeGrant(`grt_${i}`, `u${i % 2}`, clock.ms - 1000, expiresMs);
  // Pages of 2: the ended grant_2 sits inside the first page; the load must not stop there.
  await s.db.tx((sql) => store.insertGrants(sql, [1, 2, 3, 4, 5, 6, 7].map((i) => g(i, i === 2 ? clock.ms - 1 : clock.ms + 60_000))));
  const cache = new GrantCache({ store, clock: clock.now, pageSize: 2 });
  await cache.start();
  t.teardown(() => cache.stop());
  t.equal(cache.size, 6);
  t.same(cache.activeGrants({ id: 'u1', kind: 'user' }, clock.ms).map((x) => x.id).sort(), ['grt_1', 'grt_3', 'grt_5', 'grt_7']);
  t.same(cache.activeGrants({ id: 'u0', kind: 'user' }, clock.ms).map((x) => x.id).sort(), ['grt_4', 'grt_6']);
});

t.test('a subject keeps one sealed set until a grant starts, ends or changes', async (t) => {
  const { s, clock, store } = await sqliteGrants(t);
  const g = (id: string, startsMs: number, expiresMs: number): StoredGrant => ({
    ...activeGrant(id, 'u', startsMs, expiresMs), scope: { route: 'items', methods: ['POST'] },
  });
  const t0 = clock.ms;
  await s.db.tx((sql) => store.insertGrants(sql, [g('a', t0 - 1000, t0 + 10_000), g('b', t0 + 5_000, t0 + 60_000)]));
  const cache = new GrantCache({ store, clock: clock.now });
  await cache.start();
  t.teardown(() => cache.stop());

  const first = cache.activeGrants({ id: 'u', kind: 'user' }, t0);
  t.same(first.map((x) => x.id), ['a']);
  t.ok(Object.isFrozen(first) && Object.isFrozen(first[0]) && Object.isFrozen(first[0]?.scope), 'the set handed to the policy cannot be changed');
  t.equal(cache.activeGrants({ id: 'u', kind: 'user' }, t0 + 4_999), first, 'the same array while nothing starts or ends');
  t.same(cache.activeGrants({ id: 'u', kind: 'user' }, t0 + 5_000).map((x) => x.id).sort(), ['a', 'b'], 'b starts exactly at its starts_at');
  t.same(cache.activeGrants({ id: 'u', kind: 'user' }, t0 + 10_000).map((x) => x.id), ['b'], 'a ends exactly at its expires_at');
  t.same(cache.activeGrants({ id: 'u', kind: 'user' }, t0).map((x) => x.id), ['a'], 'asking about an earlier instant answers for that instant');

  const before = cache.activeGrants({ id: 'u', kind: 'user' }, t0);
  cache.apply({ ...g('a', t0 - 1000, t0 + 10_000), status: 'revoked', revoked_at: new Date(t0).toISOString(), revoked_by: 'dave', revoke_reason: 'x' });
  const after = cache.activeGrants({ id: 'u', kind: 'user' }, t0);
  t.not(after, before, 'a change to one of its grants gives the subject a new set');
  t.same(after, [], 'the revoked grant is gone');
});

t.test('PostgreSQL: replicas see each other\'s writes; a lost feed is resynced', async (t) => {
  const s = await openStore('postgres');
  const clock = new TestClock();
  const a = await replica(s.db, clock);
  const bDb = s.openAnother();
  const b = await replica(bDb, clock);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
    await s.close();
  });

  const req = await a.workflow.request(alice, { role: 'writer', duration_seconds: 3600, reason: 'feed' });
  const ok = await b.workflow.approve(bob, req.id);
  t.equal(b.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length, 1, 'the approving replica has it before approve returns');
  await eventually(() => a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length === 1);
  t.pass('the other replica got it through NOTIFY');

  await a.workflow.revoke(alice, ok.grant_id!, 'done');
  t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'revoked on this replica before revoke returns');
  await eventually(() => b.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length === 0);
  t.pass('and on the other replica shortly after');

  // A change the feed never announces (written behind the workflow's back) is only
  // learned by a resync: that is what shows the resync ran.
  const hidden = await a.workflow.approve(bob, (await a.workflow.request(erin, { role: 'writer', duration_seconds: 3600, reason: 'hidden' })).id);
  await eventually(() => b.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).length === 1);
  await s.db.query(`UPDATE jitgate_grants SET status = 'revoked' WHERE id = $1`, [hidden.grant_id]);
  t.equal(b.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).length, 1, 'stale until a resync');

  const states: boolean[] = [];
  const resyncsBefore = b.cache.resyncCount;
  // A second cache on replica b's Db records every readiness change.
  const watcher = new GrantCache({ store: b.store, clock: clock.now, onReadyChange: (r) => states.push(r) });
  await watcher.start();
  const admin = new pg.Client({ connectionString: s.url! });
  await admin.connect();
  const killed = await admin.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jitgate-listen' AND pid <> pg_backend_pid()`,
  );
  await admin.end();
  t.ok(killed.rows.length >= 3, `terminated ${killed.rows.length} listener backends`);
  await eventually(() => b.cache.resyncCount > resyncsBefore && b.cache.ready, 10_000);
  t.same(b.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms), [], 'the resync picked up the change the feed never announced');
  await eventually(() => states.length >= 3, 10_000);
  t.same(states.slice(0, 3), [true, false, true], 'not ready while the feed was lost, ready again after the resync');
  await watcher.stop();

  // And the feed works again after the reconnect.
  const single = await a.workflow.approve(bob, (await a.workflow.request(alice, { role: 'writer', duration_seconds: 600, reason: 'after' })).id);
  await eventually(() => b.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).some((g) => g.id === single.grant_id));
  t.pass('notifications flow again after the reconnect');
});

t.test('PostgreSQL: a grant row deleted by hand, and the change announced, is no longer handed out', async (t) => {
  const { s, clock, r: a } = await storeWithReplica(t, 'postgres');
  const grant = (who: Subject): Promise<string> => grantOn(a, who, 'hand edit');
  const deleted = await grant(alice);
  const kept = await grant(erin);
  t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).map((g) => g.id), [deleted], 'the grant is handed out');
  const resyncs = a.cache.resyncCount;

  // An operator's hand edit: the row goes, and the change is announced as the workflow announces one.
  await s.db.query('DELETE FROM jitgate_grants WHERE id = $1', [deleted]);
  await s.db.query('SELECT pg_notify($1, $2)', [GRANTS_CHANNEL, deleted]);
  await eventually(() => a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length === 0);
  t.pass('the deleted grant is no longer handed out');
  t.equal(a.cache.resyncCount, resyncs, 'learned from the feed, not from a resync');
  t.equal(a.cache.ready, true, 'and the cache still vouches for what it holds');
  t.same(a.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).map((g) => g.id), [kept], 'the other subject\'s grant stands');
});

t.test('PostgreSQL: one grant row that cannot be read fails closed for that grant alone; its expiry is still recorded, and every other', async (t) => {
  const s = await openStore('postgres');
  const clock = new TestClock();
  const a = await replica(s.db, clock);
  let b: Awaited<ReturnType<typeof replica>> | null = null;
  t.teardown(async () => {
    await b?.stop();
    await a.stop();
    await s.close();
  });
  const grant = (who: Subject): Promise<string> => grantOn(a, who, 'damaged row');
  const sound = await grant(alice);
  const damaged = await grant(erin);
  // A hand edit that leaves JSON that does not parse, announced as the workflow announces a change.
  await s.db.query('UPDATE jitgate_grants SET approved_by = $2, subject = $2 WHERE id = $1', [damaged, 'bob']);
  await s.db.query('SELECT pg_notify($1, $2)', [GRANTS_CHANNEL, damaged]);
  await eventually(() => a.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms).length === 0);
  t.pass('the damaged grant is no longer honoured');
  t.equal(a.cache.ready, true, 'the cache still vouches for the rest');
  t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).map((g) => g.id), [sound], 'alice\'s grant stands');

  b = await replica(s.openAnother(), clock);
  t.equal(b.cache.ready, true, 'a replica starting with the damaged row in the store serves');
  t.same(b.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).map((g) => g.id), [sound]);
  t.same(b.cache.activeGrants({ id: 'erin', kind: 'user' }, clock.ms), [], 'and leaves the damaged grant out');

  clock.advance(3601_000);
  const swept = await a.sweeper.sweepOnce();
  t.equal(swept.grants, 1, 'the sweep records the readable grant\'s expiry');
  const rows = await s.db.query<{ id: string; status: string }>('SELECT id, status FROM jitgate_grants ORDER BY id');
  t.same(rows.map((r) => r.status), ['expired', 'expired'], 'and marks the damaged one expired too');
  t.same((await auditOf(s.db, { grant_id: sound })).map((r) => r.kind).at(-1), 'grant.expired');
});
