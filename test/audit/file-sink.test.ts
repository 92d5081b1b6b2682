// The decision log's file: every line it holds parses, and what did not land is counted. Files
// removed under it or a disk that fills up must not silently swallow events.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileSink } from '../../src/audit/file-sink.js';
import { nullDevice } from '../helpers/null-device.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

function sink(path: string): { sink: FileSink; dropped: () => number; reopened: string[] } {
  let dropped = 0;
  const reopened: string[] = [];
  const s = new FileSink({ path, max_bytes: 1 << 20, max_files: 2, maxPending: 10_000, onDrop: (n) => { dropped += n; }, onReopen: (why) => { reopened.push(why); } });
  return { sink: s, dropped: () => dropped, reopened };
}

const line = (id: string, pad = 0): string => JSON.stringify({ decision_id: id, pad: 'p'.repeat(pad) });
const ids = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { decision_id: string }).decision_id);

t.test('a log file removed while the gateway runs: the next events go to a new file at the path, and the log says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-sink-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const path = join(dir, 'decisions.jsonl');
  const s = sink(path);
  s.sink.write(line('before'));
  await s.sink.flush();
  rmSync(path);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  for (const id of ['after-1', 'after-2']) s.sink.write(line(id));
  await s.sink.close();
  t.ok(existsSync(path), 'the file is there again');
  t.same(ids(path), ['after-1', 'after-2'], 'with every event after the removal');
  t.same(s.reopened, ['the decision log file was removed']);
  t.equal(s.dropped(), 0);
});

t.test('a full disk: no torn line, the next event after space is freed is whole, and what did not land is counted', async (t) => {
  const mnt = mountTmpfs(t, '64k', 'jg-sink-mnt-');
  if (mnt === null) {
    t.comment('skipped: no tmpfs can be mounted here (needs root; CI runs as root)');
    return;
  }
  const path = join(mnt, 'decisions.jsonl');
  const filler = join(mnt, 'filler');
  const s = sink(path);
  s.sink.write(line('first'));
  await s.sink.flush();
  // Leave a few KB: a batch of 3 KB lines fits in part only.
  writeFileSync(filler, Buffer.alloc(64 * 1024 - 12 * 1024));
  for (let i = 0; i < 8; i++) s.sink.write(line(`full-${String(i)}`, 3000));
  await s.sink.flush();
  rmSync(filler);
  for (let i = 0; i < 3; i++) s.sink.write(line(`after-${String(i)}`));
  await s.sink.close();
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  t.same(lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } }), [], 'every line parses');
  const logged = ids(path);
  t.same(logged.filter((id) => id.startsWith('after-')), ['after-0', 'after-1', 'after-2'], 'the events after space was freed are all there');
  t.equal(s.dropped(), 8 - logged.filter((id) => id.startsWith('full-')).length, 'the drop count is what did not land');
  t.ok(s.dropped() > 0, 'and something did not land');
});

t.test('a path naming a device (decision_logs.file.path: /dev/null, to do without the file) is neither written nor rotated away', async (t) => {
  const path = nullDevice(t, 'jg-sink-dev-');
  if (path === null) {
    t.comment('skipped: no device can be made here (needs root; CI runs as root)');
    return;
  }
  let dropped = 0;
  const reasons: string[] = [];
  const s = new FileSink({ path, max_bytes: 1024, max_files: 2, maxPending: 10_000, onDrop: (n, why) => { dropped += n; reasons.push(why); } });
  // Past max_bytes several times over: without the check the sink renamed the device to `null.1`.
  for (let i = 0; i < 20; i++) s.write(line(`e-${String(i)}`, 200));
  await s.close();
  t.ok(statSync(path).isCharacterDevice(), 'the device is still a device, at its path');
  t.notOk(existsSync(`${path}.1`), 'nothing was rotated');
  t.equal(dropped, 20, 'every event is counted as dropped');
  t.match(reasons[0], /names no regular file/, 'saying why');
});
