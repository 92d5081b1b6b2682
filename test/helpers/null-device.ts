// A null device of the test's own (character device 1,3 in a fresh folder), for tests of paths
// that name a device: what must not happen to it must not happen to the system's /dev/null
// either, and a test may not risk that one. Making a device needs root (CI runs as root);
// elsewhere the caller skips, saying so.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The device's path (`<folder>/null`, alone in its folder), or null when none can be made here. */
export function nullDevice(t: { teardown(fn: () => void): void }, prefix = 'jg-dev-'): string | null {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const device = join(dir, 'null');
  return spawnSync('mknod', ['-m', '666', device, 'c', '1', '3']).status === 0 ? device : null;
}
