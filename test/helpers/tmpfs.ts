// A small tmpfs of its own, for tests of a full disk: mounted for the test and gone after it.
// Mounting needs root (CI runs as root); elsewhere the caller skips, saying so.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The mount point of a fresh tmpfs of `size` (e.g. `64k`), or null when none can be mounted here.
 * `owner`: the user its root belongs to (0700), for a server running as another user (PostgreSQL).
 */
export function mountTmpfs(t: { teardown(fn: () => void): void }, size: string, prefix = 'jg-tmpfs-', owner?: { uid: number; gid: number }): string | null {
  const mnt = mkdtempSync(join(tmpdir(), prefix));
  const options = owner ? `size=${size},uid=${owner.uid},gid=${owner.gid},mode=0700` : `size=${size}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    return null;
  }
  t.teardown(() => {
    try { execFileSync('umount', [mnt]); } catch { /* already gone */ }
    rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
}
