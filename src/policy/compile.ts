// `opa build -t wasm` of the policies folder into one bundle with both entrypoints.
// Sources are first copied into a private staging folder: tests (`_test.rego`), editor
// swap and backup files and anything hidden never reach the compiler, and a file an editor
// is still writing is read once, consistently, rather than while it changes.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { jitgateError, toError } from '../errors.js';
import { checkFileTrust, refusalMessage } from '../file-trust.js';
import { assertReplaceable } from '../replaceable.js';
import { bundleFiles, parseBundle, type PolicyBundle } from './bundle.js';
import { DIFFERS_FROM_OPA } from './capabilities.js';
import { ENTRYPOINTS } from './contract.js';
import { PolicyEngine } from './engine.js';
import { logRuleEntrypoints } from './log-rules.js';
import { projectRoot, runOpa } from './opa.js';
import { policyRevision } from './revision.js';

/** The stable name `jitgate build` writes, so a prebuilt bundle can be committed. */
export const BUNDLE_FILE_NAME = 'jitgate.tar.gz';

export interface BuildOptions {
  /** The policies folder. */
  dir: string;
  opaPath: string;
  /** Where to write the bundle; omit to keep it in memory only. */
  outFile?: string;
  /** Default: opa/capabilities.json of the project. */
  capabilitiesPath?: string;
  /** Default: the git revision of `dir` (see revision.ts). */
  revision?: string;
  /** Throws to refuse the loaded policy before the bundle is written (the manager's vetting). */
  accept?: (engine: PolicyEngine) => void;
}

export interface BuildResult {
  bundle: PolicyBundle;
  /** The bundle, loaded and checked (it is what a reload swaps in). */
  engine: PolicyEngine;
  revision: string;
  /** Relative paths of the files compiled. */
  sources: string[];
  outFile: string | null;
  /** The policies folder is looser than it should be, possibly on purpose (src/file-trust.ts). */
  warnings: string[];
}

export function defaultCapabilitiesPath(): string {
  return join(projectRoot(), 'opa', 'capabilities.json');
}

/** Whether a file in the policies folder is compiled into the bundle. */
export function isPolicySource(relativePath: string): boolean {
  const parts = relativePath.split(/[\\/]/);
  if (parts.some((p) => p.startsWith('.') || p === 'node_modules')) return false;
  const name = parts[parts.length - 1] ?? '';
  if (name.endsWith('.rego')) return !name.endsWith('_test.rego');
  return name === 'data.json' || name === 'data.yaml' || name === 'data.yml';
}

/** The compiled files of `dir`, and whether any is a link (git then records where it points, not what it holds). */
async function listSources(dir: string): Promise<{ files: string[]; linked: boolean }> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  const links = new Set<string>();
  for (const e of entries) {
    const path = relative(dir, join(e.parentPath, e.name));
    if (e.isFile()) {
      files.push(path);
    } else if (e.isSymbolicLink()) {
      // A linked file is read as opa reads it (Kubernetes ConfigMap mounts are links): left out,
      // a linked data.json would be in `opa test` and `opa eval` but not in the gateway.
      // Linked folders are not followed, by opa either.
      const target = await stat(join(dir, path)).catch(() => null);
      if (target?.isFile() === true) {
        files.push(path);
        links.add(path);
      }
    }
  }
  const compiled = files.filter(isPolicySource).sort();
  return { files: compiled, linked: compiled.some((f) => links.has(f)) };
}

/** Turns opa's output into readable lines pointing at the user's files, not the staging copy. */
function cleanOpaOutput(output: string, sourceName: string, displayDir: string): string[] {
  const escaped = sourceName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return output
    .replace(new RegExp(`(^|[\\s'"])${escaped}/`, 'gm'), `$1${displayDir}/`)
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0);
}

interface PlanCall { func: string; args: { type: string; value: number }[]; file: number; row: number }

/**
 * `replace(s, "", x)` never returns in the WebAssembly engine (OPA's own evaluator inserts `x`
 * between characters), and evaluation runs on the gateway's event loop: a pattern a caller can
 * make empty would let one request stop every other. So `replace` is refused unless its pattern
 * is a non-empty constant. What the module calls is read from the policy's plan (`opa build -t
 * plan`), the IR the wasm module is compiled from.
 */
async function refuseUnboundedReplace(opaPath: string, wasmArgs: string[], staging: string, sourceName: string, displayDir: string): Promise<void> {
  const planFile = join(staging, 'plan.tar.gz');
  const args = wasmArgs.map((a) => (a === 'wasm' ? 'plan' : a)).map((a) => (a === join(staging, BUNDLE_FILE_NAME) ? planFile : a));
  const run = await runOpa(opaPath, args, { cwd: staging });
  if (run.code !== 0) throw jitgateError('POLICY_COMPILE', `opa build -t plan: ${run.stderr}`);
  const planText = bundleFiles(await readFile(planFile)).get('plan.json');
  if (planText === undefined) throw jitgateError('POLICY_COMPILE', 'opa build -t plan wrote no plan.json');
  const plan = JSON.parse(Buffer.from(planText).toString('utf8')) as { static: { strings: { value: string }[]; files?: { value: string }[] } };
  const problems: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const record = node as { type?: unknown; stmt?: PlanCall };
    if (record.type === 'CallStmt' && record.stmt?.func === 'replace') {
      const pattern = record.stmt.args[1];
      if (pattern?.type !== 'string_index' || (plan.static.strings[pattern.value]?.value ?? '') === '') {
        const file = (plan.static.files?.[record.stmt.file]?.value ?? '').replace(new RegExp(`^${sourceName}/`), `${displayDir}/`);
        problems.push(`${file}:${String(record.stmt.row)}: replace() with a pattern that is not a non-empty constant (with an empty pattern the WebAssembly engine never returns; OPA's evaluator does): use a constant pattern`);
      }
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(plan);
  if (problems.length > 0) throw jitgateError('POLICY_COMPILE', `\n${problems.join('\n')}`, { errors: problems });
}

/** opa says "undefined function X" for a builtin left out of our capabilities: say why. */
function explainUnsupported(line: string): string {
  const match = /undefined function ([a-z0-9_.]+)/.exec(line);
  if (!match) return line;
  const differs = DIFFERS_FROM_OPA[match[1] ?? ''];
  if (differs !== undefined) return `${line} (not available to jitgate policies: ${differs}, so it would not decide as opa eval does; see docs/policies.md)`;
  return `${line} (not available to jitgate policies: the WebAssembly engine does not implement it; see opa/capabilities.json and docs/policies.md)`;
}

/** Compiles `dir`; throws POLICY_COMPILE (with opa's file:line messages) or BUNDLE_INVALID. */
export async function buildBundle(options: BuildOptions): Promise<BuildResult> {
  const dir = resolve(options.dir);
  const displayDir = relative(process.cwd(), dir) || '.';
  const staging = await mkdtemp(join(tmpdir(), 'jitgate-staging-'));
  // opa is run from the staging folder with a relative path, so file names in compile errors
  // and in runtime errors (embedded in policy.wasm) read `policies/authz.rego:7`.
  const sourceName = basename(dir) || 'policies';
  const stagingSrc = join(staging, sourceName);
  try {
    let sources: string[];
    let linked: boolean;
    try {
      ({ files: sources, linked } = await listSources(dir));
    } catch (error) {
      throw jitgateError('POLICY_COMPILE', `cannot read ${displayDir}: ${(error as Error).message}`);
    }
    if (!sources.some((s) => s.endsWith('.rego'))) {
      throw jitgateError('POLICY_COMPILE', `no .rego files in ${displayDir}`);
    }
    // Every folder that holds a source, and each source: a new or changed file there is new policy.
    const trust = checkFileTrust([dir, ...new Set(sources.map((s) => dirname(join(dir, s)))), ...sources.map((s) => join(dir, s))]);
    if (trust.refusals.length > 0) throw jitgateError('POLICY_COMPILE', refusalMessage(`the policies in ${displayDir} are`, trust.refusals));
    const digest = createHash('sha256');
    const regoTexts: string[] = [];
    for (const source of sources) {
      const content = await readFile(join(dir, source));
      if (source.endsWith('.rego')) regoTexts.push(content.toString('utf8'));
      digest.update(source).update('\0').update(content).update('\0');
      await mkdir(dirname(join(stagingSrc, source)), { recursive: true });
      await writeFile(join(stagingSrc, source), content);
    }
    const revision = options.revision ?? (await policyRevision(dir, digest.digest('hex'), sources, linked));
    const capabilities = options.capabilitiesPath ?? defaultCapabilitiesPath();
    const output = join(staging, BUNDLE_FILE_NAME);
    const entrypoints = [...ENTRYPOINTS, ...logRuleEntrypoints(regoTexts)];
    const args = ['build', '-t', 'wasm', ...entrypoints.flatMap((e) => ['-e', e])];
    args.push('--capabilities', resolve(capabilities), '--revision', revision, '-o', output, sourceName);
    const run = await runOpa(options.opaPath, args, { cwd: staging });
    if (run.code !== 0) {
      const lines = cleanOpaOutput(run.stderr + run.stdout, sourceName, displayDir).map(explainUnsupported);
      throw jitgateError('POLICY_COMPILE', `\n${lines.join('\n')}`, { errors: lines, revision });
    }
    if (regoTexts.some((text) => text.includes('replace('))) await refuseUnboundedReplace(options.opaPath, args, staging, sourceName, displayDir);
    const bundle = parseBundle(await readFile(output));
    // Refuse now what the engine would refuse at load: a bundle that builds is one that serves.
    const engine = await PolicyEngine.load(bundle);
    options.accept?.(engine);
    let outFile: string | null = null;
    if (options.outFile) {
      outFile = resolve(options.outFile);
      await assertReplaceable(outFile, 'the bundle file').catch((err: unknown) => { throw jitgateError('VALIDATION', toError(err).message); });
      // Not left to the umask: under umask 0 the folder and bundle were anyone's to replace.
      await mkdir(dirname(outFile), { recursive: true, mode: 0o750 });
      // Hidden temporary name + rename: a watcher on the bundles folder never sees half a file.
      const temporary = join(dirname(outFile), `.${basename(outFile)}.${randomBytes(6).toString('hex')}.tmp`);
      await copyFile(output, temporary, constants.COPYFILE_EXCL);
      await chmod(temporary, 0o640);
      await rename(temporary, outFile);
    }
    return { bundle, engine, revision, sources, outFile, warnings: trust.warnings };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
