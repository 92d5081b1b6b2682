// jitgate's data path as deployed: dev-issuer JWT verification (cached), the repository's sample
// policies compiled to wasm, the caller's live grants in the input, credential injection, masking,
// decision logging to a JSONL file, Prometheus metrics.
import { join } from 'node:path';
import type { AuditWriter } from '../src/audit/index.js';
import { createMetrics } from '../src/observability/index.js';
import { buildBundle, PolicyEngine, projectRoot } from '../src/policy/index.js';
import { createProxyServer } from '../src/proxy/index.js';
import { constantAllow, jitgateParts, SECRETS } from './jitgate-parts.js';

const [upstream, tokenFile] = process.argv.slice(2) as [string, string];
const parts = await jitgateParts(upstream);
const { cfg, built, decisionLog, logger } = parts;
const audit: AuditWriter = {
  append: () => Promise.reject(new Error('the benchmark request never needs an audit record')),
  appendWithin: () => Promise.reject(new Error('unused')),
};

// Diagnostic rows of the report switch parts off to show what each costs (never in the main row).
const without = new Set((process.env.JITGATE_BENCH_WITHOUT ?? '').split(',').filter(Boolean));
const withParts = new Set((process.env.JITGATE_BENCH_WITH ?? '').split(',').filter(Boolean));
// A second engine from the same policies: every decision is also asked of it, as with jitgate.policy.shadow.
const shadow = withParts.has('shadow') ? (await buildBundle({ dir: join(projectRoot(), 'policies'), opaPath: parts.opaPath, revision: 'bench-shadow' })).engine : null;

const proxy = createProxyServer({
  routes: cfg.jitgate.routes,
  policy: without.has('policy') ? constantAllow()
    : without.has('memo') ? await PolicyEngine.load(built.bundle, undefined, { decisionMemo: false })
      : built.engine,
  shadow,
  grants: parts.grants,
  authenticator: parts.authenticator,
  audit,
  decisionLog: without.has('decision-log') ? { log() { /* off */ } } : decisionLog,
  metrics: createMetrics(),
  logger,
  env: SECRETS,
});
const { port } = await proxy.listen('127.0.0.1', 0);
await parts.issueToken(tokenFile);
process.stdout.write(`LISTENING ${port}\n`);
process.on('SIGTERM', () => {
  void proxy.close()
    .then(() => parts.stop())
    .finally(() => { process.exit(0); });
});
