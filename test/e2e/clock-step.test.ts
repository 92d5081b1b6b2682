// One gateway on SQLite, one clock. When that clock steps back (a correction, a VM restored from a
// snapshot), a grant that had ended would be live again and its writes would go upstream with the
// writer credential. The gateway must stop deciding on grants until its clock is back where it was.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { recordingUpstream } from '../proxy/fixtures.js';

const preload = fileURLToPath(new URL('../helpers/skewed-clock.mjs', import.meta.url));

t.test('a clock that steps back does not bring an ended grant back to life', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-clock-step-');
  const clockFile = join(dir, 'clock-offset');
  writeFileSync(clockFile, '0');
  // The sweeper comes by once a minute: until it records the grant's end, the cache alone ends it.
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, jitgate: { workflow: { sweep_interval_ms: 60_000 } } }));
  const gw = await startGatewayProcess(configFile, { ...demoEnv(keys), NODE_OPTIONS: `--import ${preload}`, JITGATE_TEST_CLOCK_FILE: clockFile });
  t.teardown(() => gw.stop());
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const post = async (path: string, tok: string, body: unknown): Promise<{ id?: string; grant_id?: string }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as { id?: string; grant_id?: string };
  };
  const write = async (tag: string): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${gw.proxyUrl}/api/items/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    const body = (await res.json()) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code };
  };

  const asked = await post('/v1/requests', alice, { role: 'writer', duration: 4, reason: 'clock step test' });
  await post(`/v1/requests/${String(asked.id)}/approve`, bob, {});
  t.same(await write('during'), { status: 200, code: undefined }, 'the four-second grant lets a write through');
  await sleep(4_500);
  t.same(await write('after'), { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'once it has ended, writes are refused');

  // Back 2 s: inside the grant's time again.
  writeFileSync(clockFile, '-2000');
  await sleep(200);
  t.same(await write('stepped'), { status: 503, code: 'JITGATE_E_STORE_UNAVAILABLE' }, 'with the clock stepped back into the grant\'s time, the gateway decides on no grant');
  t.notOk(upstream.seen.some((s) => s.url === '/api/items/stepped'), 'and the write never reached the upstream');
  const ready = await fetch(`${gw.controlUrl}/readyz`);
  const why = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, '/readyz fails');
  t.match(why, /stepped back/, `and says why: ${why}`);

  writeFileSync(clockFile, '0');
  await sleep(200);
  t.same(await write('back'), { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'back where it was, the gateway decides again: the grant is still over');
  t.equal(upstream.seen.filter((s) => s.headers['x-api-key'] === keys.writer).length, 1, 'the writer credential went out once, while the grant stood');
});
