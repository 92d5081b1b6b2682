// A bearer token and an upstream secret, injected wherever a careless caller might put
// them, never reach the log, the decision log or the audit trail.
import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createAuditTrail, createDecisionLogger } from '../../src/audit/index.js';
import { createLogger } from '../../src/observability/index.js';
import { SqliteDb } from '../../src/store/sqlite.js';

const BEARER = 'eyJhbGciOiJFUzI1NiJ9.YWxpY2U.bearer-secret-sig';
const UPSTREAM_SECRET = 'upstream-admin-key-0f9e8d7c';

t.test('logger redaction', (t) => {
  const lines: string[] = [];
  const log = createLogger({ log_level: 'info' }, { write: (s: string) => lines.push(s) });
  log.info({ req: { method: 'GET', url: '/x', headers: { authorization: `Bearer ${BEARER}`, cookie: `s=${BEARER}`, 'x-api-key': UPSTREAM_SECRET, accept: '*/*' } } }, 'request');
  log.info({ res: { statusCode: 200, headers: { 'set-cookie': `s=${BEARER}` } } }, 'response');
  log.info({ upstream: { url: 'http://u', headers: { authorization: `Bearer ${UPSTREAM_SECRET}` } } }, 'upstream call');
  log.info({ credential: { name: 'admin', value: UPSTREAM_SECRET } }, 'credential loaded');
  log.info({ route: { credentials: { admin: { type: 'bearer', value: UPSTREAM_SECRET } } } }, 'route');
  log.info({ token: BEARER, client: { secret: UPSTREAM_SECRET, password: UPSTREAM_SECRET } }, 'fields');
  log.warn({ headers: { authorization: `Bearer ${BEARER}` } }, 'bare headers');
  // A service's OAuth2 credentials, should a line ever carry them: a client assertion is a bearer credential too.
  log.info({ service: { oauth2: { client_id: 'jitgate', client_assertion: BEARER, private_key: UPSTREAM_SECRET } }, form: { assertion: BEARER } }, 'oauth2');
  t.equal(lines.length, 8);
  const all = lines.join('');
  t.notOk(all.includes(BEARER), 'no bearer token in the log');
  t.notOk(all.includes(UPSTREAM_SECRET), 'no upstream secret in the log');
  t.match(JSON.parse(lines[0]!), { req: { headers: { authorization: '[REDACTED]', accept: '*/*' } } }, 'the rest stays readable');
  t.end();
});

t.test('decision logs and audit records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-secrets-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const file = join(dir, 'decisions.jsonl');
  const dl = createDecisionLogger({
    console: false, resource: '/logs', mask: [], file: { path: file, max_bytes: 1 << 20, max_files: 2 },
    reporting: { buffer_size_limit_events: 100, buffer_size_limit_bytes: 67108864, upload_size_limit_bytes: 32768, min_delay_seconds: 1, max_delay_seconds: 2 },
  }, { labels: {}, services: {}, logger: createLogger({ log_level: 'silent' }) });
  dl.log({
    decision_id: 'd1', timestamp: new Date().toISOString(), path: 'jitgate/authz',
    input: { request: { headers: { authorization: `Bearer ${BEARER}`, 'proxy-authorization': `Basic ${UPSTREAM_SECRET}` }, query: { access_token: [BEARER] } }, upstream: { api_key: UPSTREAM_SECRET } },
    result: { allow: true, obligations: { headers: { authorization: `Bearer ${UPSTREAM_SECRET}` } } },
    bundles: {}, metrics: {}, jitgate: {},
  });
  await dl.stop();
  const logged = readFileSync(file, 'utf8');
  t.notOk(logged.includes(BEARER));
  t.notOk(logged.includes(UPSTREAM_SECRET));

  // Audit records are permanent evidence: whatever a caller hands the writer, secrets are scrubbed first.
  const db = new SqliteDb(join(dir, 'a.db'));
  t.teardown(() => db.close());
  const trail = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await trail.start();
  await trail.append({
    kind: 'proxy.allowed_with_grant', actor: 'alice', subject: 'alice', request_id: null, grant_id: 'g1', role: 'admin', route: 'demo',
    decision_id: 'd1', policy_revision: 'r', reason: `pasted by mistake: Bearer ${BEARER}`,
    details: { method: 'POST', credential: 'admin', headers: { authorization: `Bearer ${BEARER}`, 'x-api-key': UPSTREAM_SECRET }, upstream: { token: UPSTREAM_SECRET }, note: `Basic ${UPSTREAM_SECRET}` },
  });
  await trail.stop();
  const rows = await db.query('SELECT * FROM jitgate_audit');
  const stored = JSON.stringify(rows);
  t.notOk(stored.includes(BEARER), 'no bearer token in the audit trail');
  t.notOk(stored.includes(UPSTREAM_SECRET), 'no upstream secret in the audit trail');
  t.match(JSON.parse(String(rows[0]!.details)), { method: 'POST', credential: 'admin', headers: { authorization: '[REDACTED]' } }, 'the rest is kept');
  t.ok((await trail.verify()).ok, 'the scrubbed record is what was hashed');
});
