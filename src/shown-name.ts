// A name (subject id, group, role, ticket, scope path) as people are shown it: by the CLI, in
// chat messages, and (in its own copy, src/console/static/console.js) by the web console. Every
// character outside ASCII is named with its script and code point, so that `аlice` (Cyrillic а)
// cannot pass for alice wherever an approver reads it.

/**
 * Scripts the note names. Every character outside ASCII is noted whatever its script: this
 * list only names them, and a script not in it is "other".
 */
const SCRIPTS: readonly (readonly [string, RegExp])[] = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Cherokee', 'Coptic', 'Georgian', 'Lisu', 'Canadian_Aboriginal',
  'Arabic', 'Hebrew', 'Devanagari', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Thai',
].map((name) => [name.replace('_', ' '), new RegExp(`\\p{Script=${name}}`, 'u')] as const);
/** Code points a note lists before it says that more follow. */
const NOTE_MAX = 8;

/**
 * `[non-ASCII: Cyrillic U+0430]` for a name holding characters outside ASCII; null for an
 * ASCII one. `аlice` (Cyrillic а, U+0430), `alіce` (U+0456) and `аре` (all Cyrillic) show in a
 * terminal as alice and ape, and the policy, the store and the data path take each for someone
 * else. Which letters look like which is Unicode's confusables data, which Node does not carry,
 * so every character outside ASCII is noted, with its code point, as the console marks it
 * (src/console/static/console.js): the name itself is shown as written, readable in any script.
 */
export function nonAsciiNote(name: string): string | null {
  const byScript = new Map<string, string[]>();
  let count = 0;
  for (const ch of new Set(name)) {
    if (ch <= '\u007e') continue;
    count += 1;
    if (count > NOTE_MAX) continue;
    const script = SCRIPTS.find(([, re]) => re.test(ch))?.[0] ?? 'other';
    byScript.set(script, [...(byScript.get(script) ?? []), `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`]);
  }
  if (count === 0) return null;
  const listed = [...byScript].map(([script, codes]) => `${script} ${codes.join(' ')}`).join(', ');
  return `[non-ASCII: ${listed}${count > NOTE_MAX ? ' …' : ''}]`;
}
