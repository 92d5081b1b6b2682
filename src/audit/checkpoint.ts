// Checkpoints: the chain head written outside the database. A chain that was cut
// short (tail deleted) still verifies link by link; only an outside copy of a later
// head reveals it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
}

let tmpCounter = 0;

export async function writeCheckpoint(file: string, cp: Checkpoint): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${String(process.pid)}.${String(++tmpCounter)}.tmp`;
  // Write then rename: a crash never leaves a half-written checkpoint.
  await writeFile(tmp, `${JSON.stringify(cp)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** null when there is no checkpoint yet; throws when the file exists but is unreadable or malformed. */
export async function readCheckpoint(file: string): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<Checkpoint>;
  if (typeof parsed.seq !== 'number' || typeof parsed.hash !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.hash)) {
    throw new Error(`${file}: not a checkpoint`);
  }
  return { seq: parsed.seq, hash: parsed.hash, at: String(parsed.at) };
}
