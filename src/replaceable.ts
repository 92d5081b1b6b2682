// A path the gateway writes by renaming a new file onto it (the audit checkpoint, a built
// bundle). rename(2) replaces whatever the path names: pointed at /dev/null to do without the
// file, a gateway running as root put a plain file where the system's null device was.
import { lstat } from 'node:fs/promises';

/** Throws unless `path` is absent, a regular file or a link (rename replaces the link, not what it names). */
export async function assertReplaceable(path: string, what: string): Promise<void> {
  const st = await lstat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  });
  if (st === null || st.isFile() || st.isSymbolicLink()) return;
  const kind = st.isDirectory() ? 'a folder' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'no regular file';
  throw new Error(`${what} ${path} is ${kind}: not replacing it (leave the setting out to do without the file)`);
}
