// `jitgate audit` against a real store opened from a config file, as an auditor runs it.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditTrail } from '../../src/audit/index.js';
import { SqliteDb } from '../../src/store/sqlite.js';
import { entry } from './entries.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', main, 'audit', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

t.test('verify, query, export', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-cli-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const config = join(dir, 'opa.config.yaml');
  writeFileSync(config, 'jitgate:\n  store:\n    type: sqlite\n    sqlite:\n      path: ./jitgate.db\n  audit:\n    checkpoint_file: ./audit.checkpoint\n');

  t.equal((await cli(['verify', '-c', config])).code, 6, 'no trail yet: unavailable, not "ok"');
  t.notOk(existsSync(join(dir, 'jitgate.db')), 'and no store was created by looking for one');

  const db = new SqliteDb(join(dir, 'jitgate.db'));
  const trail = createAuditTrail(db, { checkpoint_file: join(dir, 'audit.checkpoint'), checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await trail.start();
  await trail.append(entry({ kind: 'request.created', actor: 'alice', grant_id: null, reason: 'deploy hotfix' }));
  await trail.append(entry({ kind: 'approval.added', actor: 'bob', grant_id: null }));
  await trail.append(entry({ kind: 'grant.granted', actor: 'system', grant_id: 'g-9' }));
  await trail.append(entry({ kind: 'proxy.allowed_with_grant', actor: 'alice', grant_id: 'g-9', route: 'orders', decision_id: 'd-1' }));
  await trail.append(entry({ kind: 'proxy.denied', actor: 'erin', subject: 'erin', grant_id: null, route: 'orders' }));
  await trail.stop();
  await db.close();

  let r = await cli(['verify', '-c', config]);
  t.equal(r.code, 0);
  t.match(r.stdout, /OK: 5 records \(records 1\.\.5\), chain intact; checkpoint at record 5/);

  r = await cli(['query', '-c', config, '--grant', 'g-9', '--json']);
  t.equal(r.code, 0);
  t.same(JSON.parse(r.stdout).records.map((x: { kind: string }) => x.kind), ['grant.granted', 'proxy.allowed_with_grant']);

  r = await cli(['query', '-c', config, '--request', 'req-1', '--kind', 'approval.added']);
  t.match(r.stdout, /approval\.added\s+bob → alice/, 'who approved, in a table');

  r = await cli(['query', '-c', config, '--decision', 'deny', '--jsonl']);
  t.same(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { actor: string }).actor), ['erin']);

  t.equal((await cli(['query', '-c', config, '--decision', 'maybe'])).code, 2, 'bad usage');
  t.equal((await cli(['query', '-c', config, '--since', 'yesterday-ish'])).code, 2);
  // A bound the stored times cannot be compared with, or that means something other than it says, is refused, not answered.
  for (const [flag, bound, why] of [
    ['--until', '+010000-01-01T00:00:00Z', 'past year 9999 (it answered nothing, as if no record were older)'],
    ['--since', '1', 'no date (Date read it as 2001)'],
    ['--since', '2026-02-30', 'no such day (Date read it as 2 March)'],
    ['--since', '2026-12-07T10:00:00', 'a time without a zone (read in this machine\'s zone)'],
  ] as const) {
    r = await cli(['query', '-c', config, flag, bound]);
    t.same([r.code, r.stdout], [2, ''], `${flag} ${bound}: ${why}`);
    t.match(r.stderr, flag.slice(2), 'the error names the bound');
  }
  // A page size the listing cannot take is refused with its code before the store is read, not changed into another.
  for (const limit of ['0', '1001', '', '1e2', '0x10', '-1']) {
    r = await cli(['query', '-c', config, '--limit', limit, '--jsonl']);
    t.same([r.code, r.stdout], [2, ''], `--limit "${limit}" is refused`);
    t.match(r.stderr, /^jitgate audit: .*--limit must be a whole number from 1 to 1000, not ".*" \[JITGATE_E_VALIDATION\]\n$/);
  }
  r = await cli(['query', '-c', config, '--cursor', '0x1']);
  t.same([r.code, r.stdout], [2, ''], '--cursor takes decimal digits only');
  t.match(r.stderr, /--cursor .*\[JITGATE_E_VALIDATION\]/);
  t.equal((await cli(['query', '-c', config, '--limit', '1000', '--jsonl'])).stdout.split('\n').filter(Boolean).length, 5, '--limit 1000 is taken');
  const count = async (...args: string[]): Promise<number> => (await cli(['query', '-c', config, '--jsonl', ...args])).stdout.split('\n').filter(Boolean).length;
  t.equal(await count('--since', '2000-01-01', '--until', '9999-12-31T23:59:59.999Z'), 5, 'a date, and a time with its zone');
  t.equal(await count('--until', '2000-01-01T02:00:00+02:00'), 0, 'an offset');

  const out = join(dir, 'export.jsonl');
  r = await cli(['export', '-c', config, '-o', out]);
  t.equal(r.code, 0);
  const exported = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string });
  t.same(exported.map((x) => x.seq), [1, 2, 3, 4, 5]);
  t.ok(exported.every((x) => /^[0-9a-f]{64}$/.test(x.hash)), 'with hashes');

  r = await cli(['verify', '--file', out, '--checkpoint', join(dir, 'audit.checkpoint')]);
  t.equal(r.code, 0, 'the export verifies on its own, against the checkpoint');
  t.match(r.stdout, /OK: 5 records/);
  const lines = readFileSync(out, 'utf8').split('\n');
  writeFileSync(join(dir, 'edited.jsonl'), lines.map((l) => l.replace('"actor":"bob"', '"actor":"carol"')).join('\n'));
  r = await cli(['verify', '--file', join(dir, 'edited.jsonl')]);
  t.equal(r.code, 1, 'an edited export fails');
  t.match(r.stdout, /BROKEN at record 2: record 2 was altered/);
  writeFileSync(join(dir, 'range.jsonl'), lines.slice(2).join('\n'));
  r = await cli(['verify', '--file', join(dir, 'range.jsonl'), '--checkpoint', join(dir, 'audit.checkpoint')]);
  t.equal(r.code, 0, 'a contiguous range verifies internally');
  t.match(r.stdout, /OK: 3 records \(records 3\.\.5\)/, 'saying which records it holds');
  t.match(r.stdout, /begins at record 3: its link to record 2 is taken on trust/, 'and that what came before is not vouched for');
  r = await cli(['verify', '--file', join(dir, 'range.jsonl'), '--from-genesis']);
  t.equal(r.code, 1, '--from-genesis: an export with its first records cut off fails');
  t.match(r.stdout, /BROKEN at record 1: record 1 is missing/);
  writeFileSync(join(dir, 'gap.jsonl'), [lines[0], lines[2]].join('\n'));
  r = await cli(['verify', '--file', join(dir, 'gap.jsonl')]);
  t.match(r.stdout, /BROKEN at record 2: record 2 is missing/);

  const tamper = new SqliteDb(join(dir, 'jitgate.db'));
  await tamper.query("UPDATE jitgate_audit SET reason = 'routine' WHERE seq = 1");
  await tamper.close();
  r = await cli(['verify', '-c', config]);
  t.equal(r.code, 1, 'a broken chain fails the command');
  t.match(r.stdout, /BROKEN at record 1: record 1 was altered/);
});

t.test('the table shows revisions and ids whole, so a value read off it finds its records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-cli-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const config = join(dir, 'opa.config.yaml');
  writeFileSync(config, 'jitgate:\n  store:\n    type: sqlite\n    sqlite:\n      path: ./jitgate.db\n');
  // Two revisions of one dirty tree: alike for their first 46 characters, as the gateway names them.
  const head = '9b1c0d3e5f7a9b1c0d3e5f7a9b1c0d3e5af367a9-dirty-';
  const revisions = [`${head}36df4ced04f7`, `${head}365c44d392a4`];
  const ids = { grant: `grt_${'7'.repeat(32)}_and_then_some_more`, request: `req_${'5'.repeat(32)}_and_then_some_more` };
  const db = new SqliteDb(join(dir, 'jitgate.db'));
  const trail = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await trail.start();
  for (const policy_revision of revisions) {
    await trail.append(entry({ kind: 'policy.loaded', actor: 'system', subject: null, request_id: ids.request, grant_id: ids.grant, policy_revision }));
  }
  await trail.stop();
  await db.close();

  const shown = (await cli(['query', '-c', config])).stdout;
  for (const value of [...revisions, ids.grant, ids.request]) t.match(shown, value, `${value} is shown whole`);
  const header = shown.split('\n')[0]!;
  const revisionCell = (line: string): string => line.slice(header.indexOf('REVISION')).split(/\s+/)[0]!;
  const [first, second] = shown.split('\n').slice(1).map(revisionCell);
  t.not(first, second, 'two revisions look different');
  const found = await cli(['query', '-c', config, '--revision', second!, '--json']);
  t.same(JSON.parse(found.stdout).records.map((x: { policy_revision: string }) => x.policy_revision), [revisions[1]], 'and the one read off the table finds its record');
});

t.test('a checkpoint file cannot redraw a BROKEN report as OK on the terminal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-cli-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const config = join(dir, 'opa.config.yaml');
  writeFileSync(config, 'jitgate:\n  store:\n    type: sqlite\n    sqlite:\n      path: ./jitgate.db\n');
  const db = new SqliteDb(join(dir, 'jitgate.db'));
  const trail = createAuditTrail(db, { checkpoint_interval_ms: 60000, group_commit_ms: 0 });
  await trail.start();
  await trail.append(entry({ kind: 'request.created', actor: 'alice', grant_id: null }));
  await trail.stop();
  await db.close();
  // `at` is not covered by the checkpoint's hash, and the report quotes it: erase the line, write
  // "OK", hide the rest (and the next line).
  const checkpoint = join(dir, 'witness.checkpoint');
  writeFileSync(checkpoint, JSON.stringify({ seq: 1, hash: '0'.repeat(64), at: '\u001b[2K\rOK: 1 records (records 1..1), chain intact\u001b[8m\u009b2K\u202e' }));
  const r = await cli(['verify', '-c', config, '--checkpoint', checkpoint]);
  t.equal(r.code, 1, 'the chain does not match the checkpoint');
  t.match(r.stdout, /^BROKEN at record 1: record 1 differs from the checkpoint of {2}\[2K OK: 1 records/);
  t.match(r.stdout, /\n\(1 records checked: each follows the one before it, so the chain was rewritten from there on\)\n$/, 'the records were all read, not "verified before" record 1');
  // eslint-disable-next-line no-control-regex
  t.notMatch(r.stdout, /[\u001b\r\u009b\u202e]/, 'nothing of it drives the terminal');
  const json = await cli(['verify', '-c', config, '--checkpoint', checkpoint, '--json']);
  // eslint-disable-next-line no-control-regex
  t.notMatch(json.stdout, /[\u001b\r\u009b\u202e]/, '--json: escaped');
  t.equal((JSON.parse(json.stdout) as { checkpoint: { at: string } }).checkpoint.at, '\u001b[2K\rOK: 1 records (records 1..1), chain intact\u001b[8m\u009b2K\u202e', 'the same text to a parser');
});

t.test('"no audit trail" only when the store has none: a server that cannot be reached says so instead', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-cli-unreachable-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const unreachable = join(dir, 'pg.yaml');
  writeFileSync(unreachable, 'jitgate:\n  store:\n    type: postgres\n    postgres:\n      url: postgres://auditor@127.0.0.1:1/jitgate\n');
  const refused = await cli(['verify', '-c', unreachable]);
  t.equal(refused.code, 6, 'unavailable');
  t.match(refused.stderr, /cannot read the store of .*pg\.yaml: .*ECONNREFUSED/, 'the store could not be read, and why');
  t.notMatch(refused.stderr, /no audit trail/, 'not read as a trail gone');

  // A store that answers and holds no trail (a database file the gateway never wrote to).
  const empty = join(dir, 'empty.yaml');
  const db = new SqliteDb(join(dir, 'empty.db'));
  await db.close();
  writeFileSync(empty, 'jitgate:\n  store:\n    type: sqlite\n    sqlite:\n      path: ./empty.db\n');
  const none = await cli(['verify', '-c', empty]);
  t.equal(none.code, 6);
  t.match(none.stderr, /no audit trail in the store of .*empty\.yaml/, 'that one has no trail');
});
