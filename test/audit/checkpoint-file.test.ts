// The checkpoint file on a full disk: the write fails and says so, and leaves nothing behind
// (each interval would otherwise add an empty temporary file).
import t from 'tap';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeCheckpoint } from '../../src/audit/checkpoint.js';
import { nullDevice } from '../helpers/null-device.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

t.test('a full disk: the checkpoint write fails, and no temporary file is left', async (t) => {
  const mnt = mountTmpfs(t, '64k', 'jg-cp-mnt-');
  if (mnt === null) {
    t.comment('skipped: no tmpfs can be mounted here (needs root; CI runs as root)');
    return;
  }
  const cp = { seq: 7, hash: 'a'.repeat(64), at: new Date().toISOString() };
  await writeCheckpoint(join(mnt, 'audit.checkpoint'), cp);
  try { writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024)); } catch { /* filled to the last byte */ }
  for (let i = 0; i < 3; i++) await t.rejects(writeCheckpoint(join(mnt, 'audit.checkpoint'), { ...cp, seq: 8 + i }), { code: 'ENOSPC' }, 'the write fails');
  t.same(readdirSync(mnt).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');
});

t.test('a checkpoint_file naming a device (/dev/null, to do without the file) is refused, and the device stays', async (t) => {
  const device = nullDevice(t, 'jg-cp-dev-');
  if (device === null) {
    t.comment('skipped: no device can be made here (needs root; CI runs as root)');
    return;
  }
  const cp = { seq: 7, hash: 'a'.repeat(64), at: new Date().toISOString() };
  await t.rejects(writeCheckpoint(device, cp), /audit\.checkpoint_file .* is a device: not replacing it/);
  t.ok(statSync(device).isCharacterDevice(), 'the device is still there');
  t.same(readdirSync(dirname(device)), ['null'], 'and nothing else was left');
});
