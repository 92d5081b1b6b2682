// Evaluation through the OPA Wasm ABI directly, with a cache of parsed grant sets.
//
// Most of a decision's cost is the module parsing the input JSON, and most of the input is
// the subject's grants, which stay the same from one request to the next. So a sealed grant
// set is parsed once into a region of wasm memory that evaluations never reuse (the "arena",
// just above the bundle's data), and each evaluation parses only the rest of the input and
// links the cached grants in under `grants`. The value the policy sees is the same as if the
// whole input had been parsed at once; the differential tests hold this against `opa eval`.
//
// Why this is safe with OPA's allocator: an evaluation starts by moving the heap pointer to
// the arena's top (which also forgets every free list), so nothing an evaluation allocates or
// frees can land inside the arena; compiled policies never write to input values. When the
// arena is full it is emptied whole and sets are parsed again as they come.
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { grantsJson, isSealed, type GrantSet } from './grant-set.js';

const ABI_FUNCTIONS = [
  'opa_malloc', 'opa_heap_ptr_get', 'opa_heap_ptr_set', 'opa_json_parse', 'opa_json_dump', 'opa_value_add_path',
  'opa_eval_ctx_new', 'opa_eval_ctx_set_input', 'opa_eval_ctx_set_data', 'opa_eval_ctx_set_entrypoint', 'opa_eval_ctx_get_result', 'eval',
] as const;

interface AbiExports {
  opa_malloc(size: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(ptr: number): void;
  opa_json_parse(addr: number, len: number): number;
  opa_json_dump(addr: number): number;
  opa_value_add_path(base: number, path: number, value: number): number;
  opa_eval_ctx_new(): number;
  opa_eval_ctx_set_input(ctx: number, input: number): void;
  opa_eval_ctx_set_data(ctx: number, data: number): void;
  opa_eval_ctx_set_entrypoint(ctx: number, entrypoint: number): void;
  opa_eval_ctx_get_result(ctx: number): number;
  eval(ctx: number): number;
}

/** The SDK's LoadedPolicy fields this module relies on (set by loadPolicy and setData). */
interface SdkState {
  mem: { buffer: ArrayBuffer };
  dataAddr: number;
  dataHeapPtr: number;
}

/**
 * Past this many bytes of cached grant sets the arena is emptied and refilled on demand.
 * 32 MiB holds roughly 10,000 sample-sized grants; wasm memory may grow to 256 MiB.
 */
export const ARENA_LIMIT_BYTES = 32 * 1024 * 1024;

export class WasmHeap {
  readonly #abi: AbiExports;
  readonly #state: SdkState;
  readonly #arenaBase: number;
  #arenaTop: number;
  /** Address of the parsed path ["grants"], kept in the arena. */
  #grantsPath = 0;
  #parsed = new WeakMap<GrantSet, number>();
  #resets = 0;
  readonly #limit: number;
  /** A Buffer over the module's memory, replaced when the memory grows (growth detaches the old one). */
  #view: Buffer = Buffer.alloc(0);

  /** Throws when the module lacks a function of the OPA Wasm ABI this relies on (a bundle from an old opa). */
  constructor(policy: LoadedPolicy, instanceExports: unknown, arenaLimitBytes: number) {
    const exports = instanceExports as Record<string, unknown>;
    const missing = ABI_FUNCTIONS.filter((name) => typeof exports[name] !== 'function');
    if (missing.length > 0) throw new Error(`policy.wasm lacks the OPA Wasm ABI function(s) ${missing.join(', ')}`);
    this.#limit = arenaLimitBytes;
    this.#abi = instanceExports as AbiExports;
    this.#state = policy;
    this.#arenaBase = this.#state.dataHeapPtr;
    this.#arenaTop = this.#arenaBase;
  }

  /** How many times the arena was emptied (metrics, tests). */
  get arenaResets(): number {
    return this.#resets;
  }

  get arenaBytes(): number {
    return this.#arenaTop - this.#arenaBase;
  }

  /**
   * Evaluates `entrypoint` against the input whose JSON is `json`, with the sealed set `grants`
   * (when given) linked in as its `grants` member. Returns the result set's JSON text.
   */
  evaluate(entrypoint: number, json: string | undefined, grants: GrantSet | null): string {
    if (grants !== null && !isSealed(grants)) throw new Error('only a sealed grant set is kept in the module');
    const grantsAddr = grants === null ? 0 : this.#cachedGrants(grants);
    const abi = this.#abi;
    abi.opa_heap_ptr_set(this.#arenaTop);
    // An undefined input (only from evaluateRaw) is address 0, as in the SDK.
    const input = json === undefined ? 0 : this.#parse(json);
    if (grantsAddr !== 0 && abi.opa_value_add_path(input, this.#grantsPath, grantsAddr) !== 0) {
      throw new Error('could not link the cached grants into the input');
    }
    const ctx = abi.opa_eval_ctx_new();
    abi.opa_eval_ctx_set_input(ctx, input);
    abi.opa_eval_ctx_set_data(ctx, this.#state.dataAddr);
    abi.opa_eval_ctx_set_entrypoint(ctx, entrypoint);
    const rc = abi.eval(ctx);
    if (rc !== 0) throw new Error(`evaluation failed with code ${String(rc)}`);
    return this.#read(abi.opa_json_dump(abi.opa_eval_ctx_get_result(ctx)));
  }

  #cachedGrants(grants: GrantSet): number {
    const known = this.#parsed.get(grants);
    if (known !== undefined) return known;
    const json = grantsJson(grants);
    // Parsed values take about nine times the room of their JSON text (which they also keep).
    if (this.arenaBytes > 0 && this.arenaBytes + json.length * 10 > this.#limit) this.#empty();
    if (this.#grantsPath === 0) this.#grantsPath = this.#persist('["grants"]');
    const addr = this.#persist(json);
    this.#parsed.set(grants, addr);
    return addr;
  }

  /** Parses `json` into the arena, above everything kept so far. */
  #persist(json: string): number {
    this.#abi.opa_heap_ptr_set(this.#arenaTop);
    try {
      const addr = this.#parse(json);
      this.#arenaTop = this.#abi.opa_heap_ptr_get();
      return addr;
    } catch (err) {
      this.#empty();
      throw err;
    }
  }

  #empty(): void {
    this.#arenaTop = this.#arenaBase;
    this.#grantsPath = 0;
    this.#parsed = new WeakMap();
    this.#resets++;
  }

  #parse(json: string): number {
    const length = Buffer.byteLength(json, 'utf8');
    const raw = this.#abi.opa_malloc(length);
    // Taken after malloc: the allocation may have grown (and so replaced) the memory buffer.
    this.#memory().write(json, raw, length, 'utf8');
    const addr = this.#abi.opa_json_parse(raw, length);
    if (addr === 0) throw new Error('the policy module could not parse the input');
    return addr;
  }

  #memory(): Buffer {
    const buffer = this.#state.mem.buffer;
    if (this.#view.buffer !== buffer) this.#view = Buffer.from(buffer);
    return this.#view;
  }

  #read(addr: number): string {
    const memory = this.#memory();
    const end = memory.indexOf(0, addr);
    return memory.toString('utf8', addr, end < 0 ? memory.length : end);
  }
}

/** `{...}` plus a `grants` member: the JSON text of the whole input. */
export function withGrants(restJson: string, grantsJsonText: string): string {
  return restJson === '{}' ? `{"grants":${grantsJsonText}}` : `${restJson.slice(0, -1)},"grants":${grantsJsonText}}`;
}
