// A checkpoint goes to the file and to the witness independently: one failing never keeps
// the other copy from being made, and the failure is still reported.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createAuditTrail, type Checkpoint } from '../../src/audit/index.js';
import { SqliteDb } from '../../src/store/sqlite.js';
import { entry } from './entries.js';

const received: Checkpoint[] = [];
let status = 204;
const witness = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (status < 300) received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Checkpoint);
    res.writeHead(status).end();
  });
});
await new Promise<void>((resolve) => witness.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => { witness.close(() => { resolve(); }); }));
const service = { url: `http://127.0.0.1:${String((witness.address() as AddressInfo).port)}` };

async function trailWith(checkpointFile: string, dir: string) {
  const db = new SqliteDb(join(dir, 'jitgate.db'));
  const trail = createAuditTrail(db, { checkpoint_file: checkpointFile, checkpoint_interval_ms: 60_000, group_commit_ms: 0 }, {}, { service, resource: '/cp' });
  await trail.start();
  await trail.append(entry({ kind: 'request.created', actor: 'alice', grant_id: null }));
  await trail.append(entry({ kind: 'approval.added', actor: 'bob', grant_id: null }));
  return { trail, close: async () => { await trail.stop().catch(() => undefined); await db.close(); } };
}

t.test('the file cannot be written: the witness still gets the head', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  writeFileSync(join(dir, 'not-a-dir'), '');
  const { trail, close } = await trailWith(join(dir, 'not-a-dir', 'audit.checkpoint'), dir);
  t.teardown(close);
  status = 204;
  received.length = 0;
  await t.rejects(trail.checkpoint(), { code: 'EEXIST' }, 'the file\'s failure is reported (its folder is a file)');
  t.match(received, [{ seq: 2 }], 'and the witness got the head anyway');
});

t.test('the witness refuses: the file is still written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const file = join(dir, 'audit.checkpoint');
  const { trail, close } = await trailWith(file, dir);
  t.teardown(close);
  status = 503;
  await t.rejects(trail.checkpoint(), /checkpoint witness answered HTTP 503/, 'the witness\'s refusal is reported');
  t.match(JSON.parse(readFileSync(file, 'utf8')), { seq: 2 }, 'and the file has the head anyway');
});
