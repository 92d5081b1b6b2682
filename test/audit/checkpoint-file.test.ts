// The checkpoint file on a full disk: the write fails and says so, and leaves nothing behind
// (each interval would otherwise add an empty temporary file).
import t from 'tap';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeCheckpoint } from '../../src/audit/checkpoint.js';
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
