// The bytes of request bodies the gateway holds for its policy, all routes and callers together.
// Each route's `policy_body.max_bytes` bounds one body; nothing bounded how many were held at once,
// so signed-in callers that each sent all but the last byte of a body took memory without bound
// for `read_timeout_ms` each (1,500 bodies of 1 MiB: 1.6 GB). A read that would go past the
// budget is refused instead: the gateway is busy, not the caller wrong.
import type { IncomingMessage } from 'node:http';

export class BodyBudget {
  readonly #limit: number;
  #held = 0;
  /** What each request holds: given back whole, once, however the request ends. */
  readonly #byRequest = new WeakMap<IncomingMessage, number>();

  readonly #refused: () => void;

  /** `refused` is told of each read turned away (a metric). */
  constructor(limit: number, refused: () => void = () => undefined) {
    this.#limit = limit;
    this.#refused = refused;
  }

  /** Bytes held now, by every request together. */
  get held(): number {
    return this.#held;
  }

  /** Counts `bytes` more as held by `req`; false, taking nothing, when that would pass the budget. */
  take(req: IncomingMessage, bytes: number): boolean {
    if (this.#held + bytes > this.#limit) {
      this.#refused();
      return false;
    }
    this.#held += bytes;
    this.#byRequest.set(req, (this.#byRequest.get(req) ?? 0) + bytes);
    return true;
  }

  /** Gives back all `req` holds (a second call gives nothing). */
  release(req: IncomingMessage): void {
    const bytes = this.#byRequest.get(req);
    if (bytes === undefined) return;
    this.#byRequest.delete(req);
    this.#held -= bytes;
  }
}
