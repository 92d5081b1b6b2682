// jitgate's custom builtins (time.*, units.*, strings.*) against OPA's own Go
// implementations: the same cases through `opa eval` and through the wasm engine.
import t from 'tap';
import { join } from 'node:path';
import { engineEval, engineFor, FIXTURES, opaEvalMany, testOpa } from './helpers.js';

const dir = join(FIXTURES, 'policy-builtins');

// Deterministic pseudo-random generator, so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function cases(): Record<string, unknown[]> {
  const r = rng(7);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const zones = ['UTC', '', 'America/New_York', 'Europe/Paris', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Nope/Zone', 'utc', 'america/new_york', 'EUROPE/PARIS'];
  const rfc3339: unknown[] = ['bad', '2024-02-30T00:00:00Z', '2024-02-29T23:59:59Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59.999999999Z', '2026-11-29t02:00:00z', '2026-11-29T02:00:00+14:00', '2026-11-29T02:00:00-00:30', '2026-11-29 02:00:00Z', '2026-13-01T00:00:00Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-11-29T24:00:00Z', 42, '2020-01-01T00:00:00.1234567891Z', '2020-01-01T00:00:00.123456789123456Z', '2020-01-01T00:00:00,5Z', '2026-11-29T02:00:00+24:00', '2026-11-29T02:00:00-24:00', '2026-11-29T02:00:00+25:00', '2026-11-29T02:00:00.Z', '2026-11-29T02:00:00.5x9Z'];
  const times: unknown[] = [0, -1, -1_000_000_000, 1, 951_782_400_000_000_000, 'x', [0], [0, 'Nope/Zone']];
  const durations: unknown[] = ['1h30m', '-1.5s', '300ms', '1us', '1µs', '1.5h', '.5s', '1.s', 'x', '1', '', '0', '+2m', '1h1h', '2562047h', '1m30', '5d', 7];
  for (let i = 0; i < 120; i++) {
    const y = 1971 + Math.floor(r() * 130);
    const mo = 1 + Math.floor(r() * 12);
    const d = 1 + Math.floor(r() * 28);
    const frac = r() < 0.5 ? '' : `.${String(Math.floor(r() * 1e9)).slice(0, 1 + Math.floor(r() * 9))}`;
    const zone = pick(['Z', '+00:00', '+05:30', '-08:00', '+13:45']);
    rfc3339.push(`${y}-${pad(mo)}-${pad(d)}T${pad(Math.floor(r() * 24))}:${pad(Math.floor(r() * 60))}:${pad(Math.floor(r() * 60))}${frac}${zone}`);
    const seconds = Math.floor((r() - 0.3) * 4e9);
    times.push(seconds * 1e9);
    times.push([seconds * 1e9, pick(zones)]);
    durations.push(`${Math.floor(r() * 100)}${pick(['h', 'm', 's', 'ms', 'us', 'ns'])}${Math.floor(r() * 60)}${pick(['m', 's', 'ms'])}`);
  }
  const addDate: unknown[] = [[0, 1, 1, 1], [0, 0, 1, 30], [0, 0, 13, 0], [0, -1, -1, -1], [951_782_400_000_000_000, 1, 0, 0], ['x', 1, 1, 1], [0, 1.5, 0, 0], [0, -1900, 0, 0], [0, -1940, 0, 0], [0, -2000, 0, 0]];
  for (let i = 0; i < 60; i++) {
    addDate.push([Math.floor((r() - 0.3) * 4e9) * 1e9, Math.floor(r() * 10) - 3, Math.floor(r() * 30) - 10, Math.floor(r() * 90) - 30]);
  }
  const diff: unknown[] = [[0, 0], [0, 1_795_919_481_000_000_000], [1_795_919_481_000_000_000, 0],
    [[1_795_919_481_000_000_000, 'Asia/Tokyo'], [1_795_919_481_000_000_000 + 108_000e9, 'UTC']], [[1_795_919_481_000_000_000, 'UTC'], [1_795_919_481_000_000_000 - 108_000e9, 'Asia/Kolkata']],
    [[0, 'America/New_York'], [86_400e9 * 40, 'Pacific/Chatham']]];
  for (let i = 0; i < 60; i++) {
    diff.push([Math.floor(r() * 4e9) * 1e9, Math.floor(r() * 4e9) * 1e9]);
  }
  const units = ['10K', '10k', '1.5Mi', '5m', '5M', '1e3', '12G', '12g', '3Ti', '3ti', '1.5', '', 'abc', '"10K"', '1 K', '.5Ki', '7P', '7Ei', '2mi', '2Mi', 'K', '10KB', '0.1'];
  const bytes = ['10KB', '10kb', '1.5MiB', '5', '1GB', '10kib', '7Ti', '3mb', '3M', '1.5', 'B', 'x', '0.5KiB', '"10K"', '1 KB', '12e', '12EiB', '100b', '0.5B', '100B'];
  const prefix = [['abc', 'ab'], [['abc', 'x'], ['z', 'a']], ['', ''], ['a', []], [[], 'a'], [1, 'a']];
  const count = [['cheese', 'e'], ['abc', ''], ['ééé', ''], ['aaaa', 'aa'], ['', 'a'], [1, 'a']];
  const sprintf = [['%s-%d', ['a', 3]], ['%d%%', [50]], ['%s', ['ü']], ['%v', ['x']]];
  return { rfc3339, times, durations, add_date: addDate, diff, units, bytes, prefix, count, sprintf };
}

t.test('custom builtins agree with opa eval', async (t) => {
  const opa = await testOpa();
  const engine = await engineFor(opa, dir, ['builtins']);
  const input = { ...cases(), now_ns: 1_795_919_481_123_000_000 };
  const [expected] = await opaEvalMany(opa, dir, 'data.builtins', [input]);
  const actual = engineEval(engine, 'builtins', input) as Record<string, Record<string, unknown>>;
  const want = expected as Record<string, Record<string, unknown>>;
  t.equal(actual.now, want.now, 'time.now_ns is the decision instant');
  for (const key of Object.keys(want).sort()) {
    // Per case, so a failure names the input.
    const source = key === 'parse_rfc3339_ns' ? 'rfc3339' : key === 'parse_duration_ns' ? 'durations' : key === 'units_parse' ? 'units' : key === 'units_parse_bytes' ? 'bytes' : key === 'any_prefix' || key === 'any_suffix' ? 'prefix' : key === 'count_substrings' ? 'count' : key === 'sprintf_simple' ? 'sprintf' : ['date', 'clock', 'weekday'].includes(key) ? 'times' : key;
    const list = (input as unknown as Record<string, unknown[]>)[source];
    if (!Array.isArray(list)) continue;
    let mismatches = 0;
    list.forEach((c, i) => {
      const a = actual[key]?.[String(i)];
      const w = want[key]?.[String(i)];
      if (JSON.stringify(a) !== JSON.stringify(w)) {
        mismatches++;
        t.fail(`${key}(${JSON.stringify(c)}): jitgate ${JSON.stringify(a)}, opa ${JSON.stringify(w)}`);
      }
    });
    t.equal(mismatches, 0, `${key}: ${list.length} cases agree`);
  }
});
