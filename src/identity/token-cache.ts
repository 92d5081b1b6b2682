// Verified-token cache: a signature is checked once per token lifetime, not once per request.
// Entries die at the token's exp and whenever the key they were verified under leaves the key set.
import type { Subject } from '../policy/index.js';

export interface CachedToken {
  subject: Subject;
  expMs: number;
  kid: string | null;
  generation: number;
}

export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(private readonly maxEntries: number) {}

  get(token: string, nowMs: number): CachedToken | undefined {
    const entry = this.entries.get(token);
    if (entry && nowMs >= entry.expMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry;
  }

  set(token: string, entry: CachedToken): void {
    if (this.maxEntries <= 0) return;
    // Map keeps insertion order: evict the oldest insertions first (bounded memory, no scan).
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, entry);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  get size(): number {
    return this.entries.size;
  }
}
