// jitgate's data path as deployed: dev-issuer JWT verification (cached), the repository's sample
// policies compiled to wasm, the caller's live grants in the input, credential injection, masking,
// decision logging to a JSONL file, Prometheus metrics.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { createDecisionLogger, type AuditWriter } from '../src/audit/index.js';
import { buildConfig } from '../src/config/index.js';
import { createGrantStore, GrantCache, type StoredGrant } from '../src/grants/index.js';
import { createAuthenticator, createDevIssuer } from '../src/identity/index.js';
import { createMetrics } from '../src/observability/index.js';
import { buildBundle, PolicyEngine, projectRoot, requireOpa, type PolicyEvaluator } from '../src/policy/index.js';
import { openDb } from '../src/store/index.js';
import { createProxyServer } from '../src/proxy/index.js';

const [upstream, tokenFile] = process.argv.slice(2) as [string, string];
const dir = mkdtempSync(join(tmpdir(), 'jg-bench-'));
const cfg = buildConfig({
  decision_logs: { console: false, file: { path: join(dir, 'decisions.jsonl'), max_bytes: 104857600, max_files: 2 } },
  jitgate: {
    identity: { dev_issuer: { enabled: true, key_file: join(dir, 'dev.jwk.json'), subjects: { alice: ['eng'] } } },
    routes: [{
      name: 'demo', match: { path_prefix: '/' }, upstream,
      credentials: {
        readonly: { type: 'header', header: 'X-Api-Key', from_env: 'BENCH_READ_KEY' },
        writer: { type: 'header', header: 'X-Api-Key', from_env: 'BENCH_WRITE_KEY' },
      },
      default_credential: 'readonly',
    }],
  },
}, null);

const logger = pino({ level: 'warn' });
const opaPath = await requireOpa();
const built = await buildBundle({ dir: join(projectRoot(), 'policies'), opaPath, revision: 'bench' });
const decisionLog = createDecisionLogger(cfg.decision_logs, { labels: { app: 'bench' }, services: {}, logger, rules: built.engine });
await decisionLog.start();
const authenticator = createAuthenticator(cfg.jitgate.identity, { logger });
await authenticator.start();

// alice holds two live grants (not needed for the benchmark's reads): they travel in every input.
// They come from the real grant cache over the embedded SQLite store, as in `jitgate serve`.
const db = openDb({ type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') }, postgres: {} });
const store = createGrantStore(db);
await store.migrate();
const now = Date.now();
const grant = (id: string): StoredGrant => ({
  id, request_id: `r_${id}`, subject: { id: 'alice', kind: 'user', groups: ['eng'] }, role: 'writer',
  scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] }, reason: 'benchmark', ticket: null, approved_by: ['bob'],
  break_glass: false, reviewed_by: null, reviewed_at: null, starts_at: new Date(now).toISOString(),
  expires_at: new Date(now + 3_600_000).toISOString(), status: 'active', revoked_at: null, revoked_by: null, revoke_reason: null,
  expired_recorded_at: null, extension_count: 0, extends_grant_id: null,
});
await db.tx((sql) => store.insertGrants(sql, [grant('g_1'), grant('g_2')]));
const grants = new GrantCache({ store });
await grants.start();
const audit: AuditWriter = {
  append: () => Promise.reject(new Error('the benchmark request never needs an audit record')),
  appendWithin: () => Promise.reject(new Error('unused')),
};

// Diagnostic rows of the report switch parts off to show what each costs (never in the main row).
const without = new Set((process.env.JITGATE_BENCH_WITHOUT ?? '').split(',').filter(Boolean));
const withParts = new Set((process.env.JITGATE_BENCH_WITH ?? '').split(',').filter(Boolean));
// A second engine from the same policies: every decision is also asked of it, as with jitgate.policy.shadow.
const shadow = withParts.has('shadow') ? (await buildBundle({ dir: join(projectRoot(), 'policies'), opaPath, revision: 'bench-shadow' })).engine : null;
const constantAllow: PolicyEvaluator = {
  revision: 'constant',
  authorize: () => ({ result: { allow: true, obligations: { credential: 'readonly' }, grant_ids: [] }, revision: 'constant', decision_id: randomUUID(), eval_ns: 0 }),
  elevation: () => { throw new Error('unused'); },
};

const proxy = createProxyServer({
  routes: cfg.jitgate.routes,
  policy: without.has('policy') ? constantAllow
    : without.has('memo') ? await PolicyEngine.load(built.bundle, undefined, { decisionMemo: false })
      : built.engine,
  shadow,
  grants,
  authenticator,
  audit,
  decisionLog: without.has('decision-log') ? { log() { /* off */ } } : decisionLog,
  metrics: createMetrics(),
  logger,
  env: { BENCH_READ_KEY: 'bench-read-secret-1', BENCH_WRITE_KEY: 'bench-write-secret-2' },
});
const { port } = await proxy.listen('127.0.0.1', 0);
await writeFile(tokenFile, await createDevIssuer(cfg.jitgate.identity.dev_issuer).issue('alice', ['eng'], 3600));
process.stdout.write(`LISTENING ${port}\n`);
process.on('SIGTERM', () => {
  void proxy.close()
    .then(() => decisionLog.stop())
    .then(() => grants.stop())
    .then(() => db.close())
    .finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
});
