// One loaded bundle: a compiled policy.wasm instance with its data, evaluated synchronously.
// An engine is immutable once loaded; hot reload builds a new one and swaps the reference,
// so an evaluation always runs wholly on one policy.
import { randomUUID } from 'node:crypto';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { ValidateFunction } from 'ajv';
import { jitgateError, toError } from '../errors.js';
import { customBuiltins, CUSTOM_BUILTIN_NAMES, SDK_BUILTIN_NAMES, type DecisionClock } from './builtins.js';
import type { PolicyBundle } from './bundle.js';
import { wasmApi, type WasmMemoryDescriptor } from './wasm.js';
import {
  AUTHZ_ENTRYPOINT,
  ELEVATION_ENTRYPOINT,
  ENTRYPOINTS,
  type AuthzInput,
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
} from './schemas.js';

const WASM_PAGE = 64 * 1024;
/** 2 MiB to start; a runaway policy stops at 256 MiB (memory growth then fails the evaluation, which denies). */
const MEMORY: WasmMemoryDescriptor = { initial: (2 * 1024 * 1024) / WASM_PAGE, maximum: (256 * 1024 * 1024) / WASM_PAGE };

interface OpaExports {
  builtins(): number;
  opa_json_dump(addr: number): number;
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of `json` in an ArrayBuffer of exactly their length (what the SDK's evaluate reads whole). */
function encodeJson(json: string): ArrayBuffer {
  const bytes = utf8.encode(json);
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer
    : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

const HOST_BUILTINS = new Set([...SDK_BUILTIN_NAMES, ...CUSTOM_BUILTIN_NAMES]);

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

export class PolicyEngine {
  readonly revision: string;
  readonly sha256: string;
  readonly info: EngineInfo;
  readonly #policy: LoadedPolicy;
  readonly #clock: DecisionClock;
  readonly #authzId: number;
  readonly #elevationId: number;

  private constructor(policy: LoadedPolicy, clock: DecisionClock, bundle: PolicyBundle, info: EngineInfo) {
    this.#policy = policy;
    this.#clock = clock;
    this.revision = bundle.manifest.revision;
    this.sha256 = bundle.sha256;
    this.info = info;
    const ids = policy.entrypoints as Record<string, number>;
    this.#authzId = ids[AUTHZ_ENTRYPOINT] ?? -1;
    this.#elevationId = ids[ELEVATION_ENTRYPOINT] ?? -1;
  }

  /**
   * Instantiates a bundle and checks it can serve: both entrypoints present, every builtin
   * it calls implemented here, data loadable. Throws BUNDLE_INVALID with the reason.
   */
  static async load(bundle: PolicyBundle, required: readonly string[] = ENTRYPOINTS): Promise<PolicyEngine> {
    const clock: DecisionClock = { now_ns: 0 };
    let policy: LoadedPolicy;
    try {
      const module = await wasmApi.compile(bundle.wasm);
      policy = await loadPolicy(module, MEMORY, customBuiltins(clock));
    } catch (thrown) {
      throw jitgateError('BUNDLE_INVALID', `policy.wasm does not load: ${toError(thrown).message}`, undefined, thrown);
    }
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>).sort();
    const missing = required.filter((e) => !entrypoints.includes(e));
    if (missing.length > 0) {
      throw jitgateError('BUNDLE_INVALID', `missing entrypoint(s) ${missing.join(', ')}; the bundle has ${entrypoints.join(', ') || 'none'}`);
    }
    const hostBuiltins = hostBuiltinsOf(policy);
    const unavailable = hostBuiltins.filter((name) => !HOST_BUILTINS.has(name));
    if (unavailable.length > 0) {
      throw jitgateError('BUNDLE_INVALID', `the policy uses builtins jitgate does not implement: ${unavailable.join(', ')}`);
    }
    try {
      policy.setData(bundle.data);
    } catch (thrown) {
      throw jitgateError('BUNDLE_INVALID', `data.json does not load: ${toError(thrown).message}`, undefined, thrown);
    }
    return new PolicyEngine(policy, clock, bundle, {
      revision: bundle.manifest.revision,
      sha256: bundle.sha256,
      entrypoints,
      hostBuiltins,
    });
  }

  authorize(input: AuthzInput): Decision<AuthzResult> {
    // Only authz decisions carry their input's JSON: the data path logs every one of them.
    return this.#decide(this.#authzId, AUTHZ_ENTRYPOINT, input, validateAuthzInput, validateAuthzResult, true);
  }

  elevation(input: ElevationInput): Decision<ElevationResult> {
    return this.#decide(this.#elevationId, ELEVATION_ENTRYPOINT, input, validateElevationInput, validateElevationResult, false);
  }

  #decide<I extends { now_ns: number }, R>(
    id: number,
    name: string,
    input: I,
    validateInput: ValidateFunction<I>,
    validateResult: ValidateFunction<R>,
    keepInputJson: boolean,
  ): Decision<R> {
    if (!validateInput(input)) {
      throw jitgateError('POLICY_INPUT_INVALID', `${name}: ${describeErrors(validateInput)}`);
    }
    const started = process.hrtime.bigint();
    // Every time.now_ns() call in this decision answers the same instant: the input's.
    this.#clock.now_ns = input.now_ns;
    let resultSet: unknown;
    let inputJson: string;
    try {
      // Serialized here rather than inside the SDK so the decision log can reuse the very text the
      // policy saw; an ArrayBuffer input is taken by the SDK as already-encoded JSON.
      inputJson = JSON.stringify(input);
      resultSet = this.#policy.evaluate(encodeJson(inputJson), id);
    } catch (thrown) {
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
    const decision: Decision<R> = { result, revision: this.revision, decision_id: randomUUID(), eval_ns: evalNs };
    if (keepInputJson) decision.input_json = inputJson;
    return decision;
  }

  /** Raw evaluation of an entrypoint, for tests and tools (no validation). */
  evaluateRaw(entrypoint: string, input: unknown, nowNs: number): unknown {
    this.#clock.now_ns = nowNs;
    try {
      return this.#policy.evaluate(input, entrypoint);
    } catch (thrown) {
      throw jitgateError('POLICY_EVAL', `${entrypoint}: ${toError(thrown).message}`, undefined, thrown);
    }
  }
}
