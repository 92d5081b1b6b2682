// The parts of jitgate's data path as `jitgate serve` builds them, for the bench targets that run
// them (bench/proxy-jitgate.ts, bench/proxy-floor.ts): the dev issuer's JWTs with the
// verified-token cache, the repository's sample policies compiled to wasm, the real grant cache
// over the embedded SQLite store with two live grants for alice, and the decision log's JSONL file.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createDecisionLogger, type DecisionLogSink } from '../src/audit/index.js';
import { buildConfig, type GatewayConfig } from '../src/config/index.js';
import { createGrantStore, GrantCache, type StoredGrant } from '../src/grants/index.js';
import { createAuthenticator, createDevIssuer, type ManagedAuthenticator } from '../src/identity/index.js';
import { buildBundle, projectRoot, requireOpa, type BuildResult, type PolicyEvaluator } from '../src/policy/index.js';
import { uuid } from '../src/uuid.js';
import { openDb } from '../src/store/index.js';

export const SECRETS = { BENCH_READ_KEY: 'bench-read-secret-1', BENCH_WRITE_KEY: 'bench-write-secret-2' };

/** A policy that allows everything with the read-only credential: the diagnostic rows' "without policy". */
export function constantAllow(): PolicyEvaluator {
  return {
    revision: 'constant',
    authorize: () => ({ result: { allow: true, obligations: { credential: 'readonly' }, grant_ids: [] }, revision: 'constant', decision_id: uuid(), eval_ns: 0 }),
    elevation: () => { throw new Error('unused'); },
  };
}

export interface JitgateParts {
  cfg: GatewayConfig;
  logger: Logger;
  opaPath: string;
  built: BuildResult;
  decisionLog: DecisionLogSink;
  authenticator: ManagedAuthenticator;
  grants: GrantCache;
  /** Writes a token for alice (groups eng, an hour) to `file`. */
  issueToken(file: string): Promise<void>;
  stop(): Promise<void>;
}

export async function jitgateParts(upstream: string): Promise<JitgateParts> {
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

  return {
    cfg, logger, opaPath, built, decisionLog, authenticator, grants,
    async issueToken(file) {
      await writeFile(file, await createDevIssuer(cfg.jitgate.identity.dev_issuer).issue('alice', ['eng'], 3600));
    },
    async stop() {
      await decisionLog.stop();
      await grants.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
