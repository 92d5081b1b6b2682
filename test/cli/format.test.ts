import t from 'tap';
import { fields, formatDuration, formatTime, relative, table } from '../../src/cli/format.js';

t.test('durations read the way people write them', (t) => {
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(45), '45s');
  t.equal(formatDuration(1800), '30m');
  t.equal(formatDuration(3600), '1h');
  t.equal(formatDuration(5400), '1h30m');
  t.equal(formatDuration(86400 + 3 * 3600 + 59), '1d3h', 'at most two units');
  t.equal(formatDuration(86400 + 60), '1d1m', 'zero units in between are skipped');
  t.end();
});

t.test('times are relative to now, both ways', (t) => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  t.equal(relative('2026-01-01T12:29:00Z', now), 'in 29m');
  t.equal(relative('2026-01-01T11:55:00Z', now), '5m ago');
  t.equal(relative(null, now), '-');
  t.equal(formatTime('2026-01-01T12:00:00.123Z'), '2026-01-01 12:00:00Z');
  t.end();
});

t.test('tables align columns and neutralise control characters', (t) => {
  const out = table(['ID', 'REASON'], [['r1', 'short'], ['r22', 'evil\u001b[2Jtext']]);
  const lines = out.split('\n');
  t.equal(lines.length, 3);
  t.equal(lines[0], 'ID   REASON');
  t.equal(lines[1], 'r1   short');
  t.notOk(out.includes('\u001b'), 'an escape sequence in user text never reaches the terminal');
  t.equal(lines[2], 'r22  evil [2Jtext');
  t.equal(table(['A'], [['x'.repeat(100)]], 10).split('\n')[1], `${'x'.repeat(9)}…`, 'long cells are clipped');
  t.equal(fields([['subject', 'alice'], ['kind', 'user']]), 'subject: alice\nkind:    user');
  t.end();
});
