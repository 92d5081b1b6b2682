// A body the policy judges must be the body the upstream acts on. JSON.parse accepts text
// that other parsers read differently, so a policy could approve one reading while the
// upstream executes the other:
// - a repeated member name (`{"amount": 1, "amount": 1000}`): JSON.parse keeps the last,
//   many parsers keep the first;
// - a number a double cannot hold (`12345678901234567891`, `1e400`): the policy would see it
//   rounded (or as null) while the upstream reads the exact value;
// - an escaped half of a surrogate pair (`"\ud800"`): kept, replaced or refused, by parser;
// - member names that differ only in letter case (`{"amount": 1, "AMOUNT": 1000}`): Go's
//   encoding/json (and .NET's default) match struct fields ignoring case, and keep the last;
// - an escaped NUL (`"admin\u0000x"`, `"amount\u0000"`): C-based parsers end the text there.
// This scanner finds those (and any syntax error) before the body reaches the policy.

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
  try {
    new Scanner(text).document();
    return null;
  } catch (err) {
    if (err instanceof Problem) return err.problem;
    throw err;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The characters JSON allows after a backslash, other than `u`. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const HEX4 = /^[0-9a-fA-F]{4}$/;

// Hand-written over char codes (a recursive descent): bodies are checked on the data path.
class Scanner {
  #at = 0;

  constructor(private readonly text: string) {}

  document(): void {
    this.#value(1);
    this.#space();
    if (this.#at !== this.text.length) this.#fail('malformed', `unexpected text at offset ${String(this.#at)}`);
  }

  #fail(kind: JsonProblem['kind'], detail: string): never {
    throw new Problem({ kind, detail });
  }

  #space(): void {
    const text = this.text;
    let at = this.#at;
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      at++;
    }
    this.#at = at;
  }

  /** Consumes `char` (after spaces) or fails naming what was expected. */
  #expect(char: number, what: string): void {
    this.#space();
    if (this.text.charCodeAt(this.#at) !== char) this.#fail('malformed', `${what} expected at offset ${String(this.#at)}`);
    this.#at++;
  }

  /**
   * The string at the cursor. Its decoded text when `decode` (member names are compared
   * decoded: `"a"` repeats `"\u0061"`), else the empty string.
   */
  #string(decode: boolean): string {
    const text = this.text;
    const start = this.#at;
    if (text.charCodeAt(start) !== QUOTE) this.#fail('malformed', `a string expected at offset ${String(start)}`);
    let at = start + 1;
    let unicodeEscape = false;
    let escaped = false;
    for (;;) {
      if (at >= text.length) this.#fail('malformed', `unterminated string at offset ${String(start)}`);
      const c = text.charCodeAt(at);
      if (c === QUOTE) break;
      if (c < 0x20) this.#fail('malformed', `a control character in a string at offset ${String(at)}`);
      if (c === BACKSLASH) {
        escaped = true;
        const e = text.charCodeAt(at + 1);
        if (e === 0x75) {
          if (!HEX4.test(text.slice(at + 2, at + 6))) this.#fail('malformed', `a bad \\u escape at offset ${String(at)}`);
          unicodeEscape = true;
          at += 6;
          continue;
        }
        if (!SIMPLE_ESCAPES.has(e)) this.#fail('malformed', `a bad escape at offset ${String(at)}`);
        at += 2;
        continue;
      }
      at++;
    }
    this.#at = at + 1;
    if (!escaped) return decode ? text.slice(start + 1, at) : '';
    if (!decode && !unicodeEscape) return '';
    const decoded = JSON.parse(text.slice(start, at + 1)) as string;
    // An escaped half of a surrogate pair: parsers disagree on what it becomes.
    if (unicodeEscape && !(decoded as unknown as WellFormed).isWellFormed()) this.#fail('ambiguous', 'a string holds half of a UTF-16 surrogate pair');
    if (unicodeEscape && decoded.includes('\0')) this.#fail('ambiguous', 'a string holds an escaped NUL (C-based parsers end the text there)');
    return decoded;
  }

  #literal(word: string): void {
    if (!this.text.startsWith(word, this.#at)) this.#fail('malformed', `a value expected at offset ${String(this.#at)}`);
    this.#at += word.length;
  }

  #number(): void {
    NUMBER.lastIndex = this.#at;
    const m = NUMBER.exec(this.text);
    if (!m) this.#fail('malformed', `a value expected at offset ${String(this.#at)}`);
    const number = m[0];
    this.#at += number.length;
    if (!numberSurvives(number)) this.#fail('ambiguous', `the number ${number.length > 40 ? `${number.slice(0, 40)}...` : number} cannot be read exactly`);
  }

  #value(depth: number): void {
    if (depth > MAX_JSON_DEPTH) this.#fail('malformed', `nested deeper than ${String(MAX_JSON_DEPTH)} levels`);
    this.#space();
    switch (this.text.charCodeAt(this.#at)) {
      case 0x7b: this.#object(depth); return;
      case 0x5b: this.#array(depth); return;
      case QUOTE: this.#string(false); return;
      case 0x74: this.#literal('true'); return;
      case 0x66: this.#literal('false'); return;
      case 0x6e: this.#literal('null'); return;
      default: this.#number();
    }
  }

  #object(depth: number): void {
    this.#at++;
    this.#space();
    if (this.text.charCodeAt(this.#at) === 0x7d) { this.#at++; return; }
    /** Each name as a case-insensitive matcher sees it, and the name as written. */
    const names = new Map<string, string>();
    for (;;) {
      this.#space();
      const name = this.#string(true);
      // Upper- then lower-cased: folds as Go's EqualFold does, `ſ` and the Kelvin sign included.
      const folded = name.toUpperCase().toLowerCase();
      const seen = names.get(folded);
      if (seen === name) this.#fail('ambiguous', `the member name ${JSON.stringify(name)} appears twice in one object`);
      if (seen !== undefined) this.#fail('ambiguous', `the member names ${JSON.stringify(seen)} and ${JSON.stringify(name)} differ only in letter case (Go's parser reads them as one)`);
      names.set(folded, name);
      this.#expect(0x3a, "':'");
      this.#value(depth + 1);
      this.#space();
      const c = this.text.charCodeAt(this.#at++);
      if (c === 0x2c) continue;
      if (c === 0x7d) return;
      this.#fail('malformed', `',' or '}' expected at offset ${String(this.#at - 1)}`);
    }
  }

  #array(depth: number): void {
    this.#at++;
    this.#space();
    if (this.text.charCodeAt(this.#at) === 0x5d) { this.#at++; return; }
    for (;;) {
      this.#value(depth + 1);
      this.#space();
      const c = this.text.charCodeAt(this.#at++);
      if (c === 0x2c) continue;
      if (c === 0x5d) return;
      this.#fail('malformed', `',' or ']' expected at offset ${String(this.#at - 1)}`);
    }
  }
}
