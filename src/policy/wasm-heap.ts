// Evaluation through the OPA Wasm ABI directly, with a cache of parsed input members.
//
// Most of a decision's cost is the module parsing the input JSON, and most of the input is
// the subject's grants and the subject itself, which stay the same from one request to the
// next. So a sealed member (sealed.ts) is parsed once into a region of wasm memory that
// evaluations never reuse (the "arena", just above the bundle's data), and each evaluation
// parses only the rest of the input and links the cached members in under their names. The
// value the policy sees is the same as if the whole input had been parsed at once; the
// differential tests hold this against `opa eval`.
//
// Why this is safe with OPA's allocator: an evaluation starts by moving the heap pointer to
// the arena's top (which also forgets every free list), so nothing an evaluation allocates or
// frees can land inside the arena; compiled policies never write to input values. When the
// arena is full it is emptied whole and sets are parsed again as they come.
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { isSealed, jsonOf, memberName } from './sealed.js';

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

/** The SDK's LoadedPolicy fields this module relies on (set by loadPolicy, and by setData or a data image: data-image.ts). */
interface SdkState {
  mem: { buffer: ArrayBuffer };
  dataAddr: number;
  dataHeapPtr: number;
}

/** A sealed member of an input, linked in under `name` rather than parsed with the rest. */
export type LinkedMember = readonly [name: string, value: object];

/**
 * Past this many bytes of cached members the arena is emptied and refilled on demand.
 * 32 MiB holds roughly 10,000 sample-sized grants; wasm memory may grow to 256 MiB.
 */
export const ARENA_LIMIT_BYTES = 32 * 1024 * 1024;

export class WasmHeap {
  readonly #abi: AbiExports;
  readonly #state: SdkState;
  readonly #arenaBase: number;
  #arenaTop: number;
  /** Addresses of parsed paths ["<name>"], kept in the arena. */
  #paths = new Map<string, number>();
  #parsed = new WeakMap<object, number>();
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
   * Evaluates `entrypoint` against the input whose JSON is `json` (undefined: no input), with
   * each sealed member in `linked` added under its name. Returns the result set's JSON text.
   */
  evaluate(entrypoint: number, json: string | undefined, linked: readonly LinkedMember[]): string {
    const abi = this.#abi;
    // Members first: caching one moves the arena's top, where this input's allocations start.
    const addrs = linked.length === 0 ? null : this.#link(linked);
    abi.opa_heap_ptr_set(this.#arenaTop);
    // An undefined input (only from evaluateRaw) is address 0, as in the SDK.
    const input = json === undefined ? 0 : this.#parse(json);
    if (addrs !== null) {
      for (let i = 0; i < addrs.length; i += 2) {
        if (abi.opa_value_add_path(input, addrs[i] as number, addrs[i + 1] as number) !== 0) {
          throw new Error('could not link a cached member into the input');
        }
      }
    }
    const ctx = abi.opa_eval_ctx_new();
    abi.opa_eval_ctx_set_input(ctx, input);
    abi.opa_eval_ctx_set_data(ctx, this.#state.dataAddr);
    abi.opa_eval_ctx_set_entrypoint(ctx, entrypoint);
    const rc = abi.eval(ctx);
    if (rc !== 0) throw new Error(`evaluation failed with code ${String(rc)}`);
    return this.#read(abi.opa_json_dump(abi.opa_eval_ctx_get_result(ctx)));
  }

  /** [path, value, path, value, ...] addresses of the members, parsing those not cached yet. */
  #link(linked: readonly LinkedMember[]): number[] {
    // Room for every member not cached yet is made at once: emptying the arena between two
    // members would drop the first one's parsed value.
    let needed = 0;
    for (const [name, value] of linked) {
      if (!isSealed(value)) throw new Error(`input.${name}: only a sealed value is kept in the module`);
      // Parsed values take about nine times the room of their JSON text (which they also keep).
      if (!this.#parsed.has(value)) needed += ((jsonOf(value) ?? 'null').length + name.length) * 10;
    }
    if (needed > 0 && this.arenaBytes > 0 && this.arenaBytes + needed > this.#limit) this.#empty();
    const addrs: number[] = [];
    for (const [name, value] of linked) addrs.push(this.#cachedPath(name), this.#cachedValue(value));
    return addrs;
  }

  #cachedValue(value: object): number {
    let addr = this.#parsed.get(value);
    if (addr === undefined) {
      addr = this.#persist(jsonOf(value) ?? 'null');
      this.#parsed.set(value, addr);
    }
    return addr;
  }

  #cachedPath(name: string): number {
    let addr = this.#paths.get(name);
    if (addr === undefined) {
      addr = this.#persist(JSON.stringify([name]));
      this.#paths.set(name, addr);
    }
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
    this.#paths = new Map();
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

/** An input as evaluate() takes it, and its whole JSON (for the decision log). */
export interface SplitInput {
  /** JSON.stringify(input), the sealed members' JSON reused rather than made again. */
  inputJson: string;
  /** The same without the sealed members. */
  restJson: string;
  linked: LinkedMember[];
}

export function splitInput(input: object): SplitInput {
  const fields = input as Record<string, unknown>;
  let whole = '';
  let rest = '';
  const linked: LinkedMember[] = [];
  // Object.keys gives JSON.stringify's order; members it would omit (undefined) are left out.
  // Concatenated, not joined: the whole input is only read if the decision is logged, and a
  // large grant set is then not copied per decision here.
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const json = jsonOf(value);
    if (json === undefined) continue;
    const member = memberName(key) + json;
    whole += whole === '' ? `{${member}` : `,${member}`;
    if (isSealed(value)) linked.push([key, value]);
    else rest += rest === '' ? `{${member}` : `,${member}`;
  }
  return { inputJson: whole === '' ? '{}' : `${whole}}`, restJson: rest === '' ? '{}' : `${rest}}`, linked };
}
