// Generates jitgate's own OPA capabilities file: what `opa build` may let a policy use.
// Start from the installed opa's `capabilities --current` and keep only builtins that really
// run on our evaluation path: those the compiled wasm module implements itself, those the
// opa-wasm SDK implements in JavaScript, and our custom builtins. Which builtins the module
// implements is not guessed from a list: a probe policy calling every builtin is compiled
// and the module is asked which ones it imports from the host.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { jitgateError } from '../errors.js';
import { parseBundle } from './bundle.js';
import { CUSTOM_BUILTIN_NAMES, SDK_BUILTIN_NAMES } from './builtins.js';
import { hostBuiltinsOf } from './engine.js';
import { runOpa } from './opa.js';
import { wasmApi } from './wasm.js';

interface BuiltinDecl {
  name: string;
  infix?: string;
  deprecated?: boolean;
  decl: { args?: unknown[]; variadic?: unknown };
}

export interface Capabilities {
  builtins: BuiltinDecl[];
  future_keywords?: string[];
  features: string[];
  wasm_abi_versions: { version: number; minor_version: number }[];
}

/**
 * Builtins the engine has, but that do not answer as OPA's evaluator does, in ways that can let
 * a policy allow what `opa eval` denies: left out, so a policy using one is refused at build
 * rather than decided otherwise. (Why each, for the build error and docs/policies.md.)
 */
export const DIFFERS_FROM_OPA: Readonly<Record<string, string>> = {
  'regex.split': 'the opa-wasm SDK splits with JavaScript regular expressions, not RE2 (POSIX classes, \\Q..\\E, \\p{L}, captured separators differ)',
  'yaml.unmarshal': 'the opa-wasm SDK reads YAML 1.2 (no merge keys; 0777, 1_000 and 0b101 read otherwise)',
  'yaml.marshal': 'the opa-wasm SDK writes YAML otherwise',
  'yaml.is_valid': 'the opa-wasm SDK reads YAML 1.2',
  'json.is_valid': 'the wasm module accepts "1 2", and some inputs trap it',
  'to_number': 'the wasm module reads text beyond a double\'s range ("-1e400") as an infinity where OPA gives no number, so `to_number(x) <= 100` holds; a number in a JSON body is a number already, and units.parse reads text as OPA does within a double\'s range (and gives no number beyond it)',
};

/** Language features kept. `template_strings` is kept only if the probe shows the wasm module renders them itself. */
const FEATURES = ['keywords_in_refs', 'rego_v1'];
const TEMPLATE_FEATURE = 'template_strings';
const TEMPLATE_BUILTIN = 'internal.template_string';
/** ABI versions the opa-wasm SDK 1.10 runs (it uses the 1.2 fast path). */
const WASM_ABI_VERSIONS = [
  { version: 1, minor_version: 1 },
  { version: 1, minor_version: 2 },
];
/** Compiled specially (operators, `in`, print) rather than called: never host imports. */
function isLanguageBuiltin(b: BuiltinDecl): boolean {
  return b.infix !== undefined || b.name === 'print' || b.name === 'internal.print' || b.name === 'internal.member_2' || b.name === 'internal.member_3' || b.name === 'internal.test_case';
}

function probeModule(builtins: BuiltinDecl[], templates: boolean): string {
  const rules = builtins.map((b, i) => {
    const args = (b.decl.args ?? []).map((_, j) => `input.a${j}`).join(', ');
    return `r${i} := ${b.name}(${args})`;
  });
  // Template strings lower to internal.template_string: see whether the module imports it.
  if (templates) rules.push('template := $"{input.a0} and {input.a1}"');
  return `package probe\n\n${rules.join('\n')}\n`;
}

/** Asks the compiled probe which of `builtins` the wasm module needs from the host. */
async function hostImported(opaPath: string, builtins: BuiltinDecl[], templates: boolean): Promise<Set<string>> {
  const dir = await mkdtemp(join(tmpdir(), 'jitgate-caps-'));
  try {
    await writeFile(join(dir, 'probe.rego'), probeModule(builtins, templates));
    const out = join(dir, 'probe.tar.gz');
    const run = await runOpa(opaPath, ['build', '-t', 'wasm', '-e', 'probe', '-o', out, join(dir, 'probe.rego')]);
    if (run.code !== 0) throw jitgateError('POLICY_COMPILE', `capabilities probe: ${run.stderr}`);
    const bundle = parseBundle(await readFile(out));
    const policy = await loadPolicy(await wasmApi.compile(bundle.wasm));
    return new Set(hostBuiltinsOf(policy));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function generateCapabilities(opaPath: string): Promise<Capabilities> {
  const run = await runOpa(opaPath, ['capabilities', '--current']);
  if (run.code !== 0) throw jitgateError('POLICY_COMPILE', `opa capabilities --current: ${run.stderr}`);
  const current = JSON.parse(run.stdout) as { builtins: BuiltinDecl[]; future_keywords?: string[]; features?: string[] };
  // Deprecated builtins are refused by Rego v1 anyway; variadic and internal ones cannot be probed.
  const candidates = current.builtins.filter((b) => !b.deprecated);
  const probed = candidates.filter((b) => !isLanguageBuiltin(b) && b.decl.variadic === undefined && !b.name.startsWith('internal.'));
  const templates = (current.features ?? []).includes(TEMPLATE_FEATURE);
  const imported = await hostImported(opaPath, probed, templates);
  const templatesNative = templates && !imported.has(TEMPLATE_BUILTIN);
  const available = new Set([...SDK_BUILTIN_NAMES, ...CUSTOM_BUILTIN_NAMES]);
  const probedNames = new Set(probed.map((b) => b.name));
  const builtins = candidates
    .filter((b) => {
      if (isLanguageBuiltin(b)) return true;
      if (b.name === TEMPLATE_BUILTIN) return templatesNative;
      if (!probedNames.has(b.name) || DIFFERS_FROM_OPA[b.name] !== undefined) return false;
      return !imported.has(b.name) || available.has(b.name);
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const features = [...FEATURES, ...(templatesNative ? [TEMPLATE_FEATURE] : [])].filter((f) => (current.features ?? []).includes(f));
  if (!features.includes('rego_v1')) throw jitgateError('POLICY_COMPILE', 'this opa has no rego_v1 feature (need OPA >= 1.0)');
  return {
    builtins,
    ...(current.future_keywords ? { future_keywords: current.future_keywords } : {}),
    features,
    wasm_abi_versions: WASM_ABI_VERSIONS,
  };
}

export function serializeCapabilities(capabilities: Capabilities): string {
  return `${JSON.stringify(capabilities, null, 2)}\n`;
}
