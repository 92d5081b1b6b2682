// The checkpoint file is the evidence that a trail lost its tail: a store restored from a backup
// verifies link by link, and only the later head kept outside says records are missing. A
// gateway started on such a store must not overwrite that evidence with the head it finds, and
// must say it is not ready. Real processes, a real SQLite file restored from a copy.
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { runCli } from '../helpers/gateway.js';

t.test('a store restored from a backup: the checkpoint is kept, /readyz fails, verify still finds the loss', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-rollback-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, checkpointIntervalMs: 200 });
  const db = join(run.dir, 'jitgate.db');
  const checkpoint = join(run.dir, 'audit.checkpoint');

  let gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  await gw.stop();
  // The backup: the store as it was then (stopped cleanly, so the file holds everything).
  copyFileSync(db, `${db}.backup`);
  const before = JSON.parse(readFileSync(checkpoint, 'utf8')) as { seq: number };

  gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  await gw.stop();
  const head = JSON.parse(readFileSync(checkpoint, 'utf8')) as { seq: number; hash: string };
  t.ok(head.seq > before.seq, `the trail went on from record ${String(before.seq)} to ${String(head.seq)}`);

  // The disk is lost; the backup comes back.
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
  copyFileSync(`${db}.backup`, db);
  t.notOk(existsSync(`${db}-wal`), 'the restored store is the backup alone');

  gw = await run.start();
  const ready = await fetch(`${gw.controlUrl}/readyz`);
  const readiness = JSON.stringify(await ready.json());
  t.equal(ready.status, 503, 'the gateway on the restored store is not ready');
  t.match(readiness, /"audit_trail":\{"ok":false,"detail":"the trail does not hold the record the checkpoint/, `and says why: ${readiness.slice(0, 300)}`);
  // Past several checkpoint intervals, and a stop, which writes a last one.
  await run.writerGrant(gw, 'alice', 'bob');
  await new Promise((r) => setTimeout(r, 1_000));
  await gw.stop();
  t.same(JSON.parse(readFileSync(checkpoint, 'utf8')), JSON.parse(JSON.stringify(head)), 'the checkpoint still names the head the trail lost');
  const verified = await runCli(['audit', 'verify', '--config', run.configFile]);
  t.equal(verified.code, 1, `audit verify still reports the loss: ${verified.stdout.trim().split('\n')[0] ?? ''}`);
});

t.test('once the checkpoint file is moved away, the first checkpoint of the trail as it is makes the gateway ready again', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-rollback-ready-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, checkpointIntervalMs: 5_000 });
  const db = join(run.dir, 'jitgate.db');
  const checkpoint = join(run.dir, 'audit.checkpoint');
  let gw = await run.start();
  await gw.stop();
  copyFileSync(db, `${db}.backup`);
  gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  await gw.stop();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
  copyFileSync(`${db}.backup`, db);

  gw = await run.start();
  t.equal((await fetch(`${gw.controlUrl}/readyz`)).status, 503, 'not ready on the restored store');
  // The loss understood, the evidence is moved away (docs/operations.md, "Backup and restore").
  renameSync(checkpoint, `${checkpoint}.evidence`);
  while (!existsSync(checkpoint)) await new Promise((r) => setTimeout(r, 20));
  const ready = await fetch(`${gw.controlUrl}/readyz`);
  const report = JSON.stringify(await ready.json());
  t.equal(ready.status, 200, `ready as soon as the trail is checkpointed as it is: ${report.slice(0, 300)}`);
  const verified = await runCli(['audit', 'verify', '--config', run.configFile]);
  t.equal(verified.code, 0, `and verify agrees: ${verified.stdout.trim()}`);
  await gw.stop();
});
