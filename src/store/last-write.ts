// Whether the store took its latest write. A full disk, or a file or server gone read-only, fails
// every write while reads (and so a ping that reads) still work: readiness must say so, and must
// see the store come back even when no traffic arrives to try (a load balancer that took the
// gateway out of rotation sends none). Each store says which errors are its own trouble rather
// than the statement's, and which write to try (sqlite-writes.ts, postgres-writes.ts).
import { StoreNotWritable } from './types.js';

/** The code to report when `err` says the store (its disk, file or server), not the statement, is the trouble; else null. */
export type Trouble = (err: unknown) => string | null;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class LastWrite {
  #failure: string | null = null;
  #probing: Promise<void> | null = null;

  constructor(private readonly trouble: Trouble) {}

  failed(err: unknown): void {
    const code = this.trouble(err);
    if (code !== null) this.#failure = `the last write failed at ${new Date().toISOString()} (${code}: ${messageOf(err)})`;
  }

  /** For a write that committed only: a read, or a statement inside a transaction that rolled back, proves nothing. */
  succeeded(): void {
    this.#failure = null;
  }

  /**
   * Throws StoreNotWritable while the latest write failed and `probe`, a small real write tried
   * now, fails too. A check asked for while a probe runs waits for that one rather than piling up.
   */
  check(probe: () => Promise<void>): Promise<void> {
    if (this.#failure === null) return Promise.resolve();
    this.#probing ??= this.#probe(probe).finally(() => {
      this.#probing = null;
    });
    return this.#probing;
  }

  async #probe(probe: () => Promise<void>): Promise<void> {
    try {
      await probe();
      this.succeeded();
    } catch (err) {
      this.failed(err);
      // A write that committed meanwhile cleared the failure: the probe's own error is the news.
      throw new StoreNotWritable(this.#failure ?? `the write tried failed (${messageOf(err)})`);
    }
  }
}
