// One gateway process per SQLite file. Its change feed is in-process, so a second `jitgate serve`
// on the same file would never hear of a revoke made through the first, and would go on honouring
// the grant. The serving process claims the file with an owner file beside it; CLI commands that
// only read the file (audit verify, export) do not claim it.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { jitgateError } from '../errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process of another user holds that pid, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `path` for this process until the returned release is called. A claim left by a
 * process that is gone (killed, crashed) is taken over; one held by a live process is refused.
 */
export function claimSqliteFile(path: string): () => void {
  const ownerFile = `${path}.owner`;
  // Claimed before the store opens (and creates its folder): the folder is made here, private.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(ownerFile, 'wx', 0o600);
      writeSync(fd, `${String(process.pid)}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(ownerFile, 'utf8').trim()) === process.pid) unlinkSync(ownerFile);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(readFileSync(ownerFile, 'utf8'), 10);
    if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
      throw jitgateError('STORE_IN_USE', `${path} is served by process ${String(holder)} (${ownerFile}); one gateway per SQLite file, or PostgreSQL for several`);
    }
    unlinkSync(ownerFile);
  }
  throw jitgateError('STORE_IN_USE', `${path}: another process keeps claiming it`);
}
