// The SQLite write-ahead log removed by hand while the gateway runs. SQLite would go on writing
// to the removed file, which a crash takes with it: the whole trail and every grant, in a young
// store. The gateway must notice, copy what the log holds into the database file and start a new
// log, so that after a `kill -9` every write the upstream saw is still on the trail.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { recordingUpstream } from '../proxy/fixtures.js';

t.test('a write-ahead log removed while running: the trail survives a crash after it', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-wal-');
  const wal = join(dir, 'jitgate.db-wal');
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] } }));
  const gw = await startGatewayProcess(configFile, demoEnv(keys));
  t.teardown(() => gw.stop('SIGKILL'));
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const post = async (path: string, tok: string, body: unknown): Promise<{ id?: string }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as { id?: string };
  };
  const write = async (tag: string): Promise<number> => {
    const res = await fetch(`${gw.proxyUrl}/api/items/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    await res.arrayBuffer();
    return res.status;
  };
  const asked = await post('/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'wal test' });
  await post(`/v1/requests/${String(asked.id)}/approve`, bob, {});
  for (const tag of ['w1', 'w2', 'w3']) t.equal(await write(tag), 200, `${tag} goes through under the grant`);

  t.ok(existsSync(wal), 'the store has a write-ahead log');
  rmSync(wal);
  for (const tag of ['w4', 'w5', 'w6']) t.equal(await write(tag), 200, `${tag}, after the log was removed`);
  await new Promise((r) => setTimeout(r, 1_500));
  gw.proc.kill('SIGKILL');
  await new Promise<void>((resolve) => { gw.proc.once('exit', () => { resolve(); }); });

  const forwarded = upstream.seen.filter((s) => s.method === 'POST' && s.url.startsWith('/api/items/w')).map((s) => s.url.slice('/api/items/'.length));
  t.same(forwarded, ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'], 'the upstream saw all six writes');
  const exported = await runCli(['audit', 'export', '--config', configFile]);
  t.equal(exported.code, 0, `the trail can be read after the crash: ${exported.stderr.trim()}`);
  const recorded = exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; details: { path?: string } })
    .filter((r) => r.kind === 'proxy.allowed_with_grant').map((r) => (r.details.path ?? '').slice('/api/items/'.length));
  t.same(recorded, forwarded, 'and holds a record of each of them');
  const verified = await runCli(['audit', 'verify', '--config', configFile]);
  t.equal(verified.code, 0, `and verifies: ${verified.stdout.trim().split('\n')[0] ?? ''}`);
});
