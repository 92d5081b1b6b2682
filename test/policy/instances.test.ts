// A policy that fails inside its module (a rule conflict a caller can provoke, a builtin that
// traps) must not take decisions down for everyone after it: each failure denies that one
// decision, and the instance it ran on is replaced before it can fail the ones that follow.
// Every answer is held against `opa eval` of the same input.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { parseBundle, PolicyEngine, runOpa } from '../../src/policy/index.js';
import { engineEval, engineFor, opaEvalMany, testOpa } from './helpers.js';

const opa = await testOpa();

function policyDir(rego: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'jg-instances-'));
  writeFileSync(join(dir, 'p.rego'), rego);
  return dir;
}

/** A decision, or the error's message. */
function decide(engine: Awaited<ReturnType<typeof engineFor>>, input: object): unknown {
  try {
    return engineEval(engine, 'p/allow', input);
  } catch (err) {
    return `ERROR ${(err as Error).message}`;
  }
}

t.test('hundreds of rule conflicts (each an abort inside the module) leave later decisions as opa eval makes them', async (t) => {
  const dir = policyDir(['package p', '', 'param[lower(k)] := v if some k, v in input.query', '', 'default allow := false', '', 'allow if param.view == "public"', ''].join('\n'));
  const engine = await engineFor(opa, dir, ['p/allow']);
  const good = { query: { view: 'public' } };
  const conflict = (i: number): object => ({ query: { View: 'x', view: 'public', n: String(i) } });
  t.same(await opaEvalMany(opa, dir, 'data.p.allow', [good]), [true], 'opa eval allows the plain input');
  const inputFile = join(dir, 'conflict.json');
  writeFileSync(inputFile, JSON.stringify(conflict(0)));
  const run = await runOpa(opa, ['eval', '-d', join(dir, 'p.rego'), '-i', inputFile, 'data.p.allow']);
  t.match(run.stdout + run.stderr, /conflict/, 'and errors on the conflicting one');
  let failed = 0;
  for (let i = 0; i < 1_000; i++) {
    if (/^ERROR .*conflict/.test(String(decide(engine, conflict(i))))) failed++;
    // Requests come on turns of their own: the replacement is made between them.
    if (i % 50 === 0) await engine.instancesSettled();
  }
  t.equal(failed, 1_000, 'each conflict fails its own decision, as a conflict');
  t.equal(decide(engine, good), true, 'after 1,000 of them, the plain input is still allowed');
  t.ok(engine.instancesReplaced >= 15, `the instance was replaced as aborts added up (${String(engine.instancesReplaced)} times)`);
});

/** Built with opa's own capabilities: json.is_valid is left out of jitgate's for the trap used here. */
async function engineWithOpaCapabilities(dir: string): Promise<PolicyEngine> {
  const file = join(dir, 'b.tar.gz');
  const run = await runOpa(opa, ['build', '-t', 'wasm', '-e', 'p/allow', '-o', file, join(dir, 'p.rego')]);
  if (run.code !== 0) throw new Error(run.stderr);
  return PolicyEngine.load(parseBundle(await readFile(file)), ['p/allow']);
}

t.test('a builtin that traps the module fails its own decision, not the next one', async (t) => {
  const dir = policyDir(['package p', '', 'default allow := false', '', 'allow if json.is_valid(input.meta)', ''].join('\n'));
  const engine = await engineWithOpaCapabilities(dir);
  const [plain] = await opaEvalMany(opa, dir, 'data.p.allow', [{ meta: '{"a":1}' }]);
  t.equal(plain, true);
  t.equal(decide(engine, { meta: '{"a":1}' }), true, 'as opa eval');
  t.match(decide(engine, { meta: 'true false' }), /^ERROR /, 'the input that traps it: this decision fails (denies)');
  t.equal(decide(engine, { meta: '{"a":1}' }), true, 'and the next one is decided on a fresh instance, as opa eval decides it');
  t.equal(engine.instancesReplaced, 1);
});

t.test('a decision that runs out of stack on deep data fails alone; the next one is decided on a fresh instance', async (t) => {
  // 9,000 levels of objects load (OPA's limit is 10,000), but comparing them recurses past
  // the main thread's stack inside the module, where opa eval answers.
  const dir = policyDir(['package p', '', 'default allow := false', '', 'allow if input.plain', '', 'allow if {', '\tinput.deep', '\tcount(json.marshal(data.deep)) > 0', '\tdata.deep == data.deep', '}', ''].join('\n'));
  writeFileSync(join(dir, 'data.json'), `{"deep": ${'{"k": '.repeat(9_000)}1${'}'.repeat(9_000)}}`);
  const engine = await engineFor(opa, dir, ['p/allow']);
  t.same(await opaEvalMany(opa, dir, 'data.p.allow', [{ plain: true }, { deep: true }]), [true, true], 'opa eval allows both');
  t.equal(decide(engine, { plain: true }), true, 'as opa eval');
  t.match(decide(engine, { deep: true }), /^ERROR .*Maximum call stack size exceeded/, 'the deep comparison fails its decision (denies)');
  t.equal(decide(engine, { plain: true }), true, 'and the next decision is as opa eval makes it');
  t.equal(engine.instancesReplaced, 1, 'on a fresh instance');
});
