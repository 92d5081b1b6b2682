// A small tmpfs of its own, for tests of a full disk: mounted for the test and gone after it.
// Mounting needs root (CI runs as root); elsewhere the caller skips, saying so.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The mount point of a fresh tmpfs of `size` (e.g. `64k`), or null when none can be mounted here. */
export function mountTmpfs(t: { teardown(fn: () => void): void }, size: string, prefix = 'jg-tmpfs-'): string | null {
  const mnt = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'ignore' });
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
