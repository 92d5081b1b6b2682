// The demo's story end to end, in one process: the real gateway (sample policies compiled by
// the real opa, SQLite store, workflow, dev token issuer, the svc-reporting API key) in front
// of the demo upstream. What each person sees, and what the upstream receives, at each step.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildConfig } from '../../src/config/index.js';
import { startDemoUpstream } from '../../src/demo/index.js';
import { startGateway } from '../../src/gateway/index.js';
import { createDevIssuer } from '../../src/identity/index.js';
import { createLogger } from '../../src/observability/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// The demo's published service key and its hash, as in opa.config.yaml.
const SERVICE_KEY = 'jg_reporting.demo-only-service-key';
const SERVICE_KEY_SHA256 = 'ec8a1ef2f34352331da894c920e8c451bd06438486f870b7b7346b2a1f233bd6';
const SUBJECTS = { alice: ['eng'], erin: ['eng'], bob: ['eng', 'approvers'], carol: ['eng', 'approvers'], dave: ['admins', 'approvers'] };

interface Answer {
  status: number;
  body: any;
}

async function call(base: string, method: string, path: string, auth: Record<string, string>, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

t.test('the demo, step by step', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'jg-demo-story-'));
  const keys = {
    readonly: randomBytes(18).toString('base64url'),
    writer: randomBytes(18).toString('base64url'),
    admin: randomBytes(18).toString('base64url'),
  };
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, keys });
  const keyFile = join(dir, 'dev-issuer.jwk.json');
  const config = buildConfig({
    labels: { app: 'jitgate', environment: 'test' },
    jitgate: {
      data_dir: dir,
      listen: { proxy: '127.0.0.1:0', control: '127.0.0.1:0' },
      policy: { dir: join(repoRoot, 'policies'), bundles_dir: join(dir, 'bundles'), watch: false },
      store: { type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } },
      identity: {
        dev_issuer: { enabled: true, key_file: keyFile, subjects: SUBJECTS },
        api_keys: [{ id: 'reporting', subject: 'svc-reporting', groups: ['services', 'reporting'], sha256: SERVICE_KEY_SHA256 }],
      },
      routes: [{
        name: 'demo',
        match: { path_prefix: '/' },
        upstream: upstream.url,
        credentials: {
          readonly: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_UPSTREAM_READ_KEY' },
          writer: { type: 'header', header: 'X-Api-Key', from_env: 'DEMO_UPSTREAM_WRITE_KEY' },
          admin: { type: 'bearer', from_env: 'DEMO_UPSTREAM_ADMIN_KEY' },
        },
        default_credential: 'readonly',
      }],
      audit: { checkpoint_file: join(dir, 'audit.checkpoint') },
    },
  }, join(dir, 'opa.config.yaml'));
  const gateway = await startGateway(config, {
    logger: createLogger({ log_level: 'silent' } as never),
    env: { ...process.env, DEMO_UPSTREAM_READ_KEY: keys.readonly, DEMO_UPSTREAM_WRITE_KEY: keys.writer, DEMO_UPSTREAM_ADMIN_KEY: keys.admin },
  });
  t.teardown(async () => {
    await gateway.stop();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  const proxy = `http://127.0.0.1:${gateway.proxyAddress.port}`;
  const control = `http://127.0.0.1:${gateway.controlAddress.port}`;
  const issuer = createDevIssuer({ enabled: true, key_file: keyFile, token_ttl_seconds: 600, subjects: SUBJECTS });
  const as = async (sub: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${await issuer.issue(sub)}` });
  const alice = await as('alice');
  const bob = await as('bob');
  const carol = await as('carol');
  const dave = await as('dave');
  const service = { 'x-api-key': SERVICE_KEY };
  const seenSince = (n: number) => upstream.seen.slice(n);

  // 1. alice reads with the readonly credential; her token never reaches the upstream.
  let mark = upstream.seen.length;
  const read = await call(proxy, 'GET', '/api/items', alice);
  t.equal(read.status, 200, 'alice reads');
  t.equal(read.body.served_with, 'readonly');
  const readSeen = seenSince(mark);
  t.equal(readSeen.length, 1);
  t.equal(readSeen[0]!.headers['x-api-key'], keys.readonly, 'the gateway injected the readonly key');
  t.equal(readSeen[0]!.headers.authorization, undefined, "alice's token was not forwarded");

  // 2. alice's write is refused with the elevation hint; the upstream never sees it.
  mark = upstream.seen.length;
  const refused = await call(proxy, 'POST', '/api/items', alice, { name: 'gear' });
  t.equal(refused.status, 403);
  t.equal(refused.body.error.message, 'writes under /api/ need an active writer grant');
  t.match(refused.body.error.elevation, { role: 'writer', max_duration_seconds: 28800 });
  t.equal(seenSince(mark).length, 0, 'the upstream never saw the refused write');

  // 3. alice asks for writer; she cannot approve it herself, bob can.
  const asked = await call(control, 'POST', '/v1/requests', alice, { role: 'writer', duration: '30m', reason: 'fix item 2' });
  t.equal(asked.status, 201, 'request created');
  t.equal(asked.body.status, 'pending');
  const self = await call(control, 'POST', `/v1/requests/${asked.body.id}/approve`, alice, {});
  t.equal(self.status, 403, 'no self-approval');
  const approved = await call(control, 'POST', `/v1/requests/${asked.body.id}/approve`, bob, { comment: 'ok' });
  t.equal(approved.status, 200, 'bob approves');
  const grantId: string = approved.body.grant_id;
  t.type(grantId, 'string', 'a grant was issued');

  // 4. The same write now goes through, with the writer credential.
  mark = upstream.seen.length;
  const written = await call(proxy, 'POST', '/api/items', alice, { name: 'gear' });
  t.equal(written.status, 201, 'alice writes with her grant');
  t.equal(written.body.served_with, 'writer');
  t.equal(seenSince(mark)[0]!.headers['x-api-key'], keys.writer);

  // 5. The writer grant does not open /admin/.
  mark = upstream.seen.length;
  const admin = await call(proxy, 'GET', '/admin/users', alice);
  t.equal(admin.status, 403);
  t.match(admin.body.error.elevation, { role: 'admin', max_duration_seconds: 3600, require_ticket: true });
  t.equal(admin.body.error.elevation.command, 'jitgate request --role admin --duration 1h --reason "..." --ticket "..."', 'the command carries the ticket admin asks for: without it, following it is refused');
  t.equal(seenSince(mark).length, 0, 'the upstream never saw /admin/');

  // 6. A path trick does not get there either.
  mark = upstream.seen.length;
  const trick = await call(proxy, 'GET', '/api/%2e%2e/admin/users', alice);
  t.not(trick.status, 200, 'encoded dot segments are refused');
  t.notOk(seenSince(mark).some((s) => s.url.includes('admin')), 'the upstream never saw an admin path');

  // 7. The reporting service reads reports, and nothing else.
  const report = await call(proxy, 'GET', '/api/reports/daily', service);
  t.equal(report.status, 200, 'svc-reporting reads reports');
  t.equal(report.body.served_with, 'readonly');
  const items = await call(proxy, 'GET', '/api/items', service);
  t.equal(items.status, 403, 'svc-reporting cannot read items');
  t.equal(items.body.error.elevation, undefined, 'no elevation hint for a service');

  // 8. dave needs two approvals for admin (and a ticket); his own approval never counts.
  const noTicket = await call(control, 'POST', '/v1/requests', dave, { role: 'admin', duration: '30m', reason: 'audit users' });
  t.equal(noTicket.status, 400, 'admin needs a ticket');
  t.equal(noTicket.body.error.code, 'JITGATE_E_TICKET_REQUIRED');
  const adminAsk = await call(control, 'POST', '/v1/requests', dave, { role: 'admin', duration: '30m', reason: 'audit users', ticket: 'CHG-7' });
  t.equal(adminAsk.status, 201);
  t.equal((await call(control, 'POST', `/v1/requests/${adminAsk.body.id}/approve`, dave, {})).status, 403, 'dave cannot approve his own');
  const first = await call(control, 'POST', `/v1/requests/${adminAsk.body.id}/approve`, bob, {});
  t.equal(first.status, 200);
  t.equal(first.body.status, 'pending', 'one approval is not enough');
  const second = await call(control, 'POST', `/v1/requests/${adminAsk.body.id}/approve`, carol, {});
  t.equal(second.body.status, 'approved');
  const users = await call(proxy, 'GET', '/admin/users', dave);
  t.equal(users.status, 200, 'dave reaches /admin/ with the admin grant');
  t.equal(users.body.served_with, 'admin');

  // 9. alice revokes her grant when done: the next write is refused at once.
  const revoked = await call(control, 'POST', `/v1/grants/${grantId}/revoke`, alice, { reason: 'done' });
  t.equal(revoked.status, 200, 'the holder revokes');
  mark = upstream.seen.length;
  const after = await call(proxy, 'POST', '/api/items', alice, { name: 'late' });
  t.equal(after.status, 403, 'the revoked grant no longer allows writes');
  t.equal(seenSince(mark).length, 0);

  // Never a key value in anything a caller received.
  for (const answer of [read, refused, written, admin, report, items, users, after]) {
    const text = JSON.stringify(answer.body);
    t.notOk(Object.values(keys).some((k) => text.includes(k)), 'no upstream key in a response');
  }
});
