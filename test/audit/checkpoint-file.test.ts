// The checkpoint file on a full disk: the write fails and says so, and leaves nothing behind
// (each interval would otherwise add an empty temporary file).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCheckpoint } from '../../src/audit/checkpoint.js';

t.test('a full disk: the checkpoint write fails, and no temporary file is left', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'jg-cp-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    t.comment('skipped: no tmpfs can be mounted here (needs root; CI runs as root)');
    return;
  }
  t.teardown(() => {
    try { execFileSync('umount', [mnt]); } catch { /* already gone */ }
    rmSync(mnt, { recursive: true, force: true });
  });
  const cp = { seq: 7, hash: 'a'.repeat(64), at: new Date().toISOString() };
  await writeCheckpoint(join(mnt, 'audit.checkpoint'), cp);
  try { writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024)); } catch { /* filled to the last byte */ }
  for (let i = 0; i < 3; i++) await t.rejects(writeCheckpoint(join(mnt, 'audit.checkpoint'), { ...cp, seq: 8 + i }), { code: 'ENOSPC' }, 'the write fails');
  t.same(readdirSync(mnt).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');
});
