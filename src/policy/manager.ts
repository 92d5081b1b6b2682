// The policy the gateway serves, and how it changes. Decisions read one engine reference;
// a reload builds and checks a complete new engine first and then replaces the reference
// in one assignment, so a decision runs wholly on the old policy or wholly on the new one,
// and a change that fails to build or load never replaces the policy that is serving.
import { createHash } from 'node:crypto';
import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { ERRORS, isJitgateError, jitgateError, toError } from '../errors.js';
import { checkFileTrust, refusalMessage } from '../file-trust.js';
import { parseBundle, readBundleArchive, unpackBundle } from './bundle.js';
import { BUNDLE_FILE_NAME, buildBundle, isPolicySource } from './compile.js';
import type { AuthzInput, AuthzResult, Decision, DecisionLogRules, ElevationInput, ElevationResult } from './contract.js';
import { PolicyEngine } from './engine.js';
import { findOpa } from './opa.js';
import type { PolicyConfig } from './config.js';
import type { DecisionLogRulesSource, PolicyEvaluator, PolicyEvent } from './types.js';
import { RecentQuestions } from './vetting.js';

/** pino-compatible subset, so the gateway can pass its logger. */
export interface PolicyLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface PolicyStatus {
  revision: string | null;
  source: 'policies' | 'bundle' | null;
  loaded_at: string | null;
  opa: string | null;
  last_error: { at: string; source: 'policies' | 'bundle'; message: string } | null;
  /** Bundle files seen that were the bundle already serving (e.g. our own build output). */
  bundles_unchanged: number;
}

export interface PolicyManagerOptions {
  config: PolicyConfig;
  logger?: PolicyLogger;
  /**
   * Compile and watch `config.dir` (default true). Off when bundles come from a bundle server:
   * a local folder must not override what the server serves.
   */
  build?: boolean;
  /** Checks every bundle archive (and its files, unpacked) before it is loaded (its signature); throws saying why. */
  verifyBundle?: (archive: Uint8Array, files: ReadonlyMap<string, Uint8Array>) => Promise<void>;
  /**
   * Whether start() fails without a policy (default true). A shadow policy is not required:
   * it starts empty (revision null) and keeps watching, so fixing it needs no restart.
   */
  required?: boolean;
  /**
   * Whether a new policy must first answer what the serving one answered lately (default true;
   * vetting.ts). Off for a shadow policy: its failures on live traffic are what it is there to show.
   */
  vet?: boolean;
}

const silent: PolicyLogger = { info: () => undefined, warn: () => undefined };

/** Editor swap/backup/lock files and hidden files never trigger a rebuild. */
function isNoise(path: string): boolean {
  const name = basename(path);
  return name.startsWith('.') || name.startsWith('#') || name.endsWith('~') || /\.(swp|swx|swo|tmp|bak)$/.test(name) || name === '4913';
}

export class PolicyManager implements PolicyEvaluator, DecisionLogRulesSource {
  readonly #config: PolicyConfig;
  readonly #logger: PolicyLogger;
  readonly #listeners = new Set<(event: PolicyEvent) => void>();
  readonly #watchers: FSWatcher[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #folderCheck: NodeJS.Timeout | undefined;
  /**
   * Engines swapped out, by revision, for the decision-log rules of decisions they made and that
   * are logged later (null: that policy had none). Bounded: an event older than the last
   * RETIRED_KEPT swaps cannot be ruled, and is dropped (counted) rather than logged unruled.
   */
  readonly #retired = new Map<string, PolicyEngine | null>();
  /** Revisions that served and were replaced, oldest first (bounded), to flag one coming back. */
  readonly #replaced = new Set<string>();
  #engine: PolicyEngine | null = null;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #opa: string | null = null;
  #status: PolicyStatus = { revision: null, source: null, loaded_at: null, opa: null, last_error: null, bundles_unchanged: 0 };
  /** sha256 of bundles already refused, so a bad file is reported once, not on every touch. */
  #rejected = new Set<string>();
  /** The last refused policies build (revision + reason): an editor saving twice reports once. */
  #lastPoliciesRejection: string | null = null;
  /** A file of the policies folder was deleted since the last compile was scheduled to run. */
  #deletionSettling = false;
  /** What the serving policy answered lately: a new one must answer it too before it serves. */
  readonly #recent: RecentQuestions | null;

  readonly #build: boolean;
  readonly #verifyBundle: ((archive: Uint8Array, files: ReadonlyMap<string, Uint8Array>) => Promise<void>) | null;
  readonly #required: boolean;

  constructor(options: PolicyManagerOptions) {
    this.#config = options.config;
    this.#logger = options.logger ?? silent;
    this.#build = options.build ?? true;
    this.#verifyBundle = options.verifyBundle ?? null;
    this.#required = options.required ?? true;
    this.#recent = (options.vet ?? true) ? new RecentQuestions() : null;
  }

  get revision(): string | null {
    return this.#engine?.revision ?? null;
  }

  get status(): PolicyStatus {
    return { ...this.#status };
  }

  authorize(input: AuthzInput): Decision<AuthzResult> {
    const engine = this.#engine;
    if (!engine) throw jitgateError('POLICY_NOT_LOADED');
    const decision = engine.authorize(input);
    this.#recent?.authz(input);
    return decision;
  }

  elevation(input: ElevationInput): Decision<ElevationResult> {
    const engine = this.#engine;
    if (!engine) throw jitgateError('POLICY_NOT_LOADED');
    const decision = engine.elevation(input);
    this.#recent?.elevation(input);
    return decision;
  }

  decisionLogRules(eventJson: () => string, revision: string | null): DecisionLogRules | null {
    const serving = this.#engine;
    // No policy loaded means no decisions to log either; nothing to ask.
    if (!serving) return null;
    if (revision === null || revision === serving.revision) return serving.decisionLogRules(eventJson);
    const retired = this.#retired.get(revision);
    if (retired === undefined) throw jitgateError('POLICY_NOT_LOADED', `the decision-log rules of ${revision} are no longer held`);
    return retired?.decisionLogRules(eventJson) ?? null;
  }

  /** Subscribes to loaded/rejected events (for the audit trail); returns the unsubscribe function. */
  onEvent(listener: (event: PolicyEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Builds `dir` with opa and loads it; without opa (or if the build fails), loads the bundle
   * in bundles_dir instead. Throws POLICY_NOT_LOADED when neither gives a policy, unless the
   * policy is not `required`: then it serves none (revision null) and goes on watching.
   */
  async start(): Promise<PolicyStatus> {
    const dir = resolve(this.#config.dir);
    const bundlesDir = resolve(this.#config.bundles_dir);
    this.#opa = this.#build ? await findOpa(this.#config.opa_path) : null;
    this.#status.opa = this.#opa;
    if (this.#opa && (await hasPolicySources(dir))) {
      await this.rebuild();
    } else if (!this.#opa && this.#build) {
      this.#logger.warn({ dir }, 'opa not found: serving the prebuilt bundle; policies/ changes are not compiled');
    }
    if (!this.#engine) {
      const prebuilt = await newestBundle(bundlesDir);
      if (prebuilt) await this.loadBundle(prebuilt);
    }
    if (this.#config.watch) {
      await mkdir(bundlesDir, { recursive: true, mode: 0o750 });
      await this.#startWatching(dir, bundlesDir);
    }
    if (!this.#engine && this.#required) {
      await this.stop();
      const why = this.#status.last_error?.message ?? `no policies in ${dir} and no bundle in ${bundlesDir}`;
      throw jitgateError('POLICY_NOT_LOADED', why);
    }
    return this.status;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    clearInterval(this.#folderCheck);
    await Promise.all(this.#watchers.splice(0).map((w) => w.close()));
    await this.#queue;
  }

  /** Compiles the policies folder and swaps the result in (serialised with other reloads). */
  rebuild(): Promise<void> {
    return this.#enqueue(async () => {
      const opa = this.#opa;
      if (!opa) return;
      try {
        const built = await buildBundle({
          dir: this.#config.dir,
          opaPath: opa,
          outFile: join(this.#config.bundles_dir, BUNDLE_FILE_NAME),
          // Refused before its bundle is written: the bundles folder would offer it again.
          accept: (engine) => { if (engine.revision !== this.#engine?.revision) this.#recent?.vet(engine); },
        });
        this.#lastPoliciesRejection = null;
        if (built.warnings.length > 0) this.#logger.warn({ dir: this.#config.dir, problems: built.warnings }, 'policies: files that decide policy may be changed by other accounts');
        // The same sources again (a file saved twice, a broken change reverted): nothing to swap.
        if (built.engine.revision === this.#engine?.revision && this.#status.source === 'policies') {
          this.#status = { ...this.#status, last_error: null };
          return;
        }
        this.#swap(built.engine, 'policies');
      } catch (error) {
        const details = (error as { details?: { revision?: unknown } }).details;
        const key = `${String(details?.revision)}\n${toError(error).message}`;
        if (key === this.#lastPoliciesRejection) return;
        this.#lastPoliciesRejection = key;
        this.#reject('policies', error, null);
      }
    });
  }

  /**
   * Loads a prebuilt bundle file and swaps it in, unless it is the bundle already serving.
   * Resolves true when that bundle serves afterwards, false when it was refused.
   */
  async loadBundle(path: string): Promise<boolean> {
    let serving = false;
    await this.#enqueue(async () => {
      try {
        // The bundle and the folder it was dropped in: whoever can write either chooses the policy.
        const trust = checkFileTrust([dirname(resolve(path)), path]);
        if (trust.refusals.length > 0) throw jitgateError('BUNDLE_INVALID', refusalMessage(`the bundle ${path} is`, trust.refusals));
        if (trust.warnings.length > 0) this.#logger.warn({ bundle: path, problems: trust.warnings }, 'policies: files that decide policy may be changed by other accounts');
        const archive = await readBundleArchive(path);
        const sha256 = createHash('sha256').update(archive).digest('hex');
        if (sha256 === this.#engine?.sha256 || this.#rejected.has(sha256)) {
          this.#status.bundles_unchanged++;
          serving = sha256 === this.#engine?.sha256;
          return;
        }
        let bundle;
        try {
          // Unpacked once, off the event loop, for both the check and the parse.
          const files = await unpackBundle(archive);
          await this.#verifyBundle?.(archive, files);
          bundle = parseBundle(archive, files);
        } catch (error) {
          this.#rejected.add(sha256);
          this.#reject('bundle', error, null);
          return;
        }
        try {
          const engine = await PolicyEngine.load(bundle);
          this.#recent?.vet(engine);
          this.#swap(engine, 'bundle');
          serving = true;
        } catch (error) {
          this.#rejected.add(sha256);
          this.#reject('bundle', error, bundle.manifest.revision);
        }
      } catch (error) {
        this.#reject('bundle', error, null);
      }
    });
    return serving;
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => undefined);
    return this.#queue;
  }

  #swap(engine: PolicyEngine, source: 'policies' | 'bundle'): void {
    if (this.#stopped && this.#engine) return;
    const outgoing = this.#engine;
    const previous = outgoing?.revision ?? null;
    if (outgoing && outgoing.revision !== engine.revision) {
      this.#retired.delete(outgoing.revision);
      this.#retired.set(outgoing.revision, outgoing.hasDecisionLogRules ? outgoing : null);
      for (const revision of this.#retired.keys()) {
        if (this.#retired.size <= RETIRED_KEPT) break;
        this.#retired.delete(revision);
      }
    }
    this.#retired.delete(engine.revision);
    const returned = previous !== engine.revision && this.#replaced.has(engine.revision);
    if (previous !== null && previous !== engine.revision) {
      this.#replaced.delete(previous);
      this.#replaced.add(previous);
      for (const revision of this.#replaced) {
        if (this.#replaced.size <= REPLACED_KEPT) break;
        this.#replaced.delete(revision);
      }
    }
    this.#engine = engine;
    this.#status = { ...this.#status, revision: engine.revision, source, loaded_at: new Date().toISOString() };
    if (returned) {
      this.#logger.warn({ revision: engine.revision, previous, source }, 'policy loaded: a revision that served before and was replaced is back (a revert, or an older bundle handed out again)');
      this.#emit({ type: 'loaded', revision: engine.revision, source, previous, returned: true });
    } else {
      this.#logger.info({ revision: engine.revision, previous, source }, 'policy loaded');
      this.#emit({ type: 'loaded', revision: engine.revision, source, previous });
    }
  }

  #reject(source: 'policies' | 'bundle', error: unknown, revision: string | null): void {
    const message = toError(error).message;
    // Every refusal we make carries a code; anything else that fails a reload is unexpected.
    const code = isJitgateError(error) ? error.code : ERRORS.INTERNAL.code;
    const details = (error as { details?: { revision?: unknown } }).details;
    const rev = revision ?? (typeof details?.revision === 'string' ? details.revision : null);
    this.#status = { ...this.#status, last_error: { at: new Date().toISOString(), source, message } };
    this.#logger.warn({ source, revision: rev, code, error: message, serving: this.revision }, 'policy change rejected; the last good policy keeps serving');
    this.#emit({ type: 'rejected', revision: rev, source, error: message, code });
  }

  #emit(event: PolicyEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not affect which policy serves.
      }
    }
  }

  #debounce(key: string, action: () => void, quietMs = this.#config.debounce_ms): void {
    const existing = this.#timers.get(key);
    if (existing) clearTimeout(existing);
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        if (!this.#stopped) action();
      }, quietMs),
    );
  }

  #watchPolicies(dir: string, bundlesDir: string): FSWatcher {
    const policies = watch(dir, {
      ignoreInitial: true,
      ignored: (path) => path !== dir && (isNoise(path) || path.startsWith(bundlesDir + '/') || path === bundlesDir),
    });
    policies.on('all', (event, path) => {
      const relativePath = path.slice(dir.length + 1);
      // Only a change to what is compiled matters (a test file or README edit is not a new policy).
      if (relativePath === '' || isPolicySource(relativePath) || !/\.[a-z]+$/.test(relativePath)) {
        // A file deleted is often a file about to be written again (a deploy that deletes first,
        // a branch switch): the folder without it would compile (Rego reads a missing package as
        // undefined) and decide without its rules. A deletion counts once nothing follows it for
        // a while (#scheduleRebuild).
        this.#scheduleRebuild(event === 'unlink' || event === 'unlinkDir');
      }
    });
    this.#watchers.push(policies);
    return policies;
  }

  /**
   * Compiles after the quiet time; once a file was deleted, after the longer settle time until that
   * compile runs. A change after the deletion (the next file of a deploy that deletes first, then
   * copies one file at a time) must not shorten it: the folder would be compiled while the deleted
   * file is still missing.
   */
  #scheduleRebuild(removed: boolean): void {
    if (removed) this.#deletionSettling = true;
    const quietMs = this.#deletionSettling ? Math.max(this.#config.debounce_ms, DELETION_SETTLE_MS) : this.#config.debounce_ms;
    this.#debounce('policies', () => {
      this.#deletionSettling = false;
      void this.rebuild();
    }, quietMs);
  }

  /**
   * A watcher stays on the folder it started on. A deploy that replaces the folder (rm and copy,
   * a rename over it, a symlink swapped to a new release, git-sync's swapped parent) would leave
   * it on the old one for good, with the gateway serving the old policy. The folder's identity
   * (its real path and inode) is checked every second: when it changes, the folder is watched
   * anew and compiled.
   */
  #followFolder(dir: string, bundlesDir: string, watcher: FSWatcher, identity: string | null): void {
    let current = { watcher, identity };
    let checking = false;
    this.#folderCheck = setInterval(() => {
      if (checking || this.#stopped) return;
      checking = true;
      void folderIdentity(dir).then(async (identity) => {
        if (identity === current.identity) return;
        const stale = current.watcher;
        const at = this.#watchers.indexOf(stale);
        if (at < 0) return; // stopped meanwhile: stop() closes the watchers
        this.#watchers.splice(at, 1);
        await stale.close();
        if (this.#stopped) return;
        current = { watcher: this.#watchPolicies(dir, bundlesDir), identity };
        this.#logger.info({ dir }, 'the policies folder was replaced: watching the new one');
        this.#scheduleRebuild(false);
      }).catch((error: unknown) => {
        // Checked again in a second; a watcher that would not close must not end the process.
        this.#logger.warn({ dir, error: toError(error).message }, 'the policies folder could not be followed');
      }).finally(() => {
        checking = false;
      });
    }, FOLDER_CHECK_MS);
    this.#folderCheck.unref();
  }

  async #startWatching(dir: string, bundlesDir: string): Promise<void> {
    const ready: Promise<void>[] = [];
    if (this.#opa) {
      const identity = await folderIdentity(dir);
      const policies = this.#watchPolicies(dir, bundlesDir);
      ready.push(onceReady(policies));
      this.#followFolder(dir, bundlesDir, policies, identity);
    }
    // From a bundle server, what it serves is in force: a bundle dropped into bundles_dir must
    // not take over (the downloader loads and keeps what it fetches itself).
    if (!this.#build) {
      await Promise.all(ready);
      return;
    }
    const bundles = watch(bundlesDir, {
      ignoreInitial: true,
      depth: 0,
      ignored: (path) => path !== bundlesDir && isNoise(path),
      // A bundle copied in by a deploy is read once it stops growing.
      awaitWriteFinish: { stabilityThreshold: Math.max(50, this.#config.debounce_ms), pollInterval: 25 },
    });
    bundles.on('all', (event, path) => {
      if ((event === 'add' || event === 'change') && path.endsWith('.tar.gz')) {
        this.#debounce(`bundle:${path}`, () => void this.loadBundle(path));
      }
    });
    ready.push(onceReady(bundles));
    this.#watchers.push(bundles);
    await Promise.all(ready);
  }
}

const FOLDER_CHECK_MS = 1_000;
const RETIRED_KEPT = 16;
const REPLACED_KEPT = 1_000;
const DELETION_SETTLE_MS = 2_000;

/** Which folder `dir` names now: its real path (every link resolved) and inode; null when there is none. */
async function folderIdentity(dir: string): Promise<string | null> {
  try {
    const real = await realpath(dir);
    const info = await stat(real);
    return `${real}\0${String(info.dev)}:${String(info.ino)}`;
  } catch {
    return null;
  }
}

function onceReady(watcher: FSWatcher): Promise<void> {
  return new Promise((resolvePromise) => {
    watcher.once('ready', () => {
      resolvePromise();
    });
  });
}

async function hasPolicySources(dir: string): Promise<boolean> {
  try {
    const entries = await readdir(dir, { recursive: true });
    return entries.some((e) => isPolicySource(e) && e.endsWith('.rego'));
  } catch {
    return false;
  }
}

/** The stable-named bundle if present, else the most recently modified *.tar.gz. */
async function newestBundle(dir: string): Promise<string | null> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.tar.gz') && !n.startsWith('.'));
  } catch {
    return null;
  }
  if (names.includes(BUNDLE_FILE_NAME)) return join(dir, BUNDLE_FILE_NAME);
  let newest: { path: string; mtime: number } | null = null;
  for (const name of names) {
    const path = join(dir, name);
    const { mtimeMs } = await stat(path);
    if (!newest || mtimeMs > newest.mtime) newest = { path, mtime: mtimeMs };
  }
  return newest?.path ?? null;
}
