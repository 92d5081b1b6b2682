// Checkpoints sent to a witness service (jitgate.audit.checkpoint_service): someone who can
// rewrite both the store and the gateway's own checkpoint file can make the local evidence
// agree with a cut-short trail, but not the witness's copies.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { startDemoUpstream } from '../../src/demo/index.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { startReceiver } from '../helpers/receiver.js';

interface Received { seq: number; hash: string; at: string }

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
t.teardown(() => upstream.close());

t.test('every checkpoint reaches the witness, whose copy exposes a trail cut short with forged local evidence', async (t) => {
  // While `down`, the witness answers 503 (and so keeps nothing); it answers only on its resource.
  let down = true;
  const witness = await startReceiver((url) => (down || url !== '/witness/jitgate' ? 503 : 204));
  t.teardown(() => witness.close());
  const refused = (): number => witness.received.length - witness.accepted().length;
  const kept = (): Received[] => witness.accepted().map((r) => JSON.parse(r.body.toString('utf8')) as Received);
  const dir = tempDir('jg-witness-');
  const config = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, checkpointIntervalMs: 200 });
  config.services = { notary: { url: `${witness.url}/witness`, credentials: { bearer: { token: 'witness-token' } } } };
  const jitgate = config.jitgate as { audit: Record<string, unknown> };
  jitgate.audit = { ...jitgate.audit, checkpoint_service: 'notary', checkpoint_resource: '/jitgate' };
  const file = writeConfig(dir, config);
  const gw = await startGatewayProcess(file, demoEnv(keys));
  t.teardown(() => gw.stop());
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', file])).stdout.trim();
  const post = async (sub: string, path: string, body: unknown): Promise<{ id: string }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${await token(sub)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return await res.json() as { id: string };
  };

  // The witness is down at first: the gateway goes on, says so, and counts it.
  const request = await post('alice', '/v1/requests', { role: 'writer', duration: '30m', reason: 'INC-7 refund' });
  await until('a refused checkpoint', () => refused() >= 2);
  const metrics = await (await fetch(`${gw.controlUrl}/metrics`)).text();
  t.match(metrics, /jitgate_store_errors_total\{operation="audit\.checkpoint"\} [1-9]/, 'failed sends are counted');
  t.ok(gw.output.some((l) => l.includes('not sent to the witness')), 'and logged');
  t.equal((await fetch(`${gw.proxyUrl}/api/items`, { headers: { authorization: `Bearer ${await token('alice')}` } })).status, 200, 'requests are served meanwhile');

  down = false;
  await post('bob', `/v1/requests/${request.id}/approve`, { comment: 'ok' });
  await until('checkpoints after the witness came back', () => kept().length >= 2);
  t.equal(await gw.stop(), 0, 'the gateway stops cleanly');

  const local = JSON.parse(readFileSync(join(dir, 'audit.checkpoint'), 'utf8')) as Received;
  const checkpoints = kept();
  const last = checkpoints.at(-1) as Received;
  t.same({ seq: last.seq, hash: last.hash }, { seq: local.seq, hash: local.hash }, 'the last checkpoint (sent at stop) is the one in the local file');
  t.ok(checkpoints.every((cp, i) => i === 0 || cp.seq >= (checkpoints[i - 1] as Received).seq), 'heads never go backwards');
  const first = witness.accepted()[0];
  t.equal(first?.headers.authorization, 'Bearer witness-token', 'sent with the service\'s credentials');
  t.match(first?.headers['content-type'], /^application\/json/);

  // Someone with the store and the gateway's disk deletes the last two records and rewrites the
  // local checkpoint to match the shortened trail.
  const db = new Database(join(dir, 'jitgate.db'));
  const keep = local.seq - 2;
  db.prepare('DELETE FROM jitgate_audit WHERE seq > ?').run(keep);
  const head = db.prepare('SELECT seq, hash FROM jitgate_audit WHERE seq = ?').get(keep) as { seq: number; hash: string };
  db.close();
  writeFileSync(join(dir, 'audit.checkpoint'), `${JSON.stringify({ seq: head.seq, hash: head.hash, at: local.at })}\n`);
  const forged = await runCli(['audit', 'verify', '--config', file]);
  t.equal(forged.code, 0, 'against the forged local checkpoint the trail looks intact');

  const copy = join(dir, 'witness.checkpoint');
  writeFileSync(copy, `${JSON.stringify(last)}\n`);
  const checked = await runCli(['audit', 'verify', '--config', file, '--checkpoint', copy]);
  t.not(checked.code, 0, 'against the witness\'s copy it does not verify');
  t.match(checked.stdout + checked.stderr, new RegExp(`BROKEN .*records ${String(keep + 1)}\\.\\.${String(local.seq)} are missing`), 'and the missing records are named');
});

t.test('a checkpoint_service that names no service is refused at start', async (t) => {
  const dir = tempDir('jg-witness-bad-');
  const config = demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'] } });
  const jitgate = config.jitgate as { audit: Record<string, unknown> };
  jitgate.audit = { ...jitgate.audit, checkpoint_service: 'nowhere' };
  const file = writeConfig(dir, config);
  const started = await startGatewayProcess(file, demoEnv(keys)).then(() => 'started', (err: unknown) => (err instanceof Error ? err.message : String(err)));
  t.match(started, /jitgate\.audit\.checkpoint_service: no service named "nowhere" in services/);
});
