// The trail on both stores: every acknowledged append is committed and chained; verify
// names the first record that was edited, deleted, reordered or cut off.
import t from 'tap';
import { join } from 'node:path';
import { AUDIT_CHAIN_LOCK, createAuditTrail, queryAudit, verifyChain } from '../../src/audit/index.js';
import { DIALECTS, openStore } from './stores.js';
import { entry } from './entries.js';

for (const dialect of DIALECTS) {
  t.test(dialect, async (t) => {
    const s = await openStore(dialect);
    t.teardown(() => s.close());
    const checkpointFile = join(s.dir, 'audit.checkpoint');
    const trail = createAuditTrail(s.db, { checkpoint_file: checkpointFile, checkpoint_interval_ms: 60000, group_commit_ms: 2 });
    await trail.start();

    await t.test('concurrent appends are all committed, in one unbroken chain', async (t) => {
      const records = await Promise.all(Array.from({ length: 300 }, (_, i) => trail.append(entry({ grant_id: `g-${i}` }))));
      const seqs = records.map((r) => r.seq).sort((a, b) => a - b);
      t.same(seqs, Array.from({ length: 300 }, (_, i) => i + 1), 'each append got its own seq, no gaps');
      const rows = await s.db.query('SELECT COUNT(*) AS n FROM jitgate_audit');
      t.equal(Number(rows[0]!.n), 300);
      const report = await trail.verify();
      t.ok(report.ok, 'chain verifies');
      t.equal(report.records, 300);
    });

    await t.test('appendWithin commits with the caller or not at all', async (t) => {
      await t.rejects(s.db.tx(async (sql) => {
        await trail.appendWithin(sql, [entry({ kind: 'grant.revoked' })]);
        throw new Error('state change failed');
      }, { lockKey: AUDIT_CHAIN_LOCK }), /state change failed/);
      let rows = await s.db.query("SELECT COUNT(*) AS n FROM jitgate_audit WHERE kind = 'grant.revoked'");
      t.equal(Number(rows[0]!.n), 0, 'rolled back with the transaction');
      const [rec] = await s.db.tx((sql) => trail.appendWithin(sql, [entry({ kind: 'grant.revoked' })]), { lockKey: AUDIT_CHAIN_LOCK });
      t.equal(rec!.seq, 301);
      rows = await s.db.query("SELECT COUNT(*) AS n FROM jitgate_audit WHERE kind = 'grant.revoked'");
      t.equal(Number(rows[0]!.n), 1);
      t.ok((await trail.verify()).ok);
    });

    await t.test('an entry that cannot be encoded fails alone', async (t) => {
      const [bad, good] = await Promise.allSettled([
        trail.append(entry({ details: { n: 10n } })),
        trail.append(entry({ kind: 'grant.expired' })),
      ]);
      t.equal(bad.status, 'rejected');
      t.match((bad as PromiseRejectedResult).reason, { code: 'JITGATE_E_AUDIT_UNAVAILABLE' });
      t.equal(good.status, 'fulfilled', 'its neighbour in the same window is committed');
      t.equal((good as PromiseFulfilledResult<{ seq: number }>).value.seq, 302);
    });

    await t.test('records read back exactly as written', async (t) => {
      const rec = await trail.append(entry({ details: { b: [1, 2, { z: 'ü', a: null }], a: 1.5 }, reason: null }));
      const rows = await s.db.query('SELECT details FROM jitgate_audit WHERE seq = $1', [rec.seq]);
      t.same(JSON.parse(String(rows[0]!.details)), { a: 1.5, b: [1, 2, { z: 'ü', a: null }] });
      t.ok((await trail.verify()).ok);
    });

    await t.test('a lone surrogate (valid JSON, not valid UTF-8) is recorded as the store keeps it, and the chain still verifies', async (t) => {
      const rec = await trail.append(entry({ reason: 'done \ud800', actor: 'al\udc00ice', details: { comment: 'x\ud800y', list: ['\udfff'] } }));
      t.equal(rec.reason, 'done \ufffd', 'hashed as U+FFFD, what UTF-8 holds of it');
      t.equal(rec.actor, 'al\ufffdice');
      const rows = await s.db.query('SELECT reason, details FROM jitgate_audit WHERE seq = $1', [rec.seq]);
      t.equal(rows[0]!.reason, 'done \ufffd', 'and read back the same');
      t.same(JSON.parse(String(rows[0]!.details)), { comment: 'x\ufffdy', list: ['\ufffd'] });
      const report = await trail.verify();
      t.ok(report.ok, `the chain verifies (${JSON.stringify(report)})`);
    });

    const cp = await trail.checkpoint();
    t.equal(cp?.seq, 304, 'checkpoint holds the head');

    // Each tamper runs on the real table, then is undone so the next starts from a good chain.
    const tamper = async (
      name: string, change: string[], undo: string[], expect: { seq: number; kind: string },
    ): Promise<void> => {
      await t.test(name, async (t) => {
        for (const q of change) await s.db.query(q);
        const report = await verifyChain(s.db, { checkpointFile });
        t.notOk(report.ok, 'verify fails');
        t.equal(report.problem?.seq, expect.seq, `names record ${expect.seq}`);
        t.equal(report.problem?.kind, expect.kind);
        for (const q of undo) await s.db.query(q);
        t.ok((await verifyChain(s.db, { checkpointFile })).ok, 'good again once undone');
      });
    };

    await tamper('an edited field', ["UPDATE jitgate_audit SET actor = 'mallory' WHERE seq = 120"],
      ["UPDATE jitgate_audit SET actor = 'bob' WHERE seq = 120"], { seq: 120, kind: 'altered' });
    await tamper('edited details', ["UPDATE jitgate_audit SET details = '{\"x\":1}' WHERE seq = 5"],
      ["UPDATE jitgate_audit SET details = '{}' WHERE seq = 5"], { seq: 5, kind: 'altered' });
    await tamper('a deleted record',
      ['CREATE TABLE audit_saved AS SELECT * FROM jitgate_audit WHERE seq = 77', 'DELETE FROM jitgate_audit WHERE seq = 77'],
      ['INSERT INTO jitgate_audit SELECT * FROM audit_saved', 'DROP TABLE audit_saved'], { seq: 77, kind: 'missing' });
    await tamper('two records swapped',
      ['UPDATE jitgate_audit SET seq = -1 WHERE seq = 40', 'UPDATE jitgate_audit SET seq = 40 WHERE seq = 41', 'UPDATE jitgate_audit SET seq = 41 WHERE seq = -1'],
      ['UPDATE jitgate_audit SET seq = -1 WHERE seq = 41', 'UPDATE jitgate_audit SET seq = 41 WHERE seq = 40', 'UPDATE jitgate_audit SET seq = 40 WHERE seq = -1'],
      { seq: 40, kind: 'altered' });
    await tamper('a record re-sealed by someone without the rest of the chain',
      ['CREATE TABLE audit_saved AS SELECT * FROM jitgate_audit WHERE seq = 200',
        "UPDATE jitgate_audit SET prev_hash = '" + 'f'.repeat(64) + "' WHERE seq = 200"],
      ['DELETE FROM jitgate_audit WHERE seq = 200', 'INSERT INTO jitgate_audit SELECT * FROM audit_saved', 'DROP TABLE audit_saved'],
      { seq: 200, kind: 'altered' });
    await tamper('the tail cut off (checkpoint exists)',
      ['CREATE TABLE audit_saved AS SELECT * FROM jitgate_audit WHERE seq > 290', 'DELETE FROM jitgate_audit WHERE seq > 290'],
      ['INSERT INTO jitgate_audit SELECT * FROM audit_saved', 'DROP TABLE audit_saved'], { seq: 291, kind: 'truncated' });

    await t.test('a whole chain rebuilt from scratch still disagrees with the checkpoint', async (t) => {
      const other = await openStore(dialect);
      t.teardown(() => other.close());
      const forged = createAuditTrail(other.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
      await forged.start();
      for (let i = 0; i < 304; i++) await forged.append(entry({ actor: 'mallory' }));
      await forged.stop();
      const report = await verifyChain(other.db, { checkpointFile });
      t.notOk(report.ok);
      t.equal(report.problem?.kind, 'checkpoint_mismatch');
      t.equal(report.problem?.seq, 304);
    });

    await t.test('two writers on one database (replicas) keep one chain', async (t) => {
      const second = await openStore(dialect);
      t.teardown(() => second.close());
      const { SqliteDb } = await import('../../src/store/sqlite.js');
      const { PostgresDb } = await import('../../src/store/postgres.js');
      // A second connection pool to the same database, as a second replica would have.
      const other = second.store.type === 'sqlite' ? new SqliteDb(second.store.path) : new PostgresDb({ url: second.store.url, poolSize: 4 });
      t.teardown(() => other.close());
      const a = createAuditTrail(second.db, { checkpoint_interval_ms: 60000, group_commit_ms: 1 });
      const b = createAuditTrail(other, { checkpoint_interval_ms: 60000, group_commit_ms: 1 });
      await a.start();
      await b.start();
      const records = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).append(entry({ actor: `w${i % 2}` }))));
      t.equal(new Set(records.map((r) => r.seq)).size, 200, 'no seq handed out twice');
      const report = await verifyChain(second.db);
      t.ok(report.ok, 'interleaved batches form one valid chain');
      t.equal(report.records, 200);
      await a.stop();
      await b.stop();
    });

    await trail.stop();
    await t.rejects(trail.append(entry()), { code: 'JITGATE_E_AUDIT_UNAVAILABLE' }, 'no appends after stop');
  });
}

t.test('a replica whose clock is behind never stamps a record before the one it follows, so a window by time holds every record in it', async (t) => {
  const s = await openStore('postgres');
  t.teardown(() => s.close());
  const ahead = createAuditTrail(s.db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await ahead.start();
  const RealDate = Date;
  // The first replica's clock runs five minutes ahead of the second's.
  class FiveMinutesAhead extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(RealDate.now() + 300_000);
      else super(...(args as [string]));
    }
  }
  globalThis.Date = FiveMinutesAhead as DateConstructor;
  let first;
  try {
    first = await ahead.append(entry({ grant_id: 'g-ahead' }));
  } finally {
    globalThis.Date = RealDate;
  }
  const second = await ahead.append(entry({ grant_id: 'g-behind' }));
  t.ok(second.at >= first.at, `record 2 (${second.at}) is not stamped before record 1 (${first.at})`);
  const page = await queryAudit(s.db, { since: first.at, limit: 10 });
  t.same(page.records.map((r) => r.seq), [1, 2], 'a window from record 1\'s time holds both');
  await ahead.stop();
});
