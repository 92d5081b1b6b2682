// Audit commit cost: what "no response before its audit record is committed" costs.
// Compares the group-committing AuditWriter with one transaction per record (the
// baseline, measured in the same run), on SQLite and PostgreSQL, with concurrent clients.
// Run: node --import tsx bench/audit.ts   (writes the `## Audit commit cost` section of docs/benchmarks.md)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AUDIT_CHAIN_LOCK, createAuditTrail, verifyChain, type AuditEntry } from '../src/audit/index.js';
import { PostgresDb } from '../src/store/postgres.js';
import { SqliteDb } from '../src/store/sqlite.js';
import type { Db } from '../src/store/index.js';
import { freshDatabase } from '../test/helpers/pg.js';
import { writeSection } from './docs-section.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const PER_MODE = Number(process.env.BENCH_APPENDS ?? 3000);
/** A lone client shows what the group-commit window adds to one request's latency. */
const SINGLE_CLIENT_APPENDS = 300;
/** Pause between a lone client's appends: each append then finds the writer idle and waits the whole window. */
const IDLE_MS = 5;
const WARMUP = 1000;

const entry = (i: number): AuditEntry => ({
  kind: 'proxy.allowed_with_grant', actor: 'alice', subject: 'alice', request_id: null, grant_id: `g-${i % 50}`,
  role: 'writer', route: 'orders', decision_id: `d-${i}`, policy_revision: 'rev-1', reason: null,
  details: { method: 'POST', path: '/orders/42', upstream_status: 201 },
});

interface Result { mode: string; clients: number; idleMs: number; perSec: number; p50: number; p99: number }

async function measure(mode: string, append: (i: number) => Promise<unknown>, total: number, clients = CLIENTS, idleMs = 0): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await append(i);
      latencies.push(performance.now() - t0);
      if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { mode, clients, idleMs, perSec: total / seconds, p50: q(0.5), p99: q(0.99) };
}

async function bench(db: Db): Promise<Result[]> {
  const perRecord = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await perRecord.start();
  const baseline = (i: number): Promise<unknown> =>
    db.tx((sql) => perRecord.appendWithin(sql, [entry(i)]), { lockKey: AUDIT_CHAIN_LOCK });
  const group0 = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  const group2 = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 2 });
  await Promise.all([group0.start(), group2.start()]);
  await measure('warm-up', baseline, WARMUP);
  const results = [
    await measure('one transaction per record (baseline)', baseline, PER_MODE),
    await measure('group commit, group_commit_ms: 0', (i) => group0.append(entry(i)), PER_MODE),
    await measure('group commit, group_commit_ms: 2 (default)', (i) => group2.append(entry(i)), PER_MODE),
    await measure('one transaction per record (baseline)', baseline, SINGLE_CLIENT_APPENDS, 1),
    await measure('group commit, group_commit_ms: 0', (i) => group0.append(entry(i)), SINGLE_CLIENT_APPENDS, 1),
    await measure('group commit, group_commit_ms: 2 (default)', (i) => group2.append(entry(i)), SINGLE_CLIENT_APPENDS, 1),
    await measure('one transaction per record (baseline)', baseline, SINGLE_CLIENT_APPENDS, 1, IDLE_MS),
    await measure('group commit, group_commit_ms: 0', (i) => group0.append(entry(i)), SINGLE_CLIENT_APPENDS, 1, IDLE_MS),
    await measure('group commit, group_commit_ms: 2 (default)', (i) => group2.append(entry(i)), SINGLE_CLIENT_APPENDS, 1, IDLE_MS),
  ];
  await Promise.all([perRecord.stop(), group0.stop(), group2.stop()]);
  const report = await verifyChain(db);
  if (!report.ok) throw new Error(`chain broken after the benchmark: ${report.problem?.message ?? ''}`);
  return results;
}

function rows(store: string, results: Result[]): string[] {
  return results.map((r) => {
    const base = results.find((b) => b.clients === r.clients && b.idleMs === r.idleMs)!.perSec;
    const clients = r.idleMs > 0 ? `1, idle ${r.idleMs} ms between` : String(r.clients);
    const rate = r.idleMs > 0 ? '–' : String(Math.round(r.perSec));
    const ratio = r.idleMs > 0 ? '–' : `${(r.perSec / base).toFixed(2)}×`;
    return `| ${store} | ${clients} | ${r.mode} | ${rate} | ${ratio} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`;
  });
}

const dir = mkdtempSync(join(tmpdir(), 'jg-bench-audit-'));
const table: string[] = [];
try {
  for (const sync of ['NORMAL', 'FULL'] as const) {
    const db = new SqliteDb(join(dir, `audit-${sync}.db`));
    await db.query(`PRAGMA synchronous = ${sync}`);
    const results = await bench(db);
    await db.close();
    table.push(...rows(`SQLite (WAL, synchronous=${sync})`, results));
    console.log(table.slice(-9).join('\n'));
  }
  const pg = await freshDatabase();
  const db = new PostgresDb({ url: pg.url, poolSize: 10 });
  try {
    const results = await bench(db);
    table.push(...rows('PostgreSQL (local, fsync=off test cluster)', results));
    console.log(table.slice(-9).join('\n'));
  } finally {
    await db.close();
    await pg.drop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const section = `## Audit commit cost

Every audited response waits until its record is committed. This measures that wait:
${CLIENTS} concurrent clients (${PER_MODE} appends per mode) and a lone client
(${SINGLE_CLIENT_APPENDS} appends back to back, then with ${IDLE_MS} ms idle between appends: an append
that finds the writer idle waits the whole group_commit_ms window, one that arrives while a
commit is in flight goes into the next commit at once). Each append is chained (SHA-256 over canonical JSON, under
the chain lock) and acknowledged only after COMMIT. Baseline: one transaction per record,
measured in the same run with the same number of clients; ratio = appends/s ÷ baseline.
Latency is per append (queue + commit), in milliseconds.

Command: \`node --import tsx bench/audit.ts\` (${cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}).

| Store | Clients | Mode | appends/s | vs baseline | p50 ms | p99 ms |
|---|---:|---|---:|---:|---:|---:|
${table.join('\n')}

Notes: the SQLite store runs with \`synchronous=FULL\` since the nineteenth stop (durable
across power loss: an fsync per commit); the NORMAL rows (durable across a process crash
only, the setting before) show what that costs, and the FULL rows vary from run to run with
whatever else uses the disk. A lone client sending back to back
never waits the window (its next append arrives while the previous commit is in flight and
goes into the next commit at once); after idle time it waits up to group_commit_ms.
The test PostgreSQL cluster runs with \`fsync=off\`, so its figures show round-trip and
lock cost, not disk flushes; on a real disk the per-record baseline pays one WAL flush per
record and group commit one per batch, so the ratio grows.
`;

console.log(`wrote ${writeSection('Audit commit cost', section)}`);
