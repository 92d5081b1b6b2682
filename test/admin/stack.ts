// The real control plane for tests: SQLite (or PostgreSQL) store, the repo's policies compiled
// by the real opa, the real workflow and audit trail, the real authenticator with the
// development issuer. Only the server's address is ephemeral.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createControlServer, type ControlServer } from '../../src/admin/index.js';
import { auditMigrations, createAuditTrail, queryAudit } from '../../src/audit/index.js';
import { createWorkflow, grantsMigrations } from '../../src/grants/index.js';
import { createAuthenticator, createDevIssuer } from '../../src/identity/index.js';
import { createLogger, createMetrics, HealthRegistry } from '../../src/observability/index.js';
import { buildBundle, requireOpa } from '../../src/policy/index.js';
import { openDb, type Db } from '../../src/store/index.js';
import { freshDatabase } from '../helpers/pg.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export const SUBJECTS: Record<string, string[]> = {
  alice: ['eng'],
  erin: ['eng'],
  bob: ['eng', 'approvers'],
  carol: ['eng', 'approvers'],
  dave: ['admins', 'approvers'],
  mallory: ['contractors'],
};

export interface Stack {
  base: string;
  server: ControlServer;
  db: Db;
  /** A dev-issuer token for a subject of SUBJECTS. */
  token(sub: string): Promise<string>;
  /** A token signed by a key the gateway does not trust, claiming to be `sub`. */
  forgedToken(sub: string): Promise<string>;
  apiKey: string;
  close(): Promise<void>;
}

export async function startStack(options: { store?: 'sqlite' | 'postgres'; logger?: Logger } = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-admin-'));
  const pg = options.store === 'postgres' ? await freshDatabase() : null;
  const db = pg
    ? openDb({ type: 'postgres', postgres: { url: pg.url, pool_size: 4 } } as never)
    : openDb({ type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') } } as never);
  await db.migrate('audit', auditMigrations);
  await db.migrate('grants', grantsMigrations);

  const logger = options.logger ?? createLogger({ log_level: 'silent' });
  const { engine } = await buildBundle({ dir: join(root, 'policies'), opaPath: await requireOpa() });
  const audit = createAuditTrail(db, { checkpoint_interval_ms: 60_000, group_commit_ms: 0 });
  const workflow = createWorkflow({ db, policy: engine, audit, config: { pending_ttl_seconds: 3600, sweep_interval_ms: 1000 }, logger });

  const devConfig = { enabled: true, key_file: join(dir, 'dev.jwk.json'), token_ttl_seconds: 600, subjects: SUBJECTS };
  const apiKey = 'jg_reporting.test-only-service-key';
  const { createHash } = await import('node:crypto');
  const authenticator = createAuthenticator(
    {
      api_keys: [{ id: 'reporting', subject: 'svc-reporting', groups: ['services'], sha256: createHash('sha256').update(apiKey).digest('hex') }],
      client_certificates: [],
      dev_issuer: devConfig,
    },
    { logger },
  );
  await authenticator.start();
  const issuer = createDevIssuer(devConfig);
  const rogue = createDevIssuer({ ...devConfig, key_file: join(dir, 'rogue.jwk.json') });

  const health = new HealthRegistry();
  health.register('store', async () => {
    await db.ping();
    return { ok: true };
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const server = createControlServer({
    workflow,
    authenticator,
    auditQuery: (filter) => queryAudit(db, filter),
    health,
    metrics,
    logger,
  });
  const address = await server.listen('127.0.0.1', 0);
  return {
    base: `http://127.0.0.1:${address.port}`,
    server,
    db,
    token: (sub) => issuer.issue(sub),
    forgedToken: (sub) => rogue.issue(sub, ['admins', 'approvers']),
    apiKey,
    async close() {
      await server.close();
      authenticator.stop();
      // A test may already have closed the store to simulate an outage.
      await db.close().catch(() => undefined);
      await pg?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer<T = any> {
  status: number;
  body: T;
}

/** One JSON call against the control API. */
export async function api<T = any>(base: string, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}
