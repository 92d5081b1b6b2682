// The whole story with real processes: `jitgate serve` with the sample policies in front
// of the demo upstream, driven through the `jitgate` CLI and plain HTTP. Once on SQLite
// (one gateway), once on PostgreSQL with two gateway replicas sharing the store.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/index.js';
import { freshDatabase } from '../helpers/pg.js';
import { within } from '../helpers/poll.js';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig, type GatewayProcess } from '../helpers/gateway.js';

interface Harness {
  upstream: DemoUpstream;
  keys: { readonly: string; writer: string; admin: string };
  configFile: string;
  env: NodeJS.ProcessEnv;
  gateways: GatewayProcess[];
}

async function setUp(store: Record<string, unknown>, replicas: number, storeEnv: NodeJS.ProcessEnv = {}): Promise<Harness> {
  const keys = {
    readonly: randomBytes(16).toString('hex'),
    writer: randomBytes(16).toString('hex'),
    admin: randomBytes(16).toString('hex'),
  };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  const dir = tempDir();
  const configFile = writeConfig(dir, demoConfig({
    dir,
    upstreamUrl: upstream.url,
    store,
    subjects: { alice: ['eng'], erin: ['eng'], bob: ['eng', 'approvers'], carol: ['eng', 'approvers'], dave: ['admins', 'approvers'] },
    labels: { app: 'jitgate', environment: 'e2e' },
    checkpointIntervalMs: 500,
    logLevel: 'info',
    jitgate: { workflow: { sweep_interval_ms: 200 } },
  }));
  const env = { ...storeEnv, ...demoEnv(keys) };
  const gateways: GatewayProcess[] = [];
  for (let i = 0; i < replicas; i++) gateways.push(await startGatewayProcess(configFile, env));
  return { upstream, keys, configFile, env, gateways };
}

async function tearDown(h: Harness): Promise<void> {
  for (const g of h.gateways) await g.stop();
  await h.upstream.close();
}

async function token(h: Harness, sub: string): Promise<string> {
  const out = await runCli(['token', '--sub', sub, '--config', h.configFile]);
  if (out.code !== 0) throw new Error(`jitgate token failed: ${out.stderr}`);
  return out.stdout.trim();
}

/** The `jitgate` CLI as a person would run it, against one replica's control API. */
async function cli(g: GatewayProcess, tok: string, args: string[]): Promise<{ code: number | null; json: any; stderr: string }> {
  const out = await runCli([...args, '--json'], { JITGATE_URL: g.controlUrl, JITGATE_TOKEN: tok });
  let json: unknown = null;
  try {
    json = JSON.parse(out.stdout);
  } catch {
    // errors go to stderr
  }
  return { code: out.code, json, stderr: out.stderr };
}

async function call(g: GatewayProcess, tok: string, method: string, path: string, json: unknown = { name: 'widget' }): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(g.proxyUrl + path, {
    method,
    headers: { authorization: `Bearer ${tok}`, ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
    ...(method === 'GET' ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers };
}

function upstreamSaw(h: Harness, method: string, pathPrefix: string): number {
  return h.upstream.seen.filter((r) => r.method === method && r.url.startsWith(pathPrefix)).length;
}

/** Polls for a change another replica makes; the bound is stated, the figure is in docs/benchmarks.md. */
const eventually = (check: () => Promise<boolean>): Promise<boolean> => within(check, 5000, 50);

async function scenario(t: Test, h: Harness): Promise<void> {
  const [a, b = a] = h.gateways as [GatewayProcess, GatewayProcess?];
  const alice = await token(h, 'alice');
  const bob = await token(h, 'bob');
  const carol = await token(h, 'carol');

  // Reads are open to employees; the gateway injects the read-only key, never alice's token.
  const read = await call(a, alice, 'GET', '/api/items');
  t.equal(read.status, 200, 'alice reads');
  t.equal(read.body.served_with, 'readonly', 'with the read-only upstream key');
  t.ok(read.headers.get('x-jitgate-decision-id'), 'the response carries the decision id');
  const seenRead = h.upstream.seen.at(-1)!;
  t.equal(seenRead.headers['x-api-key'], h.keys.readonly, 'the upstream got the brokered key');
  t.notOk(JSON.stringify(seenRead.headers).includes(alice), "the upstream never sees the caller's token");

  // A write without a grant is refused with the way to ask for one, and never forwarded.
  const writesBefore = upstreamSaw(h, 'POST', '/api/items');
  const denied = await call(a, alice, 'POST', '/api/items');
  t.equal(denied.status, 403, 'write without a grant is denied');
  t.equal(denied.body.error.code, 'JITGATE_E_FORBIDDEN');
  t.equal(denied.body.error.elevation.role, 'writer', 'the hint names the writer role');
  t.match(denied.body.error.elevation.command, /^jitgate request --role writer/, 'and the command to ask for it');
  t.equal(upstreamSaw(h, 'POST', '/api/items'), writesBefore, 'the upstream never saw the denied write');

  // alice asks for the writer role for 2 s; she cannot approve her own request; bob can.
  const req = await cli(a, alice, ['request', '--role', 'writer', '--duration', '2s', '--reason', 'e2e: fix item 42']);
  t.equal(req.code, 0, `request accepted ${req.stderr}`);
  t.equal(req.json.status, 'pending');
  const self = await cli(a, alice, ['approve', req.json.id]);
  t.not(self.code, 0, 'self-approval is refused');
  t.match(self.stderr, /JITGATE_E_(SELF_APPROVAL|ELEVATION_DENIED)/);
  const approved = await cli(b, bob, ['approve', req.json.id, '--comment', 'ok']);
  t.equal(approved.code, 0, `bob approves ${approved.stderr}`);
  t.equal(approved.json.status, 'approved');

  // The write goes through on every replica, with the writer key injected.
  let allowed = await call(a, alice, 'POST', '/api/items');
  if (allowed.status !== 201) {
    await eventually(async () => (allowed = await call(a, alice, 'POST', '/api/items')).status === 201);
  }
  t.equal(allowed.status, 201, 'the write is allowed on the replica that did not approve');
  t.equal(allowed.body.served_with, 'writer', 'with the writer key');
  t.equal(h.upstream.seen.at(-1)!.headers['x-api-key'], h.keys.writer);


  // After expiry the same write is denied again, on every replica.
  const grant = await cli(a, alice, ['grants', approved.json.grant_id]);
  const g = grant.json;
  t.equal(g.request_id, req.json.id, 'the grant records the request it came from');
  t.same(g.approved_by, ['bob'], 'and who approved it');
  t.equal(Date.parse(g.expires_at) - Date.parse(g.starts_at), 2000, 'it lasts the 2 s asked for, from approval');
  await sleep(Math.max(0, Date.parse(g.expires_at) - Date.now()) + 50);
  for (const gw of h.gateways) t.equal((await call(gw, alice, 'POST', '/api/items')).status, 403, 'denied after expiry');
  const smallRefund = await call(a, alice, 'POST', '/api/refunds', { order: 'o-7', amount: 40 });
  t.equal(smallRefund.status, 403, 'a refund without a grant is denied');
  t.equal(smallRefund.body.error?.elevation?.role, 'writer', 'the hint names the smallest role whose limit covers it');

  // An admin request needs two approvers and refuses alice's own approval.
  const adminReq = await cli(a, alice, ['request', '--role', 'admin', '--duration', '10m', '--reason', 'e2e: rotate keys', '--ticket', 'INC-1']);
  t.equal(adminReq.code, 0, `admin request accepted ${adminReq.stderr}`);
  t.equal(adminReq.json.approvals_required, 2);
  t.not((await cli(a, alice, ['approve', adminReq.json.id])).code, 0, 'alice cannot approve her admin request');
  const first = await cli(a, bob, ['approve', adminReq.json.id]);
  t.equal(first.json.status, 'pending', 'one approval is not enough');
  t.not((await cli(b, bob, ['approve', adminReq.json.id])).code, 0, 'bob counts once');
  const second = await cli(b, carol, ['approve', adminReq.json.id]);
  t.equal(second.json.status, 'approved', 'the second approver grants it');
  let adminCall = await call(b, alice, 'GET', '/admin/users');
  if (adminCall.status !== 200) await eventually(async () => (adminCall = await call(b, alice, 'GET', '/admin/users')).status === 200);
  t.equal(adminCall.status, 200, 'admin endpoint allowed with the admin grant');
  t.equal(adminCall.body.served_with, 'admin');

  // Refunds are decided on the amount in the body (the route shows the policy JSON bodies):
  // the admin grant covers up to 10,000; nothing covers more, and the upstream never sees it.
  const refund = await call(b, alice, 'POST', '/api/refunds', { order: 'o-7', amount: 4000 });
  t.equal(refund.status, 201, 'a refund within the admin limit');
  t.same([refund.body.refund?.amount, refund.body.served_with], [4000, 'writer'], 'reaches the upstream with its amount, under the writer key');
  const refundsBefore = upstreamSaw(h, 'POST', '/api/refunds');
  const large = await call(b, alice, 'POST', '/api/refunds', { order: 'o-7', amount: 40000 });
  t.equal(large.status, 403, 'a refund above every limit is denied');
  t.equal(large.body.error?.message, 'no role may refund this much');
  t.equal(upstreamSaw(h, 'POST', '/api/refunds'), refundsBefore, 'the upstream never saw it');

  // A revoke takes effect on the next request: at once on the replica that revoked,
  // within the stated bound on the other.
  const revoke = await cli(b, alice, ['revoke', second.json.grant_id, '--reason', 'done']);
  t.equal(revoke.code, 0, `alice revokes her grant when done ${revoke.stderr}`);
  t.equal((await call(b, alice, 'GET', '/admin/users')).status, 403, 'denied on the next request');
  t.ok(await eventually(async () => (await call(a, alice, 'GET', '/admin/users')).status === 403), 'denied on every replica');

  // The trail verifies.
  const verify = await runCli(['audit', 'verify', '--config', h.configFile], h.env);
  t.equal(verify.code, 0, `audit verify passes: ${verify.stdout}${verify.stderr}`);
}

t.test('SQLite, one gateway', async (t) => {
  const dir = tempDir('jg-e2e-sqlite-');
  const h = await setUp({ type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } }, 1);
  t.teardown(() => tearDown(h));
  await scenario(t, h);
});

t.test('PostgreSQL, two replicas', async (t) => {
  const db = await freshDatabase();
  const h = await setUp({ type: 'postgres', postgres: { url_env: 'E2E_PG_URL' } }, 2, { E2E_PG_URL: db.url });
  t.teardown(async () => {
    await tearDown(h);
    await db.drop();
  });
  await scenario(t, h);
});
