// What a subject id may hold, wherever one comes from (a JWT claim, an API key's or a workload
// certificate's configured subject, the development issuer). An id is a name: it is stored
// (NUL cannot be, in PostgreSQL text), logged, audited and shown in terminals and the console,
// where a control character or a line or paragraph separator would forge line breaks or drive
// the terminal.

/** C0 controls, DEL, C1 controls, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR. */
const FORBIDDEN = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029';

/** The same rule as a JSON Schema `pattern` (ajv compiles it with the `u` flag). */
export const SUBJECT_ID_PATTERN = `^[^${FORBIDDEN}]+$`;

const FORBIDDEN_CHAR = new RegExp(`[${FORBIDDEN}]`, 'u');

/** Whether `text` holds a character no subject id may hold. */
export function hasControl(text: string): boolean {
  return FORBIDDEN_CHAR.test(text);
}

/** What the refusal says of an id that holds one. */
export const SUBJECT_ID_RULE = 'holds control characters or line separators';
