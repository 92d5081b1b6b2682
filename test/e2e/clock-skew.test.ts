// Replicas stamp and end grants by their own clocks. One whose clock is off (here 58 s ahead)
// would end every replica's grants early through its sweeper, approve requests past their
// deadline and honour grants outside their time. It must stop deciding on grants instead: its
// data path answers 503 and never forwards, its workflow refuses, its sweeper waits, and its
// /readyz says why. Real `jitgate serve` processes on one PostgreSQL database.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import pg from 'pg';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { freshDatabase } from '../helpers/pg.js';
import { recordingUpstream } from '../proxy/fixtures.js';

const SKEW_MS = 58_000;
const preload = fileURLToPath(new URL('../helpers/skewed-clock.mjs', import.meta.url));

t.test('a replica whose clock is off stops deciding on grants; the others go on', async (t) => {
  const db = await freshDatabase();
  t.teardown(() => db.drop());
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-clock-skew-');
  const configFile = writeConfig(dir, demoConfig({
    dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] },
    store: { type: 'postgres', postgres: { url_env: 'CLOCK_TEST_PG_URL' } },
    jitgate: { workflow: { sweep_interval_ms: 200 } },
  }));
  const env = { ...demoEnv(keys), CLOCK_TEST_PG_URL: db.url };
  const good = await startGatewayProcess(configFile, env);
  t.teardown(() => good.stop());
  const ahead = await startGatewayProcess(configFile, { ...env, NODE_OPTIONS: `--import ${preload}`, JITGATE_TEST_CLOCK_SKEW_MS: String(SKEW_MS) });
  t.teardown(() => ahead.stop());

  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const api = async (base: string, tok: string, path: string, body: unknown): Promise<{ status: number; body: { id?: string; grant_id?: string; error?: { code?: string; message?: string } } }> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as never };
  };
  const write = async (base: string, tag: string): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${base}/api/items/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    const body = (await res.json()) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code };
  };

  // A one-minute grant, approved where the clock is right: the replica 58 s ahead would take it
  // for ended within two seconds.
  const asked = await api(good.controlUrl, alice, '/v1/requests', { role: 'writer', duration: '1m', reason: 'clock test' });
  t.equal(asked.status, 201, 'requested');
  const approved = await api(good.controlUrl, bob, `/v1/requests/${String(asked.body.id)}/approve`, {});
  t.equal(approved.status, 200, 'approved on the replica whose clock is right');

  const refused = await write(ahead.proxyUrl, 'from-ahead');
  t.equal(refused.status, 503, 'the replica whose clock is off answers 503');
  t.equal(refused.code, 'JITGATE_E_STORE_UNAVAILABLE');
  t.notOk(upstream.seen.some((s) => s.url === '/api/items/from-ahead'), 'and forwards nothing');

  const ready = await fetch(`${ahead.controlUrl}/readyz`);
  const readiness = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, 'its /readyz fails');
  t.match(readiness, /ms or more ahead of the database's/, `and says why: ${readiness}`);
  t.equal((await fetch(`${good.controlUrl}/readyz`)).status, 200, 'the other replica is ready');

  const another = await api(good.controlUrl, alice, '/v1/requests', { role: 'writer', duration: '1h', reason: 'second' });
  const late = await api(ahead.controlUrl, bob, `/v1/requests/${String(another.body.id)}/approve`, {});
  t.equal(late.status, 503, 'its workflow refuses to approve (it would stamp the grant by its clock)');

  // Several of its sweeps later, the grant still stands for the cluster.
  await sleep(3_000);
  const store = new pg.Client({ connectionString: db.url });
  await store.connect();
  const rows = (await store.query<{ status: string }>('SELECT status FROM jitgate_grants WHERE id = $1', [approved.body.grant_id])).rows;
  await store.end();
  t.same(rows.map((r) => r.status), ['active'], 'its sweeper did not end the grant early');
  t.same(await write(good.proxyUrl, 'from-good'), { status: 200, code: undefined }, 'and the replica whose clock is right still honours it');
  t.ok(upstream.seen.some((s) => s.url === '/api/items/from-good' && s.headers['x-api-key'] === keys.writer), 'with the writer credential');
  t.ok(ahead.output.some((l) => l.includes('ms or more ahead of the database')), 'the replica logs why it refuses');
});
