// A large data.json is parsed once, off the event loop, into an image of the module's memory
// that every instance copies in (src/policy/data-image.ts). These tests hold decisions over
// large, varied data against `opa eval` on the instance that serves, on its spare and on a
// replacement made later; and check that bad data, a worker that dies and one that hangs still
// fail the load as before, leaving no worker behind and the serving policy serving.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import * as tar from 'tar';
import { buildBundle, defaultCapabilitiesPath, parseBundle, PolicyEngine, PolicyManager, runOpa, runningDataWorkers, type AuthzInput, type PolicyBundle, type PolicyEvent } from '../../src/policy/index.js';
import { engineEval, engineFor, FIXTURES, opaEvalMany, testOpa } from './helpers.js';

const opa = await testOpa();

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NUMBERS = [0, -0.5, 1.5e-7, 42, 9007199254740991, 1e300, -1e-300, 3.14159, 100, -7, 2 ** 53, 12345678.9];
const TAGS = ['ops', 'dev', 'äöü', '日本', 'emoji 😀', 'quote "x"', 'line\nbreak', 'tab\t', ''];

/** About 1.5 MB of nested objects, arrays with duplicates (sets in the policy), unicode strings and keys, and numbers. */
function bigData(): Record<string, unknown> {
  const r = rng(11);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const users: Record<string, unknown> = {};
  for (let i = 0; i < 5_000; i++) {
    users[`user-${String(i)}${i % 5 === 0 ? '-ü' : ''}`] = {
      id: i,
      active: r() < 0.7,
      groups: Array.from({ length: Math.floor(r() * 5) }, () => pick(['eng', 'ops', 'approvers', 'grüppe', 'admins'])),
      tags: Array.from({ length: Math.floor(r() * 3) }, () => pick(TAGS)),
      score: pick(NUMBERS),
      meta: { nested: { deep: [i, pick(TAGS), null, { ok: r() < 0.5 }] }, empty: {}, none: [] },
    };
  }
  const names: Record<string, string> = {};
  for (let i = 0; i < 2_000; i++) names[`${pick(['名前', 'ß', 'emoji-😀', 'plain', 'quote"', 'back\\slash'])}-${String(i)}`] = `${pick(TAGS)} ${String(i)}`;
  let tree: unknown = { leaf: 'bottom ✓', n: 1e300 };
  for (let depth = 0; depth < 8; depth++) tree = { [`level-${String(depth)}`]: tree, [`side-${String(depth)}`]: [depth, `ü${String(depth)}`] };
  return {
    big: {
      users,
      names,
      tree,
      numbers: Array.from({ length: 3_000 }, () => pick(NUMBERS)),
      dupes: Array.from({ length: 3_000 }, () => pick(TAGS)),
      empties: { object: {}, array: [], string: '', null: null, false: false, zero: 0 },
    },
  };
}

const POLICY = `package p

import rego.v1

number := n if {
	n := data.big.numbers[input.i]
} else := null

# Sorted where order is the evaluator's own: the wasm engine walks objects and sets in hash order.
out := {
	"user": object.get(data.big.users, input.user, null),
	"groups": sort({g | some g in object.get(data.big.users, [input.user, "groups"], [])}),
	"tagged": count([k | some k, u in data.big.users; input.tag in u.tags]),
	"at": object.get(data.big.tree, input.path, "none"),
	"number": number,
	"bigger": count([n | some n in data.big.numbers; n > input.threshold]),
	"name": object.get(data.big.names, input.name, null),
	"distinct": count({x | some x in data.big.dupes}),
	"empties": data.big.empties,
	"active": sort([k | some k, u in data.big.users; u.active; u.score == input.score]),
}

# A rule conflict a caller can provoke: each one aborts inside the module.
param[lower(k)] := v if some k, v in input.query

conflict := param
`;

function corpus(size: number): Record<string, unknown>[] {
  const r = rng(5);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const paths = [['level-7'], ['level-7', 'level-6', 'side-5'], ['level-7', 'level-6', 'level-5', 'level-4', 'level-3', 'level-2', 'level-1', 'level-0', 'leaf'], ['nope'], []];
  return Array.from({ length: size }, () => {
    const n = Math.floor(r() * 5_200);
    return {
      user: `user-${String(n)}${n % 5 === 0 ? '-ü' : ''}`,
      tag: pick(TAGS),
      path: pick(paths),
      i: Math.floor(r() * 3_100),
      threshold: pick(NUMBERS),
      score: pick(NUMBERS),
      name: `${pick(['名前', 'ß', 'emoji-😀', 'plain', 'quote"', 'back\\slash'])}-${String(Math.floor(r() * 2_100))}`,
    };
  });
}

/** Aborts decisions until the engine replaces the instance that serves. */
function forceReplacement(engine: PolicyEngine): void {
  const before = engine.instancesReplaced;
  for (let i = 0; i < 1_000 && engine.instancesReplaced === before; i++) {
    try {
      engine.evaluateRaw('p/conflict', { query: { A: '1', a: '2' } }, 0);
    } catch (err) {
      if (!/conflict/.test((err as Error).message)) throw err;
    }
  }
}

t.test('decisions over a large, varied data.json are those of opa eval, on the serving instance, its spare and a replacement', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-large-data-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'p.rego'), POLICY);
  const data = JSON.stringify(bigData());
  t.ok(data.length > 900_000, `data.json is ${String(data.length)} bytes, parsed in a worker`);
  writeFileSync(join(dir, 'data.json'), data);
  const inputs = corpus(60);
  const expected = await opaEvalMany(opa, dir, 'data.p.out', inputs);
  t.equal(expected.filter((v) => v === undefined).length, 0, 'opa eval decides every input');

  const engine = await engineFor(opa, dir, ['p/out', 'p/conflict']);
  t.equal(runningDataWorkers(), 0, 'no worker is left once the load is done');
  t.same(inputs.map((input) => engineEval(engine, 'p/out', input)), expected, 'the instance that serves decides as opa eval');

  forceReplacement(engine);
  t.equal(engine.instancesReplaced, 1);
  t.same(inputs.map((input) => engineEval(engine, 'p/out', input)), expected, 'so does the spare, made at load, once it serves');

  await engine.instancesSettled();
  forceReplacement(engine);
  t.equal(engine.instancesReplaced, 2);
  t.same(inputs.map((input) => engineEval(engine, 'p/out', input)), expected, 'and the replacement made after it');
});

let basic: Promise<PolicyBundle> | undefined;

/** The basic fixture's bundle with other data.json bytes. */
async function basicWithData(data: string): Promise<PolicyBundle> {
  basic ??= buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa }).then((built) => built.bundle);
  return { ...(await basic), data: new TextEncoder().encode(data).buffer };
}

const INVALID_LARGE = `{"roles": [${'"x", '.repeat(100_000)}`;

t.test('invalid data.json fails the load with BUNDLE_INVALID, small (parsed here) or large (in a worker)', async (t) => {
  for (const data of ['{"a": [1, 2', INVALID_LARGE]) {
    await t.rejects(PolicyEngine.load(await basicWithData(data)), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: failed to parse json value/ }, `${String(data.length)} bytes`);
  }
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});

t.test('data.json with anything but whitespace after its value is refused, as OPA refuses it, small or large', async (t) => {
  // `opa eval --bundle`, `opa run --bundle` and `opa build -b` all refuse these bundles
  // ("invalid character 'a' in literal true", "invalid character '{' after top-level value").
  const large = JSON.stringify(bigData());
  for (const [what, data] of [['trailing words', '{"a": 1} trailing garbage'], ['a second value', '{} {"a": 1}'], ['a large value and more', `${large} x`], ['a large second value', `{} ${large}`]] as const) {
    await t.rejects(PolicyEngine.load(await basicWithData(data)), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: data\.json is not one JSON value, as OPA requires/ }, `${what} (${String(data.length)} bytes)`);
  }
  // What OPA's decoder accepts and the module parses the same way still loads.
  for (const [what, data] of [['whitespace after the value', '{"a": 1} \n\t\r\n'], ['a duplicate key (the last wins, in both)', '{"a": 1, "a": 2}'], ['a number past float64 (kept as written, in both)', '{"a": 1e400}']] as const) {
    const engine = await PolicyEngine.load(await basicWithData(data));
    t.ok(engine, what);
  }
  // A byte order mark: OPA refuses it ("invalid character 'ï' looking for beginning of value"), and so does the module.
  await t.rejects(PolicyEngine.load(await basicWithData('\uFEFF{"a": 1}')), { code: 'JITGATE_E_BUNDLE_INVALID' }, 'a byte order mark');
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});

t.test('data too large for the module\'s memory fails the load with BUNDLE_INVALID, as before', async (t) => {
  // 15 million numbers take more than the 256 MiB a module may have.
  const data = `[${'1,'.repeat(15_000_000)}1]`;
  await t.rejects(PolicyEngine.load(await basicWithData(data)), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: opa_malloc: failed/ });
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});

t.test('a worker that dies or hangs fails the load with BUNDLE_INVALID, and is not left running', async (t) => {
  const fixtures = mkdtempSync(join(tmpdir(), 'jg-data-workers-'));
  t.teardown(() => rm(fixtures, { recursive: true, force: true }));
  writeFileSync(join(fixtures, 'dies.mjs'), 'process.exit(3);\n');
  writeFileSync(join(fixtures, 'throws.mjs'), 'throw new Error("worker broke");\n');
  writeFileSync(join(fixtures, 'hangs.mjs'), 'setInterval(() => {}, 1000);\n');
  const bundle = await basicWithData(JSON.stringify(bigData()));
  const load = (worker: string, timeoutMs?: number): Promise<PolicyEngine> =>
    PolicyEngine.load(bundle, undefined, { dataParse: { workerUrl: new URL(`file://${join(fixtures, worker)}`), ...(timeoutMs === undefined ? {} : { timeoutMs }) } });
  await t.rejects(load('dies.mjs'), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: the worker parsing it exited with code 3/ });
  await t.rejects(load('throws.mjs'), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: the worker parsing it failed: worker broke/ });
  await t.rejects(load('hangs.mjs', 300), { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: parsing it took over 300 ms/ });
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});

/**
 * JSON nested exactly `depth` levels, as Go counts them (each array or object one level): an
 * object holding a marker, `pad` bytes of padding (to pass the 64 KiB parsed in this thread)
 * and the nesting, made of arrays, objects or both in turn, with a string at the bottom.
 */
function nested(kind: 'array' | 'object' | 'mixed', depth: number, pad = 0): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth - 1; i++) {
    const array = kind === 'array' || (kind === 'mixed' && i % 2 === 1);
    open += array ? '[' : '{"k": ';
    close = (array ? ']' : '}') + close;
  }
  // Brackets in strings are not levels; the padding ends in an escaped backslash, not an escaped quote.
  return `{"marker": "here", "pad": "${'p'.repeat(pad)}\\\\", "deep": ${open}"[{\\"[{"${close}}`;
}

const DEPTH_POLICY = `package x

import rego.v1

out := {"marker": data.marker, "kind": type_name(data.deep), "pad": count(data.pad)}
`;

t.test('data.json nested up to 10,000 levels loads and decides as opa eval; 10,001 is refused, as OPA refuses it; arrays, objects or both, small or large', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jg-data-depth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'p.rego'), DEPTH_POLICY);
  const built = await runOpa(opa, ['build', '-t', 'wasm', '-e', 'x/out', '--capabilities', defaultCapabilitiesPath(), '-o', join(dir, 'b.tar.gz'), join(dir, 'src')]);
  t.equal(built.code, 0, built.stderr);
  const bundle = parseBundle(await readFile(join(dir, 'b.tar.gz')));
  for (const kind of ['array', 'object', 'mixed'] as const) {
    for (const depth of [10_000, 10_001]) {
      for (const pad of [0, 70_000]) {
        const data = nested(kind, depth, pad);
        const what = `${kind}, ${String(depth)} levels, ${String(data.length)} bytes`;
        t.equal(nestingDepthOf(data), depth, `${what}: nested as named`);
        // The same data.json as OPA reads it in a bundle.
        writeFileSync(join(dir, 'src', 'data.json'), data);
        const opaRun = await runOpa(opa, ['eval', '-b', join(dir, 'src'), '-f', 'json', 'data.x.out']);
        const load = PolicyEngine.load({ ...bundle, data: new TextEncoder().encode(data).buffer }, ['x/out']);
        if (depth > 10_000) {
          t.match({ code: opaRun.code, output: opaRun.stdout + opaRun.stderr }, { code: 2, output: /exceeded max depth/ }, `${what}: opa refuses it`);
          await t.rejects(load, { code: 'JITGATE_E_BUNDLE_INVALID', message: /data\.json does not load: data\.json nests more than 10,000 levels deep .*which OPA refuses/ }, `${what}: so does jitgate`);
        } else {
          t.equal(opaRun.code, 0, `${what}: opa loads it ${opaRun.stderr}`);
          const expected = (JSON.parse(opaRun.stdout) as { result: { expressions: { value: unknown }[] }[] }).result[0]?.expressions[0]?.value;
          t.same(engineEval(await load, 'x/out', {}), expected, `${what}: jitgate loads it and decides as opa eval`);
        }
      }
    }
  }
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});

/** Nesting by JSON.parse, which is not the scan under test. */
function nestingDepthOf(json: string): number {
  let deepest = 0;
  const walk = (value: unknown, depth: number): void => {
    let at = value;
    let level = depth;
    // A loop rather than recursion: the test's own stack is no deeper than the engine's.
    while (typeof at === 'object' && at !== null) {
      level++;
      deepest = Math.max(deepest, level);
      const children: unknown[] = Array.isArray(at) ? at : Object.values(at);
      const containers = children.filter((c) => typeof c === 'object' && c !== null);
      if (containers.length > 1) throw new Error('one chain of nesting only');
      at = containers[0];
    }
  };
  walk(JSON.parse(json), 0);
  return deepest;
}

const authzInput: AuthzInput = {
  request: { method: 'GET', path: '/x', segments: ['x'], query: {}, headers: {}, host: 'h' },
  subject: { id: 'alice', kind: 'user', groups: ['eng'], claims: {} },
  grants: [],
  route: { name: 'items', upstream: 'http://127.0.0.1:1', credentials: [] },
  now_ns: 1_795_919_481_000_000_000,
};

t.test('a bundle whose data.json is invalid (large) or nested past OPA\'s limit (small, and loaded before) is refused, and the serving policy keeps serving', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'jg-large-data-bundle-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const bundles = join(root, 'bundles');
  await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(bundles, 'jitgate.tar.gz'), revision: 'good-1' });
  const manager = new PolicyManager({ config: { dir: join(root, 'policies'), bundles_dir: bundles, watch: false, opa_path: opa, debounce_ms: 20 }, build: false });
  await manager.start();
  t.teardown(() => manager.stop());
  t.equal(manager.authorize(authzInput).revision, 'good-1');

  const parts = join(root, 'parts');
  await mkdir(parts);
  await tar.x({ file: join(bundles, 'jitgate.tar.gz'), cwd: parts });
  const manifest = JSON.parse(await readFile(join(parts, '.manifest'), 'utf8')) as Record<string, unknown>;
  const bad = [
    ['bad-data-2', INVALID_LARGE, /data\.json does not load: failed to parse json value/],
    ['deep-data-3', nested('array', 10_001), /data\.json does not load: data\.json nests more than 10,000 levels deep/],
  ] as const;
  for (const [revision, data, error] of bad) {
    // The same bundle, its data.json replaced.
    await writeFile(join(parts, 'data.json'), data);
    await writeFile(join(parts, '.manifest'), JSON.stringify({ ...manifest, revision }));
    const events: PolicyEvent[] = [];
    const off = manager.onEvent((e) => events.push(e));
    const file = join(root, `${revision}.tar.gz`);
    await tar.c({ gzip: true, file, cwd: parts }, ['.manifest', 'policy.wasm', 'data.json']);
    t.equal(await manager.loadBundle(file), false, `${revision}: the bundle is refused`);
    t.match(events, [{ type: 'rejected', source: 'bundle', revision, error }]);
    t.equal(manager.authorize(authzInput).revision, 'good-1', `${revision}: the last good policy keeps serving`);
    off();
  }
  t.equal(runningDataWorkers(), 0, 'no worker is left running');
});
