// The authenticator the listeners hold for the gateway's lifetime, whose identity settings a
// config reload replaces: API keys, token issuers and mapped certificates change without a
// restart, and a credential taken out of the file stops working from the next request on.
import type { ManagedAuthenticator } from './authenticator.js';
import type { KeySet } from './keyset.js';

export class ReloadableAuthenticator implements ManagedAuthenticator {
  #inner: ManagedAuthenticator;
  /** keysGeneration = #base + what the current authenticator's own generation has grown since it came in. */
  #base = 0;
  #innerStart: number;

  constructor(inner: ManagedAuthenticator) {
    this.#inner = inner;
    this.#innerStart = inner.keysGeneration;
  }

  start(options?: { keysRequired?: boolean }): Promise<void> {
    return this.#inner.start(options);
  }

  stop(keep?: ReadonlySet<KeySet>): void {
    this.#inner.stop(keep);
  }

  get keySets(): ReadonlyMap<string, KeySet> {
    return this.#inner.keySets;
  }

  authenticate(...args: Parameters<ManagedAuthenticator['authenticate']>): ReturnType<ManagedAuthenticator['authenticate']> {
    return this.#inner.authenticate(...args);
  }

  /**
   * Grows on every replacement too: whatever was vouched for by the settings replaced (open
   * sessions included) is decided again under the new ones.
   */
  get keysGeneration(): number {
    return this.#base + this.#inner.keysGeneration - this.#innerStart;
  }

  /** Stops `candidate`, made to replace this one but not swapped in, leaving the key sets it shares with this one running. */
  discard(candidate: ManagedAuthenticator): void {
    candidate.stop(new Set(this.keySets.values()));
  }

  /** Swaps in `next`, already started, and stops the one it replaces (but for the key sets they share). */
  replace(next: ManagedAuthenticator): void {
    const previous = this.#inner;
    this.#base = this.keysGeneration + 1;
    this.#inner = next;
    this.#innerStart = next.keysGeneration;
    previous.stop(new Set(next.keySets.values()));
  }
}
