// What the CLI writes to a terminal. Much of it is text from the server (a reason is user text,
// an error message or a cursor is whatever answered at --url), and a terminal obeys what it is
// sent: an escape sequence can erase the line an approver reads or rewrite it, set the window
// title or put a command in the clipboard (OSC 52). So no text from the server reaches the
// terminal with the characters that drive it (C0 and C1 controls), break a row in two (U+2028,
// U+2029) or reorder what is shown (bidi overrides and isolates U+202A..U+202E, U+2066..U+2069,
// and the marks U+200E, U+200F, U+061C: "Trojan Source"). The chat notifier blanks the same set.
import { nonAsciiNote } from '../shown-name.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

// JSON.stringify already writes U+0000..U+001F inside strings as escapes; these it leaves raw.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** One line of text as it may be shown: every unsafe character a space. */
export function printable(text: string): string {
  return text.replace(UNSAFE, ' ');
}

/** Several lines (a command's human output): the line breaks stay, everything else as printable(). */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/**
 * `value` as indented JSON whose text is safe to show: the unsafe characters JSON.stringify
 * leaves raw are written as \u escapes. They can only stand inside strings (JSON's own syntax is
 * ASCII), so a parser reads the very same value.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A name (subject, role, ticket, scope path) as it may be shown: printable(), then its nonAsciiNote. */
export function printableName(name: string): string {
  const note = nonAsciiNote(name);
  return note === null ? printable(name) : `${printable(name)} ${note}`;
}
