// Runs a test body against both stores: a fresh SQLite file and a fresh PostgreSQL database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresDb } from '../../src/store/postgres.js';
import { SqliteDb } from '../../src/store/sqlite.js';
import type { Db } from '../../src/store/index.js';
import { freshDatabase } from '../helpers/pg.js';

export interface TestStore {
  db: Db;
  dir: string;
  /** Connection details, for child processes. */
  store: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };
  close(): Promise<void>;
}

export const DIALECTS = ['sqlite', 'postgres'] as const;

export async function openStore(dialect: (typeof DIALECTS)[number]): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'jg-audit-'));
  if (dialect === 'sqlite') {
    const path = join(dir, 'jitgate.db');
    const db = new SqliteDb(path);
    return {
      db, dir, store: { type: 'sqlite', path },
      async close() { await db.close(); rmSync(dir, { recursive: true, force: true }); },
    };
  }
  const pg = await freshDatabase();
  const db = new PostgresDb({ url: pg.url, poolSize: 4 });
  return {
    db, dir, store: { type: 'postgres', url: pg.url },
    async close() { await db.close(); await pg.drop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
