// A checkpoint goes to the file and to the witness independently: one failing never keeps
// the other copy from being made, and the failure is still reported.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createAuditTrail, type Checkpoint, type ServiceConfig } from '../../src/audit/index.js';
import { SqliteDb } from '../../src/store/sqlite.js';
import { certAuthority } from '../helpers/certs.js';
import { startReceiver } from '../helpers/receiver.js';
import { entry } from './entries.js';

let status = 204;
const witness = await startReceiver(() => status);
t.teardown(() => witness.close());
const service = { url: witness.url };
/** The checkpoints the witness accepted, oldest first. */
const received = (): Checkpoint[] => witness.accepted().map((r) => JSON.parse(r.body.toString('utf8')) as Checkpoint);

async function trailWith(checkpointFile: string, dir: string, to: ServiceConfig[] = [service]) {
  const db = new SqliteDb(join(dir, 'jitgate.db'));
  const witnesses = to.map((s, i) => ({ name: `witness-${String(i + 1)}`, service: s, resource: '/cp' }));
  const trail = createAuditTrail(db, { checkpoint_file: checkpointFile, checkpoint_interval_ms: 60_000, group_commit_ms: 0 }, {}, witnesses);
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
  await t.rejects(trail.checkpoint(), { code: /^(EEXIST|ENOTDIR)$/ }, 'the file\'s failure is reported (its folder is a file)');
  t.match(received(), [{ seq: 2 }], 'and the witness got the head anyway');
});

t.test('the witness refuses: the file is still written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const file = join(dir, 'audit.checkpoint');
  const { trail, close } = await trailWith(file, dir);
  t.teardown(close);
  status = 503;
  await t.rejects(trail.checkpoint(), /checkpoint witness witness-1 answered HTTP 503/, 'the witness\'s refusal is reported, by name');
  t.match(JSON.parse(readFileSync(file, 'utf8')), { seq: 2 }, 'and the file has the head anyway');
});

t.test('a witness behind mTLS gets the head over a connection with the client certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-witness-tls-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const ca = certAuthority(dir, 'witness-ca');
  const server = ca.issue('witness', 'server');
  const client = ca.issue('jitgate-auditor', 'client');
  const guarded = await startReceiver(() => 204, { cert: server.cert, key: server.key, ca: ca.cert });
  t.teardown(() => guarded.close());
  const { trail, close } = await trailWith(join(dir, 'audit.checkpoint'), dir, [{
    url: guarded.url, tls: { ca_cert: ca.cert }, credentials: { client_tls: { cert: client.cert, private_key: client.key } },
  }]);
  t.teardown(close);
  await trail.checkpoint();
  t.match(guarded.accepted().map((r) => JSON.parse(r.body.toString('utf8')) as Checkpoint), [{ seq: 2 }]);
  t.same(guarded.accepted().map((r) => r.clientCert), ['jitgate-auditor']);
});

t.test('several witnesses: each gets every head; one refusing keeps none of the others uninformed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-witnesses-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  let secondStatus = 204;
  const first = await startReceiver(() => 204);
  const second = await startReceiver(() => secondStatus);
  const third = await startReceiver(() => 204);
  t.teardown(async () => { await Promise.all([first.close(), second.close(), third.close()]); });
  const { trail, close } = await trailWith(join(dir, 'audit.checkpoint'), dir, [{ url: first.url }, { url: second.url }, { url: third.url }]);
  t.teardown(close);
  const heads = (w: typeof first): Checkpoint[] => w.accepted().map((r) => JSON.parse(r.body.toString('utf8')) as Checkpoint);
  await trail.checkpoint();
  t.match([heads(first), heads(second), heads(third)], [[{ seq: 2 }], [{ seq: 2 }], [{ seq: 2 }]], 'every witness has the head');
  await trail.append(entry({ kind: 'grant.revoked', actor: 'carol', grant_id: null }));
  secondStatus = 503;
  await t.rejects(trail.checkpoint(), /checkpoint witness witness-2 answered HTTP 503/, 'the refusing witness is named');
  t.match([heads(first).at(-1), heads(third).at(-1)], [{ seq: 3 }, { seq: 3 }], 'and the others still got the new head');
});
