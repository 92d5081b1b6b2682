// What a failed write means on SQLite, and the write readiness tries while one holds (last-write.ts).
import type Database from 'better-sqlite3';
import type { Trouble } from './last-write.js';

/** Error codes that say the file, not the statement, is the trouble. */
const FILE_TROUBLE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)/;

export const sqliteTrouble: Trouble = (err) => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && FILE_TROUBLE.test(code) ? code : null;
};

/** Sets the header's user_version to itself: a page written and synced, nothing changed. */
export function probeSqlite(db: Database.Database): Promise<void> {
  try {
    db.exec('BEGIN IMMEDIATE');
    const version = Number(db.pragma('user_version', { simple: true }));
    db.pragma(`user_version = ${String(version)}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
  return Promise.resolve();
}
