import t from 'tap';
import { readFileSync } from 'node:fs';
import { fields, formatDuration, formatTime, relative, table } from '../../src/cli/format.js';
import { nonAsciiNote } from '../../src/shown-name.js';

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

t.test('nonAsciiNote: every character outside ASCII is named, with its script and code point', (t) => {
  t.equal(nonAsciiNote('alice'), null, 'an ASCII name has none');
  t.equal(nonAsciiNote('\u0430lice'), '[non-ASCII: Cyrillic U+0430]');
  t.equal(nonAsciiNote('\u0430\u0440\u0435'), '[non-ASCII: Cyrillic U+0430 U+0440 U+0435]', 'a name wholly in Cyrillic that reads as ape');
  t.equal(nonAsciiNote('\u13aal\u03b9ce'), '[non-ASCII: Cherokee U+13AA, Greek U+03B9]');
  t.equal(nonAsciiNote('\uff41lice'), '[non-ASCII: Latin U+FF41]', 'a fullwidth a');
  t.equal(nonAsciiNote('\u{1d41a}lice'), '[non-ASCII: other U+1D41A]', 'a mathematical bold a');
  t.equal(nonAsciiNote('\u0561lice'), '[non-ASCII: Armenian U+0561]');
  t.equal(nonAsciiNote('INC-7\u200b'), '[non-ASCII: other U+200B]', 'an invisible character too');
  t.equal(nonAsciiNote('\u0434\u043c\u0438\u0442\u0440\u0438\u0439 \u0438\u0432\u0430\u043d\u043e\u0432'),
    '[non-ASCII: Cyrillic U+0434 U+043C U+0438 U+0442 U+0440 U+0439 U+0432 U+0430 …]', 'each once, at most eight');
  // The console names scripts from the same list (src/console/static/console.js).
  const console = readFileSync(new URL('../../src/console/static/console.js', import.meta.url), 'utf8');
  const cli = readFileSync(new URL('../../src/shown-name.ts', import.meta.url), 'utf8');
  const list = (text: string): string[] => {
    const literal = /const SCRIPTS[^=]*= \[([^\]]*)\]/.exec(text)?.[1] ?? '';
    return [...literal.matchAll(/'([^']+)'/g)].map((m) => m[1] ?? '');
  };
  t.same(list(console), list(cli), 'the console and the CLI name the same scripts');
  t.ok(list(cli).includes('Cherokee'));
  t.end();
});
