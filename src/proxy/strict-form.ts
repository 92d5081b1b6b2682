// Form bodies (application/x-www-form-urlencoded) the policy judges must be read the way every
// upstream reads them. Servers disagree on much of the format, so what they disagree on is
// refused rather than guessed:
// - `;` as a separator (older Python and some Java servers split on it, others do not);
// - a repeated field (PHP keeps the last, Werkzeug the first, Express an array);
// - field names other than letters, digits, `_` and `-` after decoding: PHP turns `.` and
//   spaces into `_`, and PHP, Rails and qs build nested values from `[` and `]`
//   (`amount[]=1&amount=5000` is one field to the policy, another to the upstream);
// - NUL anywhere once decoded (C-based servers cut the text there);
// - more fields than PHP reads (max_input_vars, 1,000: it drops the rest silently).
// A body that is not valid percent-encoded UTF-8 is malformed: the policy gets no fields.

export type FormProblem = { kind: 'malformed' | 'ambiguous'; detail: string };

/** PHP's default max_input_vars: past it, PHP ignores the remaining fields. */
export const MAX_FORM_FIELDS = 1000;

const FIELD_NAME = /^[A-Za-z0-9_-]+$/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `+` as space, then %XX escapes as UTF-8; null when an escape or the UTF-8 is invalid. */
function decode(text: string): string | null {
  const spaced = text.replaceAll('+', ' ');
  if (!spaced.includes('%')) return spaced;
  if (/%(?![0-9A-Fa-f]{2})/.test(spaced)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < spaced.length;) {
    if (spaced.charCodeAt(i) === 0x25) {
      bytes.push(parseInt(spaced.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      // The body was decoded as UTF-8 already: a literal character goes back as its bytes.
      const cp = spaced.codePointAt(i) ?? 0;
      if (cp < 0x80) bytes.push(cp);
      else for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
      i += cp > 0xffff ? 2 : 1;
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

/** The fields of a form body every server reads the same way, or what is wrong with it. */
export function inspectForm(text: string): { fields: Record<string, string> } | FormProblem {
  if (text.includes(';')) return { kind: 'ambiguous', detail: 'a ";" in a form body: some servers split fields on it' };
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  const lowered = new Map<string, string>();
  let count = 0;
  for (const pair of text.split('&')) {
    // Empty pieces (`a=1&&b=2`, a trailing `&`) are skipped by every server.
    if (pair === '') continue;
    if (++count > MAX_FORM_FIELDS) return { kind: 'ambiguous', detail: `more than ${String(MAX_FORM_FIELDS)} form fields: some servers drop the rest` };
    const eq = pair.indexOf('=');
    const name = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    if (name === null || value === null) return { kind: 'malformed', detail: 'invalid percent-encoding or UTF-8 in a form field' };
    if (name.includes('\0') || value.includes('\0')) return { kind: 'ambiguous', detail: 'a NUL in a form field: some servers cut the text there' };
    if (!FIELD_NAME.test(name)) return { kind: 'ambiguous', detail: `form field name ${JSON.stringify(name)}: servers read names with other characters than letters, digits, "_" and "-" differently` };
    if (Object.hasOwn(fields, name)) return { kind: 'ambiguous', detail: `form field "${name}" is repeated` };
    // Names are ASCII here; servers that bind fields ignoring case (.NET) would read these as one.
    const folded = name.toLowerCase();
    const seen = lowered.get(folded);
    if (seen !== undefined) return { kind: 'ambiguous', detail: `form fields "${seen}" and "${name}" differ only in letter case` };
    lowered.set(folded, name);
    fields[name] = value;
  }
  return { fields };
}
