// What survives a power loss is what was synced to disk. Every answered denial, every approved
// grant and every checkpoint must be synced before the gateway says it happened: a record lost
// after its request was answered (and maybe forwarded) breaks "no data is lost", and a
// checkpoint that outlived the records it names makes an honest trail look tampered with.
import { join } from 'node:path';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { within } from '../helpers/poll.js';
import { syncLog, syncs } from '../helpers/sync-log.js';

t.test('SQLite store: records and checkpoints are on disk before they are reported', async (t) => {
  const run = await demoRun(t, { subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, checkpointIntervalMs: 200, prefix: 'jg-power-' });
  const log = syncLog();
  const gw = await run.start(log.env);
  const wal = join(run.dir, 'jitgate.db-wal');
  const alice = await run.token('alice');

  // Each denied write is on the trail before its 403: the trail's log is synced in between.
  for (const tag of ['a', 'b', 'c']) {
    const before = log.lines().length;
    const { status } = await run.write(gw, alice, tag);
    t.equal(status, 403, `write ${tag} is denied`);
    const since = log.lines().slice(before);
    t.ok(since.some((l) => syncs(l, wal)), `the trail's log was synced before the 403 of write ${tag} (saw: ${since.join('; ') || 'nothing'})`);
  }
  t.equal(run.upstream.seen.length, 0, 'no denied write reached the upstream');

  // An approval is on disk before the approver hears of it.
  const asked = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'power loss test' });
  t.equal(asked.status, 201);
  const before = log.lines().length;
  const approved = await run.post(gw, `/v1/requests/${String(asked.body.id)}/approve`, await run.token('bob'), {});
  t.equal(approved.status, 200);
  t.ok(log.lines().slice(before).some((l) => syncs(l, wal)), 'the grant and its record were synced before the approval returned');

  // A checkpoint: its content synced, then renamed into place, then the folder synced (the rename itself).
  const file = join(run.dir, 'audit.checkpoint');
  const checkpointDone = (all: string[]): boolean => {
    const at = all.findIndex((l) => l.startsWith('rename ') && l.endsWith(` ${file}`));
    return at >= 0 && all.slice(at).some((l) => syncs(l, run.dir));
  };
  t.ok(await within(() => checkpointDone(log.lines()), 10_000), 'a checkpoint was written and its folder synced');
  const lines = log.lines();
  const renamed = lines.findIndex((l) => l.startsWith('rename ') && l.endsWith(` ${file}`));
  const tmp = lines[renamed]!.split(' ')[1]!;
  const synced = lines.findIndex((l) => syncs(l, tmp));
  t.ok(synced >= 0 && synced < renamed, `the checkpoint's content was synced before it replaced the old one (${tmp})`);
  t.ok(lines.slice(renamed).some((l) => syncs(l, run.dir)), 'the folder was synced after the rename');
});
