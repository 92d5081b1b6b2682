// What a subject id or a group name may hold, wherever one comes from (a JWT claim, an API key's
// or a workload certificate's configured subject, the development issuer). An id is a name: it
// is stored (NUL cannot be, in PostgreSQL text), logged, audited and shown in terminals, chat and
// the console, where a control character or a line or paragraph separator would forge line
// breaks or drive the terminal, and an invisible or reordering character would make two
// different subjects look like one person: `alice\u200b` (zero-width space) is not `alice` to the
// policy, the grant store or the self-approval check, yet every table shows them alike.
import { jitgateError } from '../errors.js';

/** C0 controls, DEL, C1 controls, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR. */
const CONTROLS = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029';

/**
 * Unicode's Default_Ignorable_Code_Point (rendered as nothing: zero-width spaces and joiners,
 * word joiner, BOM, soft hyphen, variation selectors, Hangul fillers, tags, ...) and Bidi_Control
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069: they reorder what follows). Spelled
 * out rather than `\p{...}` so the JSON Schema pattern means the same to any reader of it; a test
 * holds it equal to the properties.
 */
const INVISIBLE =
  '\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u202a-\\u202e' +
  '\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufff8' +
  '\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0000}-\\u{e0fff}';

/** The same rule as a JSON Schema `pattern` (ajv compiles it with the `u` flag). */
export const SUBJECT_ID_PATTERN = `^[^${CONTROLS}${INVISIBLE}]+$`;

// The class holds combining marks and joiners on purpose, each to be matched on its own.
// eslint-disable-next-line no-misleading-character-class
const FORBIDDEN_CHAR = new RegExp(`[${CONTROLS}${INVISIBLE}]`, 'u');
// eslint-disable-next-line no-misleading-character-class
const FORBIDDEN_CHARS = new RegExp(`[${CONTROLS}${INVISIBLE}]`, 'gu');

/** The first character no subject id or group name may hold, as `U+200B`; null when there is none. */
export function forbiddenCharIn(text: string): string | null {
  const found = FORBIDDEN_CHAR.exec(text)?.[0];
  return found === undefined ? null : `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** What the refusal says of an id that holds one. */
export const SUBJECT_ID_RULE = 'holds a control, invisible or bidirectional-control character';

/**
 * Refuses (VALIDATION) a subject or group typed for a credential (`jitgate token`, `jitgate
 * apikey`) that the gateway would refuse: said where it was typed, and before anything else is
 * said of it, so no message echoes the id with the character in it.
 */
export function checkIdentityNames(sub: string, groups: readonly string[] = []): void {
  if (sub === '') throw jitgateError('VALIDATION', 'subject is empty');
  const unfit = forbiddenCharIn(sub);
  if (unfit !== null) throw jitgateError('VALIDATION', `subject ${SUBJECT_ID_RULE} (${unfit})`);
  for (const g of groups) {
    const unfitGroup = forbiddenCharIn(g);
    if (unfitGroup !== null) throw jitgateError('VALIDATION', `a group ${SUBJECT_ID_RULE} (${unfitGroup})`);
  }
}

/**
 * The form in which two ids that may name the same person are equal: without the characters no
 * id may hold now (ids stored before the rule have them), in NFKC, trimmed and in lower case. For
 * what forbids (approving one's own request), never for what grants: the data path matches ids
 * exactly. Stripped before NFKC, since an invisible character between a letter and its accent
 * keeps them from composing, and after, since NFKC maps some fillers onto others.
 */
export function lookalikeKey(id: string): string {
  return id.replace(FORBIDDEN_CHARS, '').normalize('NFKC').replace(FORBIDDEN_CHARS, '').trim().toLowerCase();
}

const LATIN_LETTER = /^(?=\p{L})\p{Script=Latin}$/u;
const OTHER_LETTER = /^(?=\p{L})\P{Script=Latin}$/u;
// A Latin letter's accents, after NFD: `ạlice` (a with dot below) reads as alice at a glance.
const LATIN_ACCENTS = /(\p{Script=Latin})\p{M}+/gu;

/** An id as maybeSameId compares it: lookalikeKey, then Latin letters without their accents, as code points. */
function folded(id: string): string[] {
  // Code points, not graphemes: a letter and what follows it are compared one by one.
  return Array.from(lookalikeKey(id).normalize('NFD').replace(LATIN_ACCENTS, '$1').normalize('NFC'));
}

/**
 * Letters where `id` mixes Latin letters with letters of another script: `аlice` (Cyrillic а,
 * U+0430) or `alіce` (U+0456). No name written in one script does that (UTS #39 restriction
 * levels refuse it), but a spoof of a Latin name does, since it needs the Latin letters that
 * have no look-alike. Such a letter may stand for any Latin one: which Latin letter each
 * Cyrillic, Greek, Armenian or Cherokee letter resembles is Unicode's confusables data (TR39),
 * which Node does not carry, and a hand-copied table of it would be partial without saying so.
 */
function standIns(chars: readonly string[]): Set<number> {
  const at = new Set<number>();
  if (!chars.some((c) => LATIN_LETTER.test(c))) return at;
  chars.forEach((c, i) => {
    if (OTHER_LETTER.test(c)) at.add(i);
  });
  return at;
}

/**
 * Whether two ids may name the same person, for what forbids (approving or reviewing one's own
 * access, counting one approver twice), never for what grants. Equal under lookalikeKey and
 * without the accents of Latin letters; or, where one mixes scripts (see standIns), equal letter
 * for letter with its other-script letters standing for any Latin one: `аlice` is maybe alice.
 * An id written wholly in another script (`аре`, all Cyrillic, which reads as `ape`) is taken
 * to be itself: without the confusables data, taking any such letter for any Latin one would
 * make every Cyrillic name of four letters maybe the same person as every Latin one. There the
 * defence is what approvers see: the console and the CLI mark every letter outside ASCII.
 */
export function maybeSameId(a: string, b: string): boolean {
  const [x, y] = [folded(a), folded(b)];
  if (x.length !== y.length) return false;
  const [wildX, wildY] = [standIns(x), standIns(y)];
  return x.every((c, i) => {
    const d = y[i] ?? '';
    if (c === d) return true;
    return (wildX.has(i) && (LATIN_LETTER.test(d) || wildY.has(i))) || (wildY.has(i) && LATIN_LETTER.test(c));
  });
}
