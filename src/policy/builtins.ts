// Builtins that OPA's WebAssembly target and the opa-wasm SDK do not implement, supplied
// as synchronous host functions. Each mirrors OPA's Go implementation (topdown) and is
// checked against `opa eval` by test/policy/builtins.test.ts. A builtin that throws makes
// OPA's non-strict semantics: a builtin given bad operands is undefined (the expression
// fails, the rule does not fire), exactly as `opa eval`/`opa test` behave by default.

/** The instant `time.now_ns` returns; set once per decision so every call in it agrees. */
export interface DecisionClock {
  now_ns: number;
}

type Builtin = (...args: unknown[]) => unknown;

const NS_PER_SECOND = 1_000_000_000;
const NS_PER_MS = 1_000_000;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function fail(name: string, message: string): never {
  throw new Error(`${name}: ${message}`);
}

function requireNumber(name: string, value: unknown, position: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(name, `operand ${position} must be number`);
  return value;
}

function requireInteger(name: string, value: unknown, position: number): number {
  const n = requireNumber(name, value, position);
  if (!Number.isInteger(n)) fail(name, `operand ${position} must be integer number but got floating-point number`);
  return n;
}

function requireString(name: string, value: unknown, position: number): string {
  if (typeof value !== 'string') fail(name, `operand ${position} must be string`);
  return value;
}

// --- time zones ------------------------------------------------------------------------

interface Civil {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(name: string, zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
        era: 'short',
      });
    } catch {
      fail(name, `unknown time zone ${zone}`);
    }
    // Go finds a zone by its file name, case and all; Intl folds case (`utc` is UTC to it). A
    // name that is its canonical name in another case is refused as Go refuses it. (An alias,
    // `US/Eastern`, resolves to another name altogether and is kept.)
    const canonical = formatter.resolvedOptions().timeZone;
    if (canonical !== zone && canonical.toLowerCase() === zone.toLowerCase()) fail(name, `unknown time zone ${zone}`);
    formatters.set(zone, formatter);
  }
  return formatter;
}

const SHORT_WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Splits an instant (whole seconds since the epoch) into civil fields in a zone. */
function civilIn(name: string, seconds: number, zone: string): Civil {
  if (zone === 'UTC' || zone === '') {
    const d = new Date(seconds * 1000);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
    };
  }
  const parts: Record<string, string> = {};
  for (const part of zoneFormatter(name, zone === 'Local' ? localZone() : zone).formatToParts(new Date(seconds * 1000))) {
    parts[part.type] = part.value;
  }
  const year = Number(parts.year);
  return {
    year: parts.era === 'BC' ? 1 - year : year,
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: SHORT_WEEKDAYS[parts.weekday ?? ''] ?? 0,
  };
}

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** OPA accepts `ns` or `[ns, zone]` wherever a time is expected. */
function timeOperand(name: string, value: unknown): { ns: number; zone: string } {
  if (typeof value === 'number') return { ns: requireInteger(name, value, 1), zone: 'UTC' };
  if (Array.isArray(value) && (value.length === 1 || value.length === 2)) {
    const ns = requireInteger(name, value[0], 1);
    const zone = value.length === 2 ? requireString(name, value[1], 1) : 'UTC';
    return { ns, zone };
  }
  return fail(name, 'operand 1 must be one of {number, array}');
}

function floorSeconds(ns: number): number {
  return Math.floor(ns / NS_PER_SECOND);
}

// --- RFC 3339 --------------------------------------------------------------------------

// As Go's time.Parse reads it (OPA's parser): a `.` or `,` before the fraction, any number of
// fraction digits (those past nine ignored), and an offset hour up to 24.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function parseRfc3339(name: string, text: string): number {
  const m = RFC3339.exec(text);
  if (!m) fail(name, `parsing time "${text}" as RFC 3339 failed`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    fail(name, `parsing time "${text}": value out of range`);
  }
  let offsetSeconds = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 24 || om > 59) fail(name, `parsing time "${text}": time zone offset out of range`);
    offsetSeconds = (m[9] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  // setUTCFullYear, because Date.UTC maps years 0-99 to 1900-1999.
  date.setUTCFullYear(year);
  const ms = date.getTime();
  const fraction = (m[7] ?? '').slice(0, 9).padEnd(9, '0');
  // BigInt keeps the arithmetic exact; the result is then the closest double, as JSON
  // carries it. Go's int64 range bounds what OPA accepts.
  const ns = BigInt(ms / 1000 - offsetSeconds) * 1_000_000_000n + BigInt(fraction);
  if (ns > 9_223_372_036_854_775_807n || ns < -9_223_372_036_854_775_808n) {
    fail(name, 'time outside of valid range');
  }
  return Number(ns);
}

// --- Go durations ----------------------------------------------------------------------

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  // OPA's parser goes beyond Go's time.ParseDuration with days, weeks and 365-day years.
  d: 86400e9,
  w: 7 * 86400e9,
  y: 365 * 86400e9,
};

/** Go's time.ParseDuration: e.g. "1h30m", "-1.5s", "300ms". */
function parseGoDuration(name: string, text: string): number {
  const bad = (): never => fail(name, `time: invalid duration "${text}"`);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') bad();
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h|d|w|y)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
      if (m === null && /^[\d.]+$/.test(rest)) fail(name, `time: missing unit in duration "${text}"`);
      return bad();
    }
    const unit = DURATION_UNITS[m[3] ?? ''] ?? bad();
    total += Number(m[1] || '0') * unit + (m[2] ? Math.floor(Number(`0.${m[2]}`) * unit) : 0);
    rest = rest.slice(m[0].length);
  }
  if (total > 2 ** 63) fail(name, `time: invalid duration "${text}"`);
  return sign * total;
}

// --- units -----------------------------------------------------------------------------

const UNIT_MULTIPLIERS: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  K: 1e3,
  ki: 2 ** 10,
  Ki: 2 ** 10,
  M: 1e6,
  mi: 2 ** 20,
  Mi: 2 ** 20,
  g: 1e9,
  G: 1e9,
  gi: 2 ** 30,
  Gi: 2 ** 30,
  t: 1e12,
  T: 1e12,
  ti: 2 ** 40,
  Ti: 2 ** 40,
  p: 1e15,
  P: 1e15,
  pi: 2 ** 50,
  Pi: 2 ** 50,
  e: 1e18,
  E: 1e18,
  ei: 2 ** 60,
  Ei: 2 ** 60,
};

function splitUnits(name: string, raw: string, what: string): [number, string] {
  const text = raw.replace(/"/g, '');
  if (/\s/.test(text)) fail(name, `spaces not allowed in resource strings`);
  // An exponent needs digits: "1e3" is 1000, but "1e" is one exa.
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(.*)$/.exec(text);
  const num = m?.[1] ?? '';
  if (num === '') fail(name, `no amount provided`);
  const value = Number(num);
  if (!Number.isFinite(value)) fail(name, `could not parse amount to a number`);
  return [value, m?.[2] ?? what];
}

function unitsParse(name: string, raw: string): number {
  const [value, suffix] = splitUnits(name, raw, '');
  // OPA: a lone "m" means milli; every other suffix is case-insensitive except m/M.
  const key = suffix === 'm' || suffix === 'M' ? suffix : suffix.length === 0 ? '' : normalizeUnit(suffix);
  const multiplier = UNIT_MULTIPLIERS[key];
  if (multiplier === undefined) fail(name, `unknown unit ${suffix}`);
  return value * multiplier;
}

function normalizeUnit(suffix: string): string {
  const lower = suffix.toLowerCase();
  if (lower.length === 1) return lower.toUpperCase() === 'K' ? 'k' : lower.toUpperCase();
  if (lower.length === 2 && lower.endsWith('i')) return `${lower[0]?.toUpperCase() ?? ''}i`;
  return suffix;
}

function unitsParseBytes(name: string, raw: string): number {
  const [value, rawSuffix] = splitUnits(name, raw, '');
  // OPA takes `kb`, `KiB` and the like, and no unit at all, but not a bare `b`.
  if (rawSuffix.toLowerCase() === 'b') fail(name, `unknown unit ${rawSuffix}`);
  const suffix = rawSuffix.toLowerCase().replace(/b$/, '');
  const key = suffix.length === 0 ? '' : suffix.length === 1 ? (suffix === 'k' ? 'k' : suffix.toUpperCase()) : `${suffix[0]?.toUpperCase() ?? ''}${suffix.slice(1)}`;
  const multiplier = UNIT_MULTIPLIERS[key];
  if (multiplier === undefined || key === 'm') fail(name, `unknown unit ${rawSuffix}`);
  // Bytes are whole: Go truncates the product to an integer.
  return Math.trunc(value * multiplier);
}

// --- the table -------------------------------------------------------------------------

/**
 * Builds the custom builtins; `clock` is read by `time.now_ns`. Each must be a pure function of
 * its arguments (time.now_ns of the decision's input): the decision memo (decision-memo.ts)
 * hands an input's earlier result to the same input, so a builtin that could answer otherwise
 * the second time would make the memo wrong.
 */
export function customBuiltins(clock: DecisionClock): Record<string, Builtin> {
  const table = implementations(clock);
  const wrapped: Record<string, Builtin> = {};
  for (const [name, impl] of Object.entries(table)) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return impl(...args);
      } catch {
        // undefined becomes Rego's undefined (the SDK passes address 0 back).
        return undefined;
      }
    };
  }
  return wrapped;
}

/** Throwing versions, for tests that check the error messages. */
export function implementations(clock: DecisionClock): Record<string, Builtin> {
  return {
    'time.now_ns': () => clock.now_ns,
    'time.parse_rfc3339_ns': (value) => parseRfc3339('time.parse_rfc3339_ns', requireString('time.parse_rfc3339_ns', value, 1)),
    'time.parse_duration_ns': (value) =>
      parseGoDuration('time.parse_duration_ns', requireString('time.parse_duration_ns', value, 1)),
    'time.date': (value) => {
      const { ns, zone } = timeOperand('time.date', value);
      const c = civilIn('time.date', floorSeconds(ns), zone);
      return [c.year, c.month, c.day];
    },
    'time.clock': (value) => {
      const { ns, zone } = timeOperand('time.clock', value);
      const c = civilIn('time.clock', floorSeconds(ns), zone);
      return [c.hour, c.minute, c.second];
    },
    'time.weekday': (value) => {
      const { ns, zone } = timeOperand('time.weekday', value);
      return WEEKDAYS[civilIn('time.weekday', floorSeconds(ns), zone).weekday];
    },
    'time.add_date': (value, years, months, days) => {
      const name = 'time.add_date';
      const ns = requireInteger(name, value, 1);
      const y = requireInteger(name, years, 2);
      const mo = requireInteger(name, months, 3);
      const d = requireInteger(name, days, 4);
      const seconds = floorSeconds(ns);
      const subSecondNs = ns - seconds * NS_PER_SECOND;
      const t = new Date(seconds * 1000);
      // setUTCFullYear normalises overflowing months and days exactly as Go's time.Date does
      // (Date.UTC would too, but maps years 0-99 to 1900-1999).
      const date = new Date(0);
      date.setUTCFullYear(t.getUTCFullYear() + y, t.getUTCMonth() + mo, t.getUTCDate() + d);
      date.setUTCHours(t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds(), 0);
      const ms = date.getTime();
      const result = ms * NS_PER_MS + subSecondNs;
      // Go works in int64 nanoseconds: a result outside that range is an error in OPA.
      if (Number.isNaN(ms) || result >= 2 ** 63 || result < -(2 ** 63)) fail(name, 'time outside of valid range');
      return result;
    },
    'time.diff': (a, b) => {
      const name = 'time.diff';
      let first = timeOperand(name, a);
      // Go: the second instant is read in the first's zone, then the earlier one comes first
      // (the result is never negative).
      let second = { ...timeOperand(name, b), zone: first.zone };
      if (first.ns > second.ns) [first, second] = [second, first];
      const s = civilIn(name, floorSeconds(first.ns), first.zone);
      const e = civilIn(name, floorSeconds(second.ns), second.zone);
      let year = e.year - s.year;
      let month = e.month - s.month;
      let day = e.day - s.day;
      let hour = e.hour - s.hour;
      let min = e.minute - s.minute;
      let sec = e.second - s.second;
      if (sec < 0) { sec += 60; min--; }
      if (min < 0) { min += 60; hour--; }
      if (hour < 0) { hour += 24; day--; }
      if (day < 0) {
        day += daysInMonth(s.year, s.month);
        month--;
      }
      if (month < 0) { month += 12; year--; }
      return [year, month, day, hour, min, sec];
    },
    'units.parse': (value) => unitsParse('units.parse', requireString('units.parse', value, 1)),
    'units.parse_bytes': (value) => unitsParseBytes('units.parse_bytes', requireString('units.parse_bytes', value, 1)),
    'strings.any_prefix_match': (search, base) => anyMatch('strings.any_prefix_match', search, base, (s, b) => s.startsWith(b)),
    'strings.any_suffix_match': (search, base) => anyMatch('strings.any_suffix_match', search, base, (s, b) => s.endsWith(b)),
    'strings.count': (search, substring) => {
      const s = requireString('strings.count', search, 1);
      const sub = requireString('strings.count', substring, 2);
      // Go's strings.Count: an empty substring counts code points + 1.
      if (sub === '') return Array.from(s).length + 1;
      return s.split(sub).length - 1;
    },
  };
}

function stringList(name: string, value: unknown, position: number): string[] {
  if (typeof value === 'string') return [value];
  // Sets arrive from the wasm module as JSON arrays.
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  return fail(name, `operand ${position} must be one of {string, set, array}`);
}

function anyMatch(name: string, search: unknown, base: unknown, match: (s: string, b: string) => boolean): boolean {
  const searches = stringList(name, search, 1);
  const bases = stringList(name, base, 2);
  return searches.some((s) => bases.some((b) => match(s, b)));
}

/** Names of the builtins above (without building the closures). */
export const CUSTOM_BUILTIN_NAMES: readonly string[] = Object.keys(customBuiltins({ now_ns: 0 })).sort();

/** Builtins the opa-wasm SDK implements in JavaScript (src/builtins/*.js of 1.10.0); they take precedence over ours. All are pure, as above. */
export const SDK_BUILTIN_NAMES: readonly string[] = [
  'json.is_valid',
  'regex.split',
  'sprintf',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
];
