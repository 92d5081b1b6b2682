// Whether the SQLite file took its latest write. A full disk or a file gone read-only fails
// every commit while reads (and so a `SELECT 1` ping) still work: readiness must say so, and
// must see the disk come back even when no traffic arrives to try (a load balancer that took
// the gateway out of rotation sends none).
import type Database from 'better-sqlite3';
import { StoreNotWritable } from './types.js';

/** Error codes that say the file, not the statement, is the trouble. */
const FILE_TROUBLE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)/;

export class LastWrite {
  #failure: string | null = null;

  failed(err: unknown): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && FILE_TROUBLE.test(code)) {
      this.#failure = `the last write failed at ${new Date().toISOString()} (${code}: ${(err as Error).message})`;
    }
  }

  succeeded(): void {
    this.#failure = null;
  }

  /**
   * Throws StoreNotWritable while the latest write failed and a write tried now fails too.
   * The write sets the header's user_version to itself: a page written and synced, nothing changed.
   */
  check(db: Database.Database): void {
    if (this.#failure === null) return;
    try {
      db.exec('BEGIN IMMEDIATE');
      const version = Number(db.pragma('user_version', { simple: true }));
      db.pragma(`user_version = ${String(version)}`);
      db.exec('COMMIT');
      this.succeeded();
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      this.failed(err);
      throw new StoreNotWritable(this.#failure);
    }
  }
}
