// The bytes of request bodies the gateway holds for its policy, all routes and callers together.
// Each route's `policy_body.max_bytes` bounds one body; nothing bounded how many were held at once,
// so signed-in callers that each sent all but the last byte of a body took memory without bound
// for `read_timeout_ms` each (1,500 bodies of 1 MiB: 1.6 GB). A read that would go past the
// budget is refused instead: the gateway is busy, not the caller wrong.
//
// Bytes are held until the request's answer is done, and a streamed answer (an event stream, a
// long poll) may last: one caller holding a few such requests kept every other caller's bodies
// out. So each caller (subject) may hold only a share of the budget; past it only that caller's
// reads are refused.
import type { IncomingMessage } from 'node:http';

/** A caller's share when none is configured: an eighth of the budget, at least 1 MiB (one body at the largest `max_bytes`), at most the budget. */
export function defaultCallerShare(limit: number): number {
  return Math.min(limit, Math.max(Math.floor(limit / 8), 1024 * 1024));
}

export class BodyBudget {
  readonly #limit: number;
  readonly #callerShare: number;
  #held = 0;
  /** What each request holds, and for whom: given back whole, once, however the request ends. */
  readonly #byRequest = new WeakMap<IncomingMessage, { holder: string; bytes: number }>();
  /** Bytes held by each caller with any held (an entry per caller with a body being read or answered). */
  readonly #byHolder = new Map<string, number>();

  readonly #refused: () => void;

  /** `refused` is told of each read turned away (a metric). */
  constructor(limit: number, callerShare: number = defaultCallerShare(limit), refused: () => void = () => undefined) {
    this.#limit = limit;
    this.#callerShare = callerShare;
    this.#refused = refused;
  }

  /** Bytes held now, by every request together. */
  get held(): number {
    return this.#held;
  }

  /**
   * Counts `bytes` more as held by `req` for `holder` (the caller); false, taking nothing, when
   * that would pass the budget or the caller's share of it.
   */
  take(req: IncomingMessage, bytes: number, holder: string): boolean {
    const ofHolder = this.#byHolder.get(holder) ?? 0;
    if (this.#held + bytes > this.#limit || ofHolder + bytes > this.#callerShare) {
      this.#refused();
      return false;
    }
    this.#held += bytes;
    this.#byHolder.set(holder, ofHolder + bytes);
    const mine = this.#byRequest.get(req);
    if (mine) mine.bytes += bytes;
    else this.#byRequest.set(req, { holder, bytes });
    return true;
  }

  /** Gives back all `req` holds (a second call gives nothing). */
  release(req: IncomingMessage): void {
    const mine = this.#byRequest.get(req);
    if (mine === undefined) return;
    this.#byRequest.delete(req);
    this.#held -= mine.bytes;
    const left = (this.#byHolder.get(mine.holder) ?? 0) - mine.bytes;
    if (left > 0) this.#byHolder.set(mine.holder, left);
    else this.#byHolder.delete(mine.holder);
  }
}
