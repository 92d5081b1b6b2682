// SQLite writes its write-ahead log to the file it opened. One deleted or replaced by hand (a
// clean-up script, an operator "freeing space") is written to all the same: nobody else can read
// it, and a crash takes everything not yet copied into the database file with it, the whole
// trail in a young store. So the log's path is compared with the file last seen there, and
// when they differ the frames are copied into the database file and a log started at the path.
import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';

function identity(path: string): string | null {
  try {
    const st = statSync(path);
    return `${String(st.dev)}:${String(st.ino)}`;
  } catch {
    return null;
  }
}

export class WalFollower {
  /** The log file last seen at the path; null until SQLite first creates one. */
  #seen: string | null = null;

  constructor(private readonly path: string) {}

  /**
   * Checks the log at the path is the one SQLite writes to, and starts one anew when it is not.
   * Throws when that fails (another connection holds the database): nothing more may be
   * committed to a log no one else can read.
   */
  follow(db: Database.Database): void {
    const now = identity(this.path);
    if (now === this.#seen) return;
    if (this.#seen === null) {
      this.#seen = now;
      return;
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    // Leaving WAL mode closes the log SQLite had open; entering it again opens one at the path.
    const left = db.pragma('journal_mode = DELETE', { simple: true });
    const back = db.pragma('journal_mode = WAL', { simple: true });
    if (left !== 'delete' || back !== 'wal') {
      throw new Error(`the SQLite write-ahead log ${this.path} was removed or replaced, and a new one could not be started (another process holds the database)`);
    }
    this.#seen = identity(this.path);
  }
}
