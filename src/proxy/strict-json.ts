// A body the policy judges must be the body the upstream acts on. JSON.parse accepts two
// kinds of text that other parsers read differently, so a policy could approve one reading
// while the upstream executes the other:
// - a repeated member name (`{"amount": 1, "amount": 1000}`): JSON.parse keeps the last,
//   many parsers keep the first;
// - a number a double cannot hold (`12345678901234567891`, `1e400`): the policy would see it
//   rounded (or as null) while the upstream reads the exact value.
// This scanner finds both (and any syntax error) before the body reaches the policy.

export type JsonProblem = { kind: 'malformed' | 'ambiguous'; detail: string };

/** How deeply a body may nest: deeper ones are not given to the policy (its parser recurses). */
export const MAX_JSON_DEPTH = 64;

/** ES2024's String.prototype.isWellFormed, which Node 20 has and the ES2023 lib does not declare. */
interface WellFormed { isWellFormed(): boolean }

class Problem extends Error {
  constructor(readonly problem: JsonProblem) {
    super(problem.detail);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// A JSON string: no raw control characters, only JSON's escapes.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * The decimal value of a JSON number written one way: significant digits and the position of
 * the decimal point, so `1.50`, `15e-1` and `0.15e1` come out the same.
 */
function decimalValue(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return text;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  let point = (m[2] ?? '').length + Number(m[4] ?? '0');
  let start = 0;
  while (start < digits.length && digits[start] === '0') {
    start++;
    point--;
  }
  let end = digits.length;
  while (end > start && digits[end - 1] === '0') end--;
  if (start === end) return '0';
  return `${m[1] ?? ''}${digits.slice(start, end)}e${String(point)}`;
}

/** Whether JSON.parse, and JSON.stringify after it, keep this number's exact value. */
export function numberSurvives(text: string): boolean {
  // A double holds every decimal of up to 15 significant digits (DBL_DIG) in its normal range.
  if (text.length <= 15 && !/[eE]/.test(text)) return true;
  const value = Number(text);
  return Number.isFinite(value) && decimalValue(String(value).replace('e+', 'e')) === decimalValue(text);
}

/** Null when `text` is one JSON value that every parser reads the same way; else what is wrong with it. */
export function inspectJson(text: string): JsonProblem | null {
  let at = 0;
  const fail = (kind: JsonProblem['kind'], detail: string): never => {
    throw new Problem({ kind, detail });
  };
  const space = (): void => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      at++;
    }
  };
  const token = (re: RegExp, what: string): string => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) fail('malformed', `${what} expected at offset ${String(at)}`);
    at = re.lastIndex;
    return (m as RegExpExecArray)[0];
  };
  /** The string at `at`, decoded (member names are compared decoded: `"a"` repeats `"\\u0061"`). */
  const stringAt = (what: string): string => {
    const quoted = token(STRING, what);
    if (!quoted.includes('\\')) return quoted.slice(1, -1);
    const decoded = JSON.parse(quoted) as string;
    // An escaped half of a surrogate pair: parsers disagree on what it becomes.
    if (!(decoded as unknown as WellFormed).isWellFormed()) fail('ambiguous', 'a string holds half of a UTF-16 surrogate pair');
    return decoded;
  };
  const value = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) fail('malformed', `nested deeper than ${String(MAX_JSON_DEPTH)} levels`);
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const names = new Set<string>();
      space();
      if (text[at] === '}') { at++; return; }
      for (;;) {
        space();
        const name = stringAt('a member name');
        if (names.has(name)) fail('ambiguous', `the member name ${JSON.stringify(name)} appears twice in one object`);
        names.add(name);
        space();
        if (text[at] !== ':') fail('malformed', `':' expected at offset ${String(at)}`);
        at++;
        value(depth + 1);
        space();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === '}') { at++; return; }
        fail('malformed', `',' or '}' expected at offset ${String(at)}`);
      }
    }
    if (c === '[') {
      at++;
      space();
      if (text[at] === ']') { at++; return; }
      for (;;) {
        value(depth + 1);
        space();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === ']') { at++; return; }
        fail('malformed', `',' or ']' expected at offset ${String(at)}`);
      }
    }
    if (c === '"') {
      stringAt('a string');
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, at)) { at += literal.length; return; }
    }
    const number = token(NUMBER, 'a value');
    if (!numberSurvives(number)) fail('ambiguous', `the number ${number.length > 40 ? `${number.slice(0, 40)}...` : number} cannot be read exactly`);
  };
  try {
    value(1);
    space();
    if (at !== text.length) fail('malformed', `unexpected text at offset ${String(at)}`);
    return null;
  } catch (err) {
    if (err instanceof Problem) return err.problem;
    throw err;
  }
}
