// What verify must not let pass: rows inserted beside the chain (a seq the walk from 1 never reads),
// details text rewritten to parse to the same value, export lines with fields the hash does not
// cover, a range that does not link to the checkpoint it begins after, no records at all; and what
// it must say when it cannot check (a named checkpoint or the config missing: 6, not 1).
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditTrail, verifyChain, type AuditRecord } from '../../src/audit/index.js';
import { recordHash } from '../../src/audit/chain.js';
import { insertRecords, rowToRecord } from '../../src/audit/records.js';
import { DIALECTS, openStore, type TestStore } from './stores.js';
import { entry } from './entries.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', main, 'audit', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function writeConfig(s: TestStore, checkpointFile: string): string {
  const store = s.store.type === 'sqlite'
    ? `    type: sqlite\n    sqlite:\n      path: ${s.store.path}\n`
    : `    type: postgres\n    postgres:\n      url: "${s.store.url}"\n`;
  const file = join(s.dir, 'opa.config.yaml');
  writeFileSync(file, `jitgate:\n  store:\n${store}  audit:\n    checkpoint_file: ${checkpointFile}\n`);
  return file;
}

/** A record sealed as the writer would, with whatever seq and prev_hash the forger chose. */
function forged(seq: number, prevHash: string, over: Partial<AuditRecord> = {}): AuditRecord {
  const unsealed = { ...entry({ kind: 'approval.added', actor: 'carol', grant_id: null, reason: 'approved by phone', ...over }), seq, at: new Date().toISOString(), prev_hash: prevHash };
  return { ...unsealed, hash: recordHash(unsealed) };
}

/** The record as `audit export` writes it (its fields in the store's column order). */
function exportLine(record: AuditRecord): string {
  return JSON.stringify(rowToRecord({ ...record, details: JSON.stringify(record.details) }));
}

for (const dialect of DIALECTS) {
  t.test(dialect, async (t) => {
    const s = await openStore(dialect);
    const checkpointFile = join(s.dir, 'audit.checkpoint');
    const config = writeConfig(s, checkpointFile);
    const trail = createAuditTrail(s.db, { checkpoint_file: checkpointFile, checkpoint_interval_ms: 60000, group_commit_ms: 0 });
    t.teardown(async () => { await trail.stop(); await s.close(); });
    await trail.start();

    await t.test('an empty trail is "no trail" (exit 6), not OK', async (t) => {
      const report = await verifyChain(s.db);
      t.equal(report.ok, false);
      t.equal(report.problem?.kind, 'empty');
      const r = await cli(['verify', '-c', config]);
      t.equal(r.code, 6);
      t.match(r.stdout, /^NO TRAIL: the audit table holds no records/);
    });

    // Keys JSON.parse puts first ("10", "2") and text that escapes differently: stored as written, still OK.
    await trail.append(entry({ kind: 'request.created', actor: 'alice', grant_id: null, details: { ticket: 'INC-1', amount: 12345678901234567000, z: { '10': 'ü', '2': '\u2028' } } }));
    await trail.append(entry({ kind: 'approval.added', actor: 'bob', grant_id: null }));
    await trail.append(entry({ kind: 'grant.granted', actor: 'system', grant_id: 'g-9' }));
    await trail.checkpoint();

    await t.test('the honest trail verifies', async (t) => {
      const report = await verifyChain(s.db, { checkpointFile });
      t.equal(report.ok, true, JSON.stringify(report.problem));
      t.equal(report.checkpoint_compared, true);
    });

    await t.test('a row beside the chain (seq outside 1..head) is tampering', async (t) => {
      const beside: [string, () => Promise<unknown>][] = [
        ['seq 0', () => s.db.tx((sql) => insertRecords(sql, [forged(0, '0'.repeat(64))]))],
        ['seq -1', () => s.db.tx((sql) => insertRecords(sql, [forged(-1, '0'.repeat(64))]))],
      ];
      if (dialect === 'sqlite') {
        // SQLite keeps NULL in a key that is not the rowid.
        beside.push(['seq NULL', () => s.db.query("INSERT INTO jitgate_audit (seq, at, kind, actor, details, prev_hash, hash) VALUES (NULL, 'x', 'approval.added', 'erin', '{}', 'x', 'y')")]);
      }
      for (const [name, insert] of beside) {
        await insert();
        const report = await verifyChain(s.db, { checkpointFile });
        t.equal(report.ok, false, `${name}: not OK`);
        t.equal(report.problem?.kind, 'outside_chain', name);
        t.match(report.problem?.message, /^1 row\(s\) beside the chain 1\.\.3,/, name);
        await s.db.query('DELETE FROM jitgate_audit WHERE seq IS NULL OR seq < 1 OR seq <> CAST(seq AS BIGINT)');
      }
      await s.db.tx((sql) => insertRecords(sql, [forged(0, '0'.repeat(64))]));
      const r = await cli(['verify', '-c', config]);
      t.equal(r.code, 1, 'the CLI says tampering');
      t.match(r.stdout, /^BROKEN at record 0: 1 row\(s\) beside the chain 1\.\.3/);
      await s.db.query('DELETE FROM jitgate_audit WHERE seq = 0');
      t.equal((await verifyChain(s.db)).ok, true, 'without it, OK again');
    });

    if (dialect === 'sqlite') {
      await t.test('a fractional seq between two pages of the walk is tampering', async (t) => {
        // SQLite keeps a fraction in a BIGINT column; the walk reads 1000 a page from the next whole seq.
        await Promise.all(Array.from({ length: 998 }, (_, i) => trail.append(entry({ kind: 'proxy.denied', grant_id: null, decision_id: `d-${i}` }))));
        await s.db.tx((sql) => insertRecords(sql, [forged(1000.5, '0'.repeat(64))]));
        const report = await verifyChain(s.db);
        t.equal(report.problem?.kind, 'outside_chain');
        t.equal(report.problem?.seq, 1000.5);
        t.match(report.problem?.message, /^1 row\(s\) beside the chain 1\.\.1001,/);
        await s.db.query('DELETE FROM jitgate_audit WHERE seq = 1000.5');
        t.equal((await verifyChain(s.db)).ok, true);
      });
    }

    await t.test('details text rewritten to parse to the same value is altered', async (t) => {
      const stored = String((await s.db.query('SELECT details FROM jitgate_audit WHERE seq = 1'))[0]!.details);
      const rewrites = {
        'a duplicate key JSON.parse discards': stored.replace('"ticket":"INC-1"', '"ticket":"CHG-999","ticket":"INC-1"'),
        'digits beyond double precision': stored.replace('12345678901234567000', '12345678901234567890'),
        'whitespace': stored.replace('"ticket":', '"ticket": '),
        'keys in another order': `{"ticket":"INC-1",${stored.slice(1).replace(',"ticket":"INC-1"', '')}`,
        'an escaped character': stored.replace('ü', '\\u00fc'),
      };
      for (const [name, text] of Object.entries(rewrites)) {
        t.not(text, stored, `${name}: rewritten`);
        t.same(JSON.parse(text), JSON.parse(stored), `${name}: parses to the same value`);
        await s.db.query('UPDATE jitgate_audit SET details = $1 WHERE seq = 1', [text]);
        const report = await verifyChain(s.db);
        t.equal(report.problem?.kind, 'altered', name);
        t.equal(report.problem?.seq, 1, name);
      }
      await s.db.query('UPDATE jitgate_audit SET details = $1 WHERE seq = 1', [stored]);
      t.equal((await verifyChain(s.db)).ok, true, 'restored: OK');
    });

    await t.test('a NUL in a text column is recorded as U+FFFD, and fails no one in its batch', async (t) => {
      const results = await Promise.allSettled([
        trail.append(entry({ kind: 'proxy.denied', actor: 'eve\u0000', subject: 'eve\u0000', reason: 'a\u0000b' })),
        ...Array.from({ length: 5 }, (_, i) => trail.append(entry({ kind: 'grant.revoked', grant_id: `g-${i}` }))),
      ]);
      t.same(results.map((r) => r.status), Array.from({ length: 6 }, () => 'fulfilled'));
      const nul = results[0] as PromiseFulfilledResult<AuditRecord>;
      t.equal(nul.value.actor, 'eve\uFFFD', 'what is hashed is what is stored');
      const rows = await s.db.query('SELECT actor, subject, reason FROM jitgate_audit WHERE seq = $1', [nul.value.seq]);
      t.same({ ...rows[0] }, { actor: 'eve\uFFFD', subject: 'eve\uFFFD', reason: 'a\uFFFDb' });
      t.equal((await verifyChain(s.db)).ok, true);
    });
  });
}

t.test('verify --file and --checkpoint', async (t) => {
  const s = await openStore('sqlite');
  t.teardown(() => s.close());
  const checkpointFile = join(s.dir, 'audit.checkpoint');
  const config = writeConfig(s, checkpointFile);
  const trail = createAuditTrail(s.db, { checkpoint_file: checkpointFile, checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await trail.start();
  for (let i = 0; i < 4; i++) await trail.append(entry({ grant_id: `g-${i}` }));
  await trail.checkpoint();
  const witness = join(s.dir, 'witness.json');
  writeFileSync(witness, readFileSync(checkpointFile)); // head: record 4
  const cp = JSON.parse(readFileSync(witness, 'utf8')) as { seq: number; hash: string };
  for (let i = 4; i < 6; i++) await trail.append(entry({ grant_id: `g-${i}` }));
  await trail.stop();
  const out = join(s.dir, 'export.jsonl');
  t.equal((await cli(['export', '-c', config, '-o', out])).code, 0);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  const file = (name: string, content: string[]): string => {
    const f = join(s.dir, name);
    writeFileSync(f, content.length ? `${content.join('\n')}\n` : '');
    return f;
  };

  await t.test('an export line with fields added or of another JSON type is not an audit record', async (t) => {
    let r = await cli(['verify', '--file', out, '--from-genesis', '--checkpoint', witness]);
    t.equal(r.code, 0, 'control: the export as written');
    t.match(r.stdout, /^OK: 6 records \(records 1\.\.6\), chain intact; checkpoint at record 4 .* matches/);
    const edit = (change: (r: Record<string, unknown>) => Record<string, unknown>): string[] =>
      lines.map((l, i) => (i === 1 ? JSON.stringify(change(JSON.parse(l) as Record<string, unknown>)) : l));
    const edits: [string, string[]][] = [
      ['a field added', edit((r) => ({ ...r, approved_by: 'mallory' }))],
      ['seq as a string', edit((r) => ({ ...r, seq: String(r.seq) }))],
      ['a text field as a number', edit((r) => ({ ...r, role: 7 }))],
      ['a duplicate key', lines.map((l, i) => (i === 1 ? l.replace('"actor":"bob"', '"actor":"mallory","actor":"bob"') : l))],
    ];
    for (const [name, content] of edits) {
      r = await cli(['verify', '--file', file('edited.jsonl', content)]);
      t.equal(r.code, 1, name);
      t.match(r.stdout, /^BROKEN at record 2: line 2 is not exactly an audit record/, name);
    }
  });

  await t.test('--checkpoint naming a file that does not exist cannot check (6); the configured one missing is said', async (t) => {
    const absent = join(s.dir, 'witnes.json');
    let r = await cli(['verify', '--file', out, '--checkpoint', absent]);
    t.equal(r.code, 6, '--file');
    t.match(r.stderr, /the checkpoint file .*witnes\.json does not exist/);
    r = await cli(['verify', '-c', config, '--checkpoint', absent]);
    t.equal(r.code, 6, 'the store');
    t.match(r.stderr, /does not exist/);
    rmSync(checkpointFile);
    r = await cli(['verify', '-c', config]);
    t.equal(r.code, 0, 'the configured file not written yet: the chain is still checked');
    t.match(r.stdout, /^OK: 6 records .*; checkpoint file .*audit\.checkpoint missing: nothing to compare/);
  });

  await t.test('a range is compared with the checkpoint it begins right after, and says when it was not', async (t) => {
    let r = await cli(['verify', '--file', file('after.jsonl', lines.slice(4)), '--checkpoint', witness]);
    t.equal(r.code, 0, 'records 5..6, linked to the checkpoint');
    t.match(r.stdout, /^OK: 2 records \(records 5\.\.6\), chain intact; checkpoint at record 4 .* matches/);
    // Made up from scratch: record 5 does not link to record 4 as the checkpoint saw it.
    const fake5 = forged(5, 'f'.repeat(64));
    const fake6 = forged(6, fake5.hash);
    t.not(fake5.prev_hash, cp.hash);
    r = await cli(['verify', '--file', file('fake.jsonl', [exportLine(fake5), exportLine(fake6)]), '--checkpoint', witness]);
    t.equal(r.code, 1);
    t.match(r.stdout, /^BROKEN at record 5: record 5 does not follow record 4 of the checkpoint/);
    r = await cli(['verify', '--file', file('later.jsonl', lines.slice(5)), '--checkpoint', witness]);
    t.equal(r.code, 0, 'record 6 alone');
    t.match(r.stdout, /checkpoint at record 4 not compared/);
    t.notMatch(r.stdout, /matches/);
    const j = JSON.parse((await cli(['verify', '--file', file('later.jsonl', lines.slice(5)), '--checkpoint', witness, '--json'])).stdout) as { checkpoint_compared: boolean };
    t.equal(j.checkpoint_compared, false, '--json says so too');
  });

  await t.test('an empty export is no trail (6); --from-genesis wants record 1 (1)', async (t) => {
    const empty = file('empty.jsonl', []);
    let r = await cli(['verify', '--file', empty]);
    t.equal(r.code, 6);
    t.match(r.stdout, /^NO TRAIL: the export holds no records/);
    r = await cli(['verify', '--file', empty, '--from-genesis']);
    t.equal(r.code, 1);
    t.match(r.stdout, /^BROKEN at record 1: record 1 is missing/);
  });

  await t.test('a config or export that cannot be read: 6 (could not check), not 1 (tampering)', async (t) => {
    let r = await cli(['verify', '-c', join(s.dir, 'nowhere.yaml')]);
    t.equal(r.code, 6, 'missing config');
    r = await cli(['verify', '--file', join(s.dir, 'nowhere.jsonl')]);
    t.equal(r.code, 6, 'missing export');
    t.match(r.stderr, /nowhere\.jsonl/);
  });
});
