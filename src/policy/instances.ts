// The instances of one compiled policy: the one evaluations run on, and a spare. An evaluation
// that fails inside the module (a conflict, a builtin error, a trap) unwinds through opa_abort
// and leaves the module's own stack pointer where it was: each such failure leaks a little of
// the module's stack, and some leave its heap unusable at once, after which every decision would
// fail until a reload. Nothing outside the module can reset that, so the instance is replaced
// instead: after a trap (the module's memory or a result it wrote can no longer be trusted) at
// once, after an abort once enough have leaked (hundreds would exhaust the stack; replacing on
// each would let a caller who can trigger one buy an instantiation per request). With the spare
// when there is one, or, until a new one is ready, the current one goes on (a few failures more
// are harmless; decisions that fail still deny).
import type { WasmHeap } from './wasm-heap.js';

/** Aborts an instance takes before it is replaced (each leaks a little stack; ~580 exhaust it). */
const ABORTS_PER_INSTANCE = 64;

export class PolicyInstances {
  #current: WasmHeap;
  #spare: WasmHeap | null = null;
  #loading: Promise<void> | null = null;
  /** The current instance has failed, and no spare was there to take its place. */
  #tainted = false;
  #aborts = 0;
  #replaced = 0;

  constructor(first: WasmHeap, private readonly make: () => Promise<WasmHeap>) {
    this.#current = first;
    this.#prepare();
  }

  /** The instance to evaluate on. */
  get heap(): WasmHeap {
    return this.#current;
  }

  /** How many times a failed instance was replaced (tests, diagnostics). */
  get replaced(): number {
    return this.#replaced;
  }

  /**
   * An evaluation failed inside the module. `trapped`: the module trapped, or what it answered
   * could not be read (replaced now); otherwise it aborted cleanly (replaced after a number of them).
   */
  failed(trapped: boolean): void {
    if (!trapped && ++this.#aborts < ABORTS_PER_INSTANCE) return;
    if (this.#spare !== null) {
      this.#swap(this.#spare);
      this.#spare = null;
    } else {
      this.#tainted = true;
    }
    this.#prepare();
  }

  /** Resolves once no instance is being made (tests). */
  async settled(): Promise<void> {
    while (this.#loading !== null) await this.#loading;
  }

  #swap(next: WasmHeap): void {
    this.#current = next;
    this.#tainted = false;
    this.#aborts = 0;
    this.#replaced++;
  }

  #prepare(): void {
    if (this.#spare !== null || this.#loading !== null) return;
    this.#loading = this.make().then((made) => {
      this.#loading = null;
      if (this.#tainted) {
        this.#swap(made);
        this.#prepare();
      } else {
        this.#spare = made;
      }
    }, () => {
      // Made again on the next failure; meanwhile the current instance serves.
      this.#loading = null;
    });
  }
}
