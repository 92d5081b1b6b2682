// The SQLite write-ahead log removed by hand while the gateway runs. SQLite would go on writing
// to the removed file, which a crash takes with it: the whole trail and every grant, in a young
// store. The gateway must notice, copy what the log holds into the database file and start a new
// log, so that after a `kill -9` every write the upstream saw is still on the trail.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { runCli } from '../helpers/gateway.js';

t.test('a write-ahead log removed while running: the trail survives a crash after it', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-wal-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] } });
  const wal = join(run.dir, 'jitgate.db-wal');
  const gw = await run.start();
  const alice = await run.token('alice');
  await run.writerGrant(gw, 'alice', 'bob');
  for (const tag of ['w1', 'w2', 'w3']) t.equal((await run.write(gw, alice, tag)).status, 200, `${tag} goes through under the grant`);

  t.ok(existsSync(wal), 'the store has a write-ahead log');
  rmSync(wal);
  for (const tag of ['w4', 'w5', 'w6']) t.equal((await run.write(gw, alice, tag)).status, 200, `${tag}, after the log was removed`);
  await new Promise((r) => setTimeout(r, 1_500));
  gw.proc.kill('SIGKILL');
  await new Promise<void>((resolve) => { gw.proc.once('exit', () => { resolve(); }); });

  const forwarded = run.upstream.seen.filter((s) => s.method === 'POST' && s.url.startsWith('/api/items/w')).map((s) => s.url.slice('/api/items/'.length));
  t.same(forwarded, ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'], 'the upstream saw all six writes');
  const exported = await runCli(['audit', 'export', '--config', run.configFile]);
  t.equal(exported.code, 0, `the trail can be read after the crash: ${exported.stderr.trim()}`);
  const recorded = exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; details: { path?: string } })
    .filter((r) => r.kind === 'proxy.allowed_with_grant').map((r) => (r.details.path ?? '').slice('/api/items/'.length));
  t.same(recorded, forwarded, 'and holds a record of each of them');
  const verified = await runCli(['audit', 'verify', '--config', run.configFile]);
  t.equal(verified.code, 0, `and verifies: ${verified.stdout.trim().split('\n')[0] ?? ''}`);
});
