// Shared by the policy tests: the opa binary, building a fixture into an engine, and
// evaluating many inputs with `opa eval` (OPA's Go evaluator) in ONE process.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCapabilitiesPath, findOpa, parseBundle, PolicyEngine, runOpa, type EngineOptions } from '../../src/policy/index.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** scripts/test.sh installs opa; these tests need it (they compare against it). */
export async function testOpa(): Promise<string> {
  const opa = await findOpa();
  if (!opa) throw new Error('opa is not installed: run scripts/ensure-opa.sh');
  return opa;
}

/** Builds `dir` for the given entrypoints (not only jitgate's) and loads it. */
export async function engineFor(opa: string, dir: string, entrypoints: string[], options: EngineOptions = {}): Promise<PolicyEngine> {
  const out = await mkdtemp(join(tmpdir(), 'jitgate-test-'));
  try {
    const file = join(out, 'b.tar.gz');
    const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e]), '--capabilities', defaultCapabilitiesPath(), '-o', file, dir];
    const run = await runOpa(opa, args);
    if (run.code !== 0) throw new Error(run.stderr);
    return await PolicyEngine.load(parseBundle(await readFile(file)), entrypoints, options);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/**
 * Evaluates `path` (e.g. "data.jitgate.authz") for every input with `opa eval`, with
 * time.now_ns mocked to each input's now_ns (as the engine does; 0 when it has none). Returns one entry per
 * input: the value, or undefined when OPA's result is undefined.
 */
export async function opaEvalMany(opa: string, dir: string, path: string, inputs: unknown[]): Promise<unknown[]> {
  const work = await mkdtemp(join(tmpdir(), 'jitgate-corpus-'));
  try {
    await writeFile(join(work, 'corpus.json'), JSON.stringify({ jitgate_corpus: inputs }));
    // An input without now_ns (a decision-log event, say) runs at 0, as engineEval does.
    const query = `{i: r | some i, x in data.jitgate_corpus; n := object.get(x, "now_ns", 0); r := ${path} with input as x with time.now_ns as n}`;
    const run = await runOpa(opa, ['eval', '-f', 'json', '-d', dir, '-d', join(work, 'corpus.json'), query], { timeoutMs: 120_000 });
    if (run.code !== 0) throw new Error(run.stderr || run.stdout);
    const parsed = JSON.parse(run.stdout) as { result: { expressions: { value: Record<string, unknown> }[] }[] };
    const values = parsed.result[0]?.expressions[0]?.value ?? {};
    return inputs.map((_, i) => values[String(i)]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The engine's answer in the same shape (JSON round trip, undefined when the result set is empty). */
export function engineEval(engine: PolicyEngine, entrypoint: string, input: { now_ns?: unknown }): unknown {
  const rs = engine.evaluateRaw(entrypoint, input, typeof input.now_ns === 'number' ? input.now_ns : 0) as { result: unknown }[];
  return rs.length === 0 ? undefined : (JSON.parse(JSON.stringify(rs[0]?.result)) as unknown);
}
