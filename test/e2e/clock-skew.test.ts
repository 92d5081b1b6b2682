// Replicas stamp and end grants by their own clocks. One whose clock is off (here 58 s ahead)
// would end every replica's grants early through its sweeper, approve requests past their
// deadline and honour grants outside their time. It must stop deciding on grants instead: its
// data path answers 503 and never forwards, its workflow refuses, its sweeper waits, and its
// /readyz says why. Real `jitgate serve` processes on one PostgreSQL database.
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import pg from 'pg';
import { demoRun } from '../helpers/demo-run.js';

const SKEW_MS = 58_000;
const preload = fileURLToPath(new URL('../helpers/skewed-clock.mjs', import.meta.url));

t.test('a replica whose clock is off stops deciding on grants; the others go on', async (t) => {
  const run = await demoRun(t, {
    prefix: 'jg-clock-skew-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, postgres: true,
    jitgate: { workflow: { sweep_interval_ms: 200 } },
  });
  const good = await run.start();
  const ahead = await run.start({ NODE_OPTIONS: `--import ${preload}`, JITGATE_TEST_CLOCK_SKEW_MS: String(SKEW_MS) });
  const [alice, bob] = await Promise.all([run.token('alice'), run.token('bob')]);

  // A one-minute grant, approved where the clock is right: the replica 58 s ahead would take it
  // for ended within two seconds.
  const asked = await run.post(good, '/v1/requests', alice, { role: 'writer', duration: '1m', reason: 'clock test' });
  t.equal(asked.status, 201, 'requested');
  const approved = await run.post(good, `/v1/requests/${String(asked.body.id)}/approve`, bob, {});
  t.equal(approved.status, 200, 'approved on the replica whose clock is right');

  const refused = await run.write(ahead, alice, 'from-ahead');
  t.equal(refused.status, 503, 'the replica whose clock is off answers 503');
  t.equal(refused.code, 'JITGATE_E_STORE_UNAVAILABLE');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/from-ahead'), 'and forwards nothing');

  const ready = await fetch(`${ahead.controlUrl}/readyz`);
  const readiness = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, 'its /readyz fails');
  t.match(readiness, /ms or more ahead of the database's/, `and says why: ${readiness}`);
  t.equal((await fetch(`${good.controlUrl}/readyz`)).status, 200, 'the other replica is ready');

  const another = await run.post(good, '/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'second' });
  const late = await run.post(ahead, `/v1/requests/${String(another.body.id)}/approve`, bob, {});
  t.equal(late.status, 503, 'its workflow refuses to approve (it would stamp the grant by its clock)');

  // Several of its sweeps later, the grant still stands for the cluster.
  await sleep(3_000);
  const store = new pg.Client({ connectionString: String(run.dbUrl) });
  await store.connect();
  const rows = (await store.query<{ status: string }>('SELECT status FROM jitgate_grants WHERE id = $1', [approved.body.grant_id])).rows;
  await store.end();
  t.same(rows.map((r) => r.status), ['active'], 'its sweeper did not end the grant early');
  t.same(await run.write(good, alice, 'from-good'), { status: 200, code: undefined }, 'and the replica whose clock is right still honours it');
  t.ok(run.upstream.seen.some((s) => s.url === '/api/items/from-good' && s.headers['x-api-key'] === run.keys.writer), 'with the writer credential');
  t.ok(ahead.output.some((l) => l.includes('ms or more ahead of the database')), 'the replica logs why it refuses');
});
