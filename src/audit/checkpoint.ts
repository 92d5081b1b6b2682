// Checkpoints: the chain head written outside the database. A chain that was cut
// short (tail deleted) still verifies link by link; only an outside copy of a later
// head reveals it. The copy goes to a file, and to each witness service named: someone who
// can rewrite both the database and the gateway's disk still cannot reach the witnesses'
// copies, and with several, one witness in the wrong hands cannot hide it alone.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fetchLimited } from '../fetch-limited.js';
import { assertReplaceable } from '../replaceable.js';
import { serviceDispatcher, serviceHeaders, serviceUrl, type ServiceConfig } from './service.js';

export interface Checkpoint {
  seq: number;
  hash: string;
  at: string;
}

export async function writeCheckpoint(file: string, cp: Checkpoint): Promise<void> {
  await assertReplaceable(file, 'audit.checkpoint_file');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // A name no one can guess, created only if nothing is there ('wx' does not follow a link): in a
  // folder another account can write, a link planted at a predictable name once had the gateway
  // write the checkpoint over a file of that account's choosing.
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  // Write, sync, rename, sync the folder: neither a crash nor a power loss leaves a
  // half-written checkpoint, or an old one after the trail moved past it.
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(cp)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    const folder = await open(dirname(file), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (err) {
    // A full disk leaves an empty file behind each interval otherwise. (With 'wx' refused, the
    // name is someone else's: it is removed too, which is all a link there is owed.)
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Where checkpoints are POSTed (as JSON), besides the file. */
export interface CheckpointWitness {
  /** The service's name in `services`, for errors. */
  name: string;
  service: ServiceConfig;
  resource: string;
}

/**
 * POSTs `cp` to the witness; throws unless it answers 2xx within the service's
 * response_header_timeout_seconds. Only the status counts: a witness that answered and then sent
 * a byte a second held the call, and with it every later checkpoint (they go one at a time) and
 * the gateway's stop, for good.
 */
export async function sendCheckpoint(witness: CheckpointWitness, cp: Checkpoint): Promise<void> {
  const res = await fetchLimited(serviceUrl(witness.service, witness.resource), {
    method: 'POST',
    headers: { ...(await serviceHeaders(witness.service)), 'content-type': 'application/json' },
    body: JSON.stringify(cp),
    redirect: 'manual',
  }, {
    timeoutMs: (witness.service.response_header_timeout_seconds ?? 10) * 1000,
    maxBytes: null,
    dispatcher: serviceDispatcher(witness.service),
  }).catch((err: unknown) => { throw new Error(`checkpoint witness ${witness.name}: ${err instanceof Error ? err.message : String(err)}`); });
  if (res.status < 200 || res.status >= 300) throw new Error(`checkpoint witness ${witness.name} answered HTTP ${String(res.status)}`);
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
