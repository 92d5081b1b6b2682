// Files the gateway writes, in a folder another local account can also write (a shared log or
// checkpoint folder, or the gateway's own folders made under umask 0). Once, links planted at the
// checkpoint's predictable temporary names (<file>.<pid>.<n>.tmp) had a root gateway write the
// checkpoint over a root-owned file, and a decision log file another account made first was
// appended to, so that account read every request's details.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeCheckpoint } from '../../src/audit/checkpoint.js';
import { FileSink } from '../../src/audit/file-sink.js';

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'jg-planted-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const before = process.umask(mask);
  return fn().finally(() => process.umask(before));
}

t.test('links planted at checkpoint temporary names are not written through', async (t) => {
  const dir = scratch(t);
  const precious = join(dir, 'precious');
  writeFileSync(precious, 'root\'s file\n');
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const file = join(shared, 'audit.checkpoint');
  for (let n = 1; n <= 50; n++) symlinkSync(precious, `${file}.${String(process.pid)}.${String(n)}.tmp`);
  await writeCheckpoint(file, { seq: 7, hash: 'h', at: 'now' });
  t.equal(readFileSync(precious, 'utf8'), 'root\'s file\n', 'the file the links name is untouched');
  t.same(JSON.parse(readFileSync(file, 'utf8')), { seq: 7, hash: 'h', at: 'now' }, 'the checkpoint is written');
  t.equal(statSync(file).mode & 0o777, 0o600);

  const made = join(dir, 'made', 'by', 'the', 'gateway', 'audit.checkpoint');
  await withUmask(0, () => writeCheckpoint(made, { seq: 1, hash: 'h', at: 'now' }));
  t.equal(statSync(join(dir, 'made', 'by', 'the', 'gateway')).mode & 0o777, 0o700, 'its folder is not left to the umask');
});

function sink(path: string): { sink: FileSink; drops: string[] } {
  const drops: string[] = [];
  return { sink: new FileSink({ path, max_bytes: 1 << 20, max_files: 2, maxPending: 100, onDrop: (n, why) => { drops.push(`${String(n)} ${why}`); } }), drops };
}

t.test('the decision log is never written into another account\'s file or through a link', async (t) => {
  const dir = scratch(t);
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);

  // Another account made the file first, readable by itself.
  const theirs = join(shared, 'decisions.jsonl');
  writeFileSync(theirs, '');
  chmodSync(theirs, 0o666);
  chownSync(theirs, 65534, 65534);
  const a = sink(theirs);
  a.sink.write(JSON.stringify({ decision_id: 'd1', input: { request: { path: '/secret' } } }));
  await a.sink.close();
  t.equal(readFileSync(theirs, 'utf8'), '', 'nothing written to it');
  t.match(a.drops.join('\n'), /1 file sink write failed \(the decision log file is owned by another account/, 'the drop says why');

  // A link to a file of the gateway's account.
  const precious = join(dir, 'precious');
  writeFileSync(precious, 'keep\n');
  const linked = join(shared, 'linked.jsonl');
  symlinkSync(precious, linked);
  const b = sink(linked);
  b.sink.write(JSON.stringify({ decision_id: 'd2' }));
  await b.sink.close();
  t.equal(readFileSync(precious, 'utf8'), 'keep\n', 'the link is not followed');
  t.match(b.drops.join('\n'), /ELOOP/);

  // Its own folder, made under umask 0, and its own file.
  const own = join(dir, 'logs', 'decisions.jsonl');
  const c = sink(own);
  await withUmask(0, async () => {
    c.sink.write(JSON.stringify({ decision_id: 'd3' }));
    await c.sink.close();
  });
  t.equal(statSync(join(dir, 'logs')).mode & 0o777, 0o700);
  t.equal(statSync(own).mode & 0o777, 0o600);
  t.match(readFileSync(own, 'utf8'), /d3/);
});
