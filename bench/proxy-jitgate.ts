// jitgate's data path as deployed: dev-issuer JWT verification (cached), the repository's sample
// policies compiled to wasm, the caller's live grants in the input, credential injection, masking,
// decision logging to a JSONL file, Prometheus metrics.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { createDecisionLogger, type AuditWriter } from '../src/audit/index.js';
import { buildConfig } from '../src/config/index.js';
import { createAuthenticator, createDevIssuer } from '../src/identity/index.js';
import { createMetrics } from '../src/observability/index.js';
import { buildBundle, requireOpa, type PolicyEvaluator, type PolicyGrant } from '../src/policy/index.js';
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
const built = await buildBundle({ dir: join(import.meta.dirname, '..', 'policies'), opaPath, revision: 'bench' });
const decisionLog = createDecisionLogger(cfg.decision_logs, { labels: { app: 'bench' }, services: {}, logger });
await decisionLog.start();
const authenticator = createAuthenticator(cfg.jitgate.identity, { logger });
await authenticator.start();

// alice holds two live grants (not needed for the benchmark's reads): they travel in every input.
const now = Date.now();
const grant = (id: string, role: string): PolicyGrant => ({
  id, role, scope: { route: 'demo', methods: ['POST'], paths: ['/api/orders/**'] },
  starts_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), expires_at_ns: (now + 3_600_000) * 1e6,
  approved_by: ['bob'], reason: 'benchmark', ticket: null, break_glass: false, request_id: `r_${id}`,
});
const aliceGrants = [grant('g_1', 'writer'), grant('g_2', 'writer')];
const audit: AuditWriter = {
  append: () => Promise.reject(new Error('the benchmark request never needs an audit record')),
  appendWithin: () => Promise.reject(new Error('unused')),
};

// Diagnostic rows of the report switch parts off to show what each costs (never in the main row).
const without = new Set((process.env.JITGATE_BENCH_WITHOUT ?? '').split(',').filter(Boolean));
const constantAllow: PolicyEvaluator = {
  revision: 'constant',
  authorize: () => ({ result: { allow: true, obligations: { credential: 'readonly' }, grant_ids: [] }, revision: 'constant', decision_id: randomUUID(), eval_ns: 0 }),
  elevation: () => { throw new Error('unused'); },
};

const proxy = createProxyServer({
  routes: cfg.jitgate.routes,
  policy: without.has('policy') ? constantAllow : built.engine,
  grants: { ready: true, activeGrants: (sub, nowMs) => (sub === 'alice' ? aliceGrants.filter((g) => g.expires_at_ns > nowMs * 1e6) : []) },
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
  void proxy.close().then(() => decisionLog.stop()).then(() => process.exit(0));
});
