// Real pieces for the grants tests: the repo's sample policies compiled by the real opa,
// the real audit trail, SQLite or a fresh PostgreSQL database, and a clock the test moves.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditMigrations, createAuditTrail, queryAudit, type AuditRecord, type AuditTrail } from '../../src/audit/index.js';
import {
  createGrantStore, createWorkflow, GrantCache, Sweeper, type GrantStore, type StoreWorkflow, type WorkflowEvent,
} from '../../src/grants/index.js';
import { buildBundle, requireOpa, type PolicyEngine, type Subject } from '../../src/policy/index.js';
import { openDb, type Db } from '../../src/store/index.js';
import { freshDatabase } from '../helpers/pg.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export type Dialect = 'sqlite' | 'postgres';

export const user = (id: string, groups: string[]): Subject => ({ id, kind: 'user', groups, claims: {} });
export const alice = user('alice', ['eng']);
export const erin = user('erin', ['eng']);
export const bob = user('bob', ['eng', 'approvers']);
export const carol = user('carol', ['eng', 'approvers']);
export const dave = user('dave', ['admins', 'approvers']);
export const mallory = user('mallory', ['contractors']);

let engine: Promise<PolicyEngine> | null = null;

/** The sample policies (policies/), built once per test process. */
export function samplePolicy(): Promise<PolicyEngine> {
  engine ??= (async () => (await buildBundle({ dir: join(root, 'policies'), opaPath: await requireOpa() })).engine)();
  return engine;
}

/** The sample policies with their data.json changed by `edit`, built from a copy (the change a policy author merges). */
export async function samplePolicyEdited(edit: (data: { jitgate: { roles: Record<string, Record<string, unknown>> } }) => void): Promise<PolicyEngine> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-policies-'));
  try {
    await cp(join(root, 'policies'), dir, { recursive: true });
    const file = join(dir, 'data.json');
    const data = JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof edit>[0];
    edit(data);
    await writeFile(file, JSON.stringify(data));
    return (await buildBundle({ dir, opaPath: await requireOpa() })).engine;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export class TestClock {
  constructor(public ms = Date.now()) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A database of its own: SQLite in a temp dir, or a fresh PostgreSQL database. */
export async function openStore(dialect: Dialect): Promise<{ db: Db; url: string | null; openAnother(): Db; close(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'jitgate-grants-'));
    const db = openDb({ type: 'sqlite', sqlite: { path: join(dir, 'jitgate.db') }, postgres: {} });
    return {
      db, url: null,
      openAnother() { throw new Error('SQLite is one process'); },
      async close() {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const pg = await freshDatabase();
  const others: Db[] = [];
  const open = (): Db => openDb({ type: 'postgres', sqlite: { path: 'unused' }, postgres: { url: pg.url, pool_size: 4 } });
  const db = open();
  return {
    db, url: pg.url,
    openAnother() {
      const d = open();
      others.push(d);
      return d;
    },
    async close() {
      for (const d of [db, ...others]) await d.close();
      await pg.drop();
    },
  };
}

export interface Replica {
  db: Db;
  store: GrantStore;
  audit: AuditTrail;
  cache: GrantCache;
  workflow: StoreWorkflow;
  sweeper: Sweeper;
  events: WorkflowEvent[];
  stop(): Promise<void>;
}

/** One gateway replica's grants part on `db` (migrations applied). */
export async function replica(db: Db, clock: TestClock, ttlSeconds = 3600, maxOpen = 1000): Promise<Replica> {
  await db.migrate('audit', auditMigrations);
  const store = createGrantStore(db);
  await store.migrate();
  const audit = createAuditTrail(db, { checkpoint_interval_ms: 60_000, group_commit_ms: 0 });
  await audit.start();
  const cache = new GrantCache({ store, clock: clock.now, retryDelayMs: 50 });
  await cache.start();
  const events: WorkflowEvent[] = [];
  const notifier = { notify: (e: WorkflowEvent) => { events.push(e); } };
  const policy = await samplePolicy();
  // The race tests give one requester a grant per round; the bound on open requests and grants
  // per requester has tests of its own (test/admin/open-limit.test.ts).
  const workflow = createWorkflow({ store, policy, audit, cache, notifier, clock: clock.now, config: { pending_ttl_seconds: ttlSeconds, sweep_interval_ms: 60_000, max_open_per_requester: maxOpen } });
  const sweeper = new Sweeper({ store, audit, cache, notifier, clock: clock.now, intervalMs: 60_000 });
  return {
    db, store, audit, cache, workflow, sweeper, events,
    async stop() {
      await sweeper.stop();
      await cache.stop();
      await audit.stop();
    },
  };
}

/** A fresh store of `dialect` with one replica on it and a test clock, all stopped at the end of `t`. */
export async function storeWithReplica(t: { teardown(fn: () => Promise<void>): void }, dialect: Dialect, ttlSeconds?: number): Promise<{ s: Awaited<ReturnType<typeof openStore>>; clock: TestClock; r: Replica }> {
  const s = await openStore(dialect);
  const clock = new TestClock();
  const r = await replica(s.db, clock, ttlSeconds);
  t.teardown(async () => {
    await r.stop();
    await s.close();
  });
  return { s, clock, r };
}

export async function auditOf(db: Db, filter: { request_id?: string; grant_id?: string; kind?: string } = {}): Promise<AuditRecord[]> {
  const { kind, ...rest } = filter;
  const page = await queryAudit(db, { ...rest, ...(kind === undefined ? {} : { kinds: [kind] }), limit: 1000 });
  return [...page.records].sort((a, b) => a.seq - b.seq);
}

/** Resolves once `check` holds (polling); rejects after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
