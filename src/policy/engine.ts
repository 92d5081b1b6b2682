// One loaded bundle: a compiled policy.wasm instance with its data, evaluated synchronously.
// An engine's policy is immutable once loaded; hot reload builds a new one and swaps the
// reference, so an evaluation always runs wholly on one policy. (An instance that failed an
// evaluation is replaced by a fresh one of the same module: instances.ts.) Its data.json is
// parsed once, off the event loop, into a memory image every instance copies in (data-image.ts).
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { ValidateFunction } from 'ajv';
import { jitgateError, toError } from '../errors.js';
import { uuid } from '../uuid.js';
import { customBuiltins, CUSTOM_BUILTIN_NAMES, SDK_BUILTIN_NAMES, type DecisionClock } from './builtins.js';
import type { PolicyBundle } from './bundle.js';
import { wasmApi, type WasmMemoryDescriptor, type WasmModule } from './wasm.js';
import { ARENA_LIMIT_BYTES, splitInput, WasmHeap, type LinkedMember } from './wasm-heap.js';
import type { GrantSet } from './grant-set.js';
import { isSealed, seal } from './sealed.js';
import { DecisionMemo } from './decision-memo.js';
import { PolicyInstances } from './instances.js';
import { applyDataImage, parseData, type DataImage, type DataParseOptions } from './data-image.js';
import {
  AUTHZ_ENTRYPOINT,
  ELEVATION_ENTRYPOINT,
  ENTRYPOINTS,
  LOG_DROP_ENTRYPOINT,
  LOG_MASK_ENTRYPOINT,
  type AuthzInput,
  type DecisionLogRules,
  type AuthzResult,
  type Decision,
  type ElevationInput,
  type ElevationResult,
} from './contract.js';
import {
  describeErrors,
  validateAuthzInput,
  validateAuthzResult,
  validateElevationInput,
  validateElevationResult,
  validateLogMask,
  validatePolicyGrants,
} from './schemas.js';

const WASM_PAGE = 64 * 1024;
/** 2 MiB to start; a runaway policy stops at 256 MiB (memory growth then fails the evaluation, which denies). */
const MEMORY: WasmMemoryDescriptor = { initial: (2 * 1024 * 1024) / WASM_PAGE, maximum: (256 * 1024 * 1024) / WASM_PAGE };

interface OpaExports {
  builtins(): number;
  opa_json_dump(addr: number): number;
}

const HOST_BUILTINS = new Set([...SDK_BUILTIN_NAMES, ...CUSTOM_BUILTIN_NAMES]);

/**
 * Whether an evaluation failed by more than an abort: the module trapped (WebAssembly's
 * RuntimeError: out-of-bounds memory, `unreachable`), ran out of the thread's stack, or the
 * result it wrote did not parse. opa_abort (a conflict, a failed builtin) arrives as the SDK
 * throws it (a string), a host builtin's failure as its Error. Running out of stack unwinds
 * thousands of the module's frames, none restoring its stack pointer: the instance's next
 * evaluation then traps (memory access out of bounds), so it is not given one.
 */
function trapped(thrown: unknown): boolean {
  return thrown instanceof SyntaxError
    || (thrown instanceof Error && thrown.name === 'RuntimeError')
    || (thrown instanceof RangeError && thrown.message.includes('Maximum call stack size exceeded'));
}

/** Sealed sets that passed the grant schema: a set cannot change, so it is checked once. */
const validSets = new WeakSet<GrantSet>();

function grantsValid(grants: GrantSet): boolean {
  if (validSets.has(grants)) return true;
  if (!validatePolicyGrants(grants)) return false;
  if (isSealed(grants)) validSets.add(grants);
  return true;
}

function instanceOf(policy: LoadedPolicy): { exports: unknown } {
  // The SDK keeps either an Instance or an {instance, module} pair here.
  const holder = policy.wasmInstance as unknown as { exports?: unknown; instance?: { exports: unknown } };
  return holder.instance ?? { exports: holder.exports };
}

/** Builtins a compiled module calls on the host (everything it does not implement itself). */
export function hostBuiltinsOf(policy: LoadedPolicy): string[] {
  const exports = instanceOf(policy).exports as OpaExports;
  const addr = exports.opa_json_dump(exports.builtins());
  const memory = new Uint8Array((policy.mem as unknown as { buffer: ArrayBuffer }).buffer);
  const end = memory.indexOf(0, addr);
  const names = JSON.parse(new TextDecoder().decode(memory.subarray(addr, end))) as Record<string, number>;
  return Object.keys(names).sort();
}

export interface EngineInfo {
  revision: string;
  sha256: string;
  entrypoints: string[];
  hostBuiltins: string[];
}

export interface EngineOptions {
  /** Bytes of wasm memory for parsed grant sets before that cache is emptied (default ARENA_LIMIT_BYTES). */
  arenaLimitBytes?: number;
  /** Answer an input met again in the same millisecond from its first decision (default true; decision-memo.ts). */
  decisionMemo?: boolean;
  /** How data.json is parsed off the event loop (data-image.ts; defaults for a gateway). */
  dataParse?: DataParseOptions;
}

export class PolicyEngine {
  readonly revision: string;
  readonly sha256: string;
  readonly info: EngineInfo;
  readonly #instances: PolicyInstances;
  readonly #entrypointIds: Record<string, number>;
  readonly #clock: DecisionClock;
  readonly #authzId: number;
  readonly #elevationId: number;
  readonly #logDropId: number;
  readonly #logMaskId: number;
  readonly #memo: DecisionMemo<{ result: AuthzResult; decisionId: string }> | null;

  private constructor(instances: PolicyInstances, entrypointIds: Record<string, number>, clock: DecisionClock, bundle: PolicyBundle, info: EngineInfo, memo: boolean) {
    this.#instances = instances;
    this.#entrypointIds = entrypointIds;
    this.#clock = clock;
    this.revision = bundle.manifest.revision;
    this.sha256 = bundle.sha256;
    this.info = info;
    this.#authzId = entrypointIds[AUTHZ_ENTRYPOINT] ?? -1;
    this.#elevationId = entrypointIds[ELEVATION_ENTRYPOINT] ?? -1;
    this.#logDropId = entrypointIds[LOG_DROP_ENTRYPOINT] ?? -1;
    this.#logMaskId = entrypointIds[LOG_MASK_ENTRYPOINT] ?? -1;
    this.#memo = memo ? new DecisionMemo() : null;
  }

  /**
   * Instantiates a bundle and checks it can serve: both entrypoints present, every builtin
   * it calls implemented here, data loadable, the ABI functions the engine calls exported.
   * Throws BUNDLE_INVALID with the reason.
   */
  static async load(bundle: PolicyBundle, required: readonly string[] = ENTRYPOINTS, options: EngineOptions = {}): Promise<PolicyEngine> {
    const clock: DecisionClock = { now_ns: 0 };
    let policy: LoadedPolicy;
    let module: WasmModule;
    try {
      module = await wasmApi.compile(bundle.wasm);
      policy = await loadPolicy(module, MEMORY, customBuiltins(clock));
    } catch (thrown) {
      throw jitgateError('BUNDLE_INVALID', `policy.wasm does not load: ${toError(thrown).message}`, undefined, thrown);
    }
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>).sort();
    const missing = required.filter((e) => !entrypoints.includes(e));
    if (missing.length > 0) {
      throw jitgateError('BUNDLE_INVALID', `missing entrypoint(s) ${missing.join(', ')}; the bundle has ${entrypoints.join(', ') || 'none'}`);
    }
    // Served without them, the decision log would keep what the author's rules drop or mask,
    // while opa test and opa eval show the rules working.
    const uncompiled = (bundle.logRules ?? []).filter((e) => !entrypoints.includes(e));
    if (uncompiled.length > 0) {
      throw jitgateError('BUNDLE_INVALID', `the policies define the decision-log rule(s) ${uncompiled.join(', ')}, but policy.wasm was built without them: build with ${uncompiled.map((e) => `-e ${e}`).join(' ')} (jitgate build does)`);
    }
    const hostBuiltins = hostBuiltinsOf(policy);
    const unavailable = hostBuiltins.filter((name) => !HOST_BUILTINS.has(name));
    if (unavailable.length > 0) {
      throw jitgateError('BUNDLE_INVALID', `the policy uses builtins jitgate does not implement: ${unavailable.join(', ')}`);
    }
    // Parsed once, off the event loop; every instance of this policy takes in the same image.
    let image: DataImage;
    try {
      image = await parseData({ module, data: bundle.data, memory: MEMORY }, options.dataParse);
      await applyDataImage(policy, image);
    } catch (thrown) {
      throw jitgateError('BUNDLE_INVALID', `data.json does not load: ${toError(thrown).message}`, undefined, thrown);
    }
    const arenaLimit = options.arenaLimitBytes ?? ARENA_LIMIT_BYTES;
    let heap: WasmHeap;
    try {
      // After the data is in: the heap keeps its cached grant sets just above it.
      heap = new WasmHeap(policy, instanceOf(policy).exports, arenaLimit);
    } catch (thrown) {
      throw jitgateError('BUNDLE_INVALID', toError(thrown).message, undefined, thrown);
    }
    // Another instance of the same module and data, as this one was made (instances.ts).
    const another = async (): Promise<WasmHeap> => {
      const spare = await loadPolicy(module, MEMORY, customBuiltins(clock));
      await applyDataImage(spare, image);
      return new WasmHeap(spare, instanceOf(spare).exports, arenaLimit);
    };
    const instances = new PolicyInstances(heap, another);
    // Served with a spare ready: the first failed evaluation is replaced at once.
    await instances.settled();
    return new PolicyEngine(instances, policy.entrypoints as Record<string, number>, clock, bundle, {
      revision: bundle.manifest.revision,
      sha256: bundle.sha256,
      entrypoints,
      hostBuiltins,
    }, options.decisionMemo ?? true);
  }

  /** How often the cache of parsed grant sets was emptied for lack of room (tests, diagnostics). */
  get grantArenaResets(): number {
    return this.#instances.heap.arenaResets;
  }

  /** How many times an instance that failed an evaluation was replaced (tests, diagnostics). */
  get instancesReplaced(): number {
    return this.#instances.replaced;
  }

  /** Resolves once no replacement instance is being made (tests). */
  instancesSettled(): Promise<void> {
    return this.#instances.settled();
  }

  /** How many authz decisions were answered from the decision memo (tests, diagnostics). */
  get memoHits(): number {
    return this.#memo?.hits ?? 0;
  }

  authorize(input: AuthzInput): Decision<AuthzResult> {
    if (!validateAuthzInput(input)) {
      throw jitgateError('POLICY_INPUT_INVALID', `${AUTHZ_ENTRYPOINT}: ${describeErrors(validateAuthzInput)}`);
    }
    if (!grantsValid(input.grants)) {
      throw jitgateError('POLICY_INPUT_INVALID', `${AUTHZ_ENTRYPOINT}: grants${describeErrors(validatePolicyGrants)}`);
    }
    // Sealed members (grant set, subject, route) travel apart from the rest of the input, so
    // each is parsed into the module once rather than on every request (wasm-heap.ts).
    const split = splitInput(input);
    const started = process.hrtime.bigint();
    const known = this.#memo?.get(input.now_ns, split.restJson, split.linked);
    let decision: Decision<AuthzResult>;
    if (known !== undefined) {
      decision = {
        result: known.result, revision: this.revision, decision_id: uuid(), eval_ns: Number(process.hrtime.bigint() - started), answered_from: known.decisionId,
      };
    } else {
      decision = this.#decide(this.#authzId, AUTHZ_ENTRYPOINT, input.now_ns, split.restJson, split.linked, validateAuthzResult);
      // Sealed whether kept or not, so every result is as unchangeable as a shared one (and its JSON made once).
      seal(decision.result);
      this.#memo?.set(input.now_ns, split.restJson, split.linked, { result: decision.result, decisionId: decision.decision_id });
    }
    // Only authz decisions carry their input's JSON: the data path logs every one of them.
    decision.input_json = split.inputJson;
    return decision;
  }

  elevation(input: ElevationInput): Decision<ElevationResult> {
    if (!validateElevationInput(input)) {
      throw jitgateError('POLICY_INPUT_INVALID', `${ELEVATION_ENTRYPOINT}: ${describeErrors(validateElevationInput)}`);
    }
    return this.#decide(this.#elevationId, ELEVATION_ENTRYPOINT, input.now_ns, JSON.stringify(input), [], validateElevationResult);
  }

  #decide<R>(
    id: number,
    name: string,
    nowNs: number,
    inputJson: string,
    linked: readonly LinkedMember[],
    validateResult: ValidateFunction<R>,
  ): Decision<R> {
    const started = process.hrtime.bigint();
    // Every time.now_ns() call in this decision answers the same instant: the input's.
    this.#clock.now_ns = nowNs;
    let resultSet: unknown;
    try {
      resultSet = JSON.parse(this.#instances.heap.evaluate(id, inputJson, linked));
    } catch (thrown) {
      this.#instances.failed(trapped(thrown));
      throw jitgateError('POLICY_EVAL', `${name}: ${toError(thrown).message}`, { revision: this.revision }, thrown);
    }
    const evalNs = Number(process.hrtime.bigint() - started);
    const first = Array.isArray(resultSet) ? (resultSet[0] as { result?: unknown } | undefined) : undefined;
    const result = first?.result;
    if (result === undefined || (typeof result === 'object' && result !== null && !('allow' in result))) {
      throw jitgateError('POLICY_UNDEFINED', `${name}: no allow decision`, { revision: this.revision });
    }
    if (!validateResult(result)) {
      throw jitgateError('POLICY_RESULT_INVALID', `${name}: ${describeErrors(validateResult)}`, { revision: this.revision });
    }
    return { result, revision: this.revision, decision_id: uuid(), eval_ns: evalNs };
  }

  /** Whether the bundle has OPA's decision-log rules (system.log.drop / system.log.mask). */
  get hasDecisionLogRules(): boolean {
    return this.#logDropId >= 0 || this.#logMaskId >= 0;
  }

  /**
   * Asks system.log.drop, then system.log.mask, about a decision-log event (its JSON, unmasked,
   * as OPA gives it; only made when the bundle has such rules). Null when it defines neither. Throws POLICY_EVAL or
   * POLICY_RESULT_INVALID: the caller must then not log the event as it is.
   */
  decisionLogRules(eventJson: () => string): DecisionLogRules | null {
    if (!this.hasDecisionLogRules) return null;
    const json = eventJson();
    // The rules run when the event is logged: time.now_ns() answers that instant.
    this.#clock.now_ns = Date.now() * 1e6;
    const value = (id: number, name: string): unknown => {
      if (id < 0) return undefined;
      try {
        const set = JSON.parse(this.#instances.heap.evaluate(id, json, [])) as { result?: unknown }[];
        return set[0]?.result;
      } catch (thrown) {
        this.#instances.failed(trapped(thrown));
        throw jitgateError('POLICY_EVAL', `${name}: ${toError(thrown).message}`, { revision: this.revision }, thrown);
      }
    };
    const drop = value(this.#logDropId, LOG_DROP_ENTRYPOINT);
    if (drop !== undefined && typeof drop !== 'boolean') {
      throw jitgateError('POLICY_RESULT_INVALID', `${LOG_DROP_ENTRYPOINT}: must be a boolean`, { revision: this.revision });
    }
    if (drop === true) return { drop: true, mask: [] };
    const mask = value(this.#logMaskId, LOG_MASK_ENTRYPOINT) ?? [];
    if (!validateLogMask(mask)) {
      throw jitgateError('POLICY_RESULT_INVALID', `${LOG_MASK_ENTRYPOINT}: ${describeErrors(validateLogMask)}`, { revision: this.revision });
    }
    return { drop: false, mask };
  }

  /** Raw evaluation of an entrypoint, for tests and tools (no validation): the result set. */
  evaluateRaw(entrypoint: string, input: unknown, nowNs: number): unknown {
    this.#clock.now_ns = nowNs;
    const id = this.#entrypointIds[entrypoint];
    try {
      if (id === undefined) throw new Error(`entrypoint ${entrypoint} is not in this bundle`);
      // The same split as authorize() when the input has sealed members, so tests reach that path too.
      if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
        const split = splitInput(input);
        return JSON.parse(this.#instances.heap.evaluate(id, split.restJson, split.linked));
      }
      return JSON.parse(this.#instances.heap.evaluate(id, input === undefined ? undefined : JSON.stringify(input), []));
    } catch (thrown) {
      if (id !== undefined) this.#instances.failed(trapped(thrown));
      throw jitgateError('POLICY_EVAL', `${entrypoint}: ${toError(thrown).message}`, undefined, thrown);
    }
  }
}
