// Results of the decisions made in the current millisecond, by their exact input.
//
// An engine's answer depends on nothing but the input and the bundle: every builtin a loadable
// bundle can call is a pure function here, and time.now_ns() answers the input's now_ns (engine
// load refuses bundles that call anything else). So an input met again gets the answer it got,
// without evaluating. The input's now_ns is the millisecond the request was decided in, so only
// the same request of the same caller with the same grants, decided in the same millisecond,
// meets an earlier one: bursts of identical requests. Kept for one millisecond at a time, so it
// stays small and never outlives the grant sets it was keyed on.
import type { LinkedMember } from './wasm-heap.js';

/** Entries a millisecond may hold; past them further inputs are decided without being kept. */
const MAX_ENTRIES = 1024;

interface Entry<R> {
  /** The sealed members the input linked in, compared by identity (a new set is a new object). */
  linked: readonly LinkedMember[];
  result: R;
}

function sameMembers(a: readonly LinkedMember[], b: readonly LinkedMember[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as LinkedMember;
    const y = b[i] as LinkedMember;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}

/** R: what a decision leaves for the later ones (its result, its id). */
export class DecisionMemo<R> {
  #nowNs = -1;
  /** By the JSON of the input's unsealed part (which holds now_ns), then by the sealed members. */
  #entries = new Map<string, Entry<R>[]>();
  #hits = 0;

  /** How many decisions were answered from the memo (tests, diagnostics). */
  get hits(): number {
    return this.#hits;
  }

  /** What an equal input's decision in this millisecond left, if there was one. */
  get(nowNs: number, restJson: string, linked: readonly LinkedMember[]): R | undefined {
    if (nowNs !== this.#nowNs) return undefined;
    const entries = this.#entries.get(restJson);
    if (entries === undefined) return undefined;
    for (const entry of entries) {
      if (sameMembers(entry.linked, linked)) {
        this.#hits++;
        return entry.result;
      }
    }
    return undefined;
  }

  /** Keeps a decision's outcome; it must not change (it is handed to every later decision of the same input). */
  set(nowNs: number, restJson: string, linked: readonly LinkedMember[], result: R): void {
    // Another millisecond (the next one, or an earlier one after the clock stepped back): the
    // entries kept so far can no longer be met, and go.
    if (nowNs !== this.#nowNs) {
      this.#nowNs = nowNs;
      this.#entries = new Map();
    }
    if (this.#entries.size >= MAX_ENTRIES) return;
    const entries = this.#entries.get(restJson);
    if (entries === undefined) this.#entries.set(restJson, [{ linked, result }]);
    else entries.push({ linked, result });
  }
}
