// The checkpoint file is the evidence that a trail lost its tail: a store restored from a backup
// verifies link by link, and only the later head kept outside says records are missing. A
// gateway started on such a store must not overwrite that evidence with the head it finds, and
// must say it is not ready. Real processes, a real SQLite file restored from a copy.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { recordingUpstream } from '../proxy/fixtures.js';

t.test('a store restored from a backup: the checkpoint is kept, /readyz fails, verify still finds the loss', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-rollback-');
  const db = join(dir, 'jitgate.db');
  const checkpoint = join(dir, 'audit.checkpoint');
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, checkpointIntervalMs: 200 }));
  const env = demoEnv(keys);
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const grantWriter = async (controlUrl: string): Promise<void> => {
    const post = async (path: string, tok: string, body: unknown): Promise<{ id?: string }> => {
      const res = await fetch(`${controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return (await res.json()) as { id?: string };
    };
    const asked = await post('/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'rollback test' });
    await post(`/v1/requests/${String(asked.id)}/approve`, bob, {});
  };

  let gw = await startGatewayProcess(configFile, env);
  await grantWriter(gw.controlUrl);
  await gw.stop();
  // The backup: the store as it was then (stopped cleanly, so the file holds everything).
  copyFileSync(db, `${db}.backup`);
  const before = JSON.parse(readFileSync(checkpoint, 'utf8')) as { seq: number };

  gw = await startGatewayProcess(configFile, env);
  await grantWriter(gw.controlUrl);
  await gw.stop();
  const head = JSON.parse(readFileSync(checkpoint, 'utf8')) as { seq: number; hash: string };
  t.ok(head.seq > before.seq, `the trail went on from record ${String(before.seq)} to ${String(head.seq)}`);

  // The disk is lost; the backup comes back.
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
  copyFileSync(`${db}.backup`, db);
  t.notOk(existsSync(`${db}-wal`), 'the restored store is the backup alone');

  gw = await startGatewayProcess(configFile, env);
  t.teardown(() => gw.stop());
  const ready = await fetch(`${gw.controlUrl}/readyz`);
  const readiness = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, 'the gateway on the restored store is not ready');
  t.match(readiness, /"audit_trail":\{"ok":false,"detail":"the trail does not hold the record the checkpoint/, `and says why: ${readiness.slice(0, 300)}`);
  // Past several checkpoint intervals, and a stop, which writes a last one.
  await grantWriter(gw.controlUrl);
  await new Promise((r) => setTimeout(r, 1_000));
  await gw.stop();
  t.same(JSON.parse(readFileSync(checkpoint, 'utf8')), JSON.parse(JSON.stringify(head)), 'the checkpoint still names the head the trail lost');
  const verified = await runCli(['audit', 'verify', '--config', configFile]);
  t.equal(verified.code, 1, `audit verify still reports the loss: ${verified.stdout.trim().split('\n')[0] ?? ''}`);
});
