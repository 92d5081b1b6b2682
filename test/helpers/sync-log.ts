// What a process made durable, and in which order: a preload (sync-log.c, built here with the
// system's C compiler) logs each fsync/fdatasync with the file's path, and each rename, as the
// process makes them. A power loss keeps what was synced; this is how a test sees what that is.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SyncLog {
  /** Environment for the process to watch. */
  env: NodeJS.ProcessEnv;
  /** The lines logged so far: `fsync <path>`, `fdatasync <path>`, `rename <from> <to>`. */
  lines(): string[];
}

export function syncLog(): SyncLog {
  const dir = mkdtempSync(join(tmpdir(), 'jg-sync-log-'));
  const lib = join(dir, 'sync-log.so');
  const source = fileURLToPath(new URL('./sync-log.c', import.meta.url));
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', lib, source, '-ldl'], { stdio: 'inherit' });
  const file = join(dir, 'log');
  return {
    env: { LD_PRELOAD: lib, SYNC_LOG: file },
    lines() {
      try {
        return readFileSync(file, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** Whether `line` syncs the file at `path` (fsync or fdatasync). */
export function syncs(line: string, path: string): boolean {
  return line === `fsync ${path}` || line === `fdatasync ${path}`;
}
