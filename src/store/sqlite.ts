// Embedded store: one better-sqlite3 connection in WAL mode. better-sqlite3 is
// synchronous, so every statement and transaction is queued on one lane: an async
// transaction body can never interleave with another statement on the connection.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Db, Migration, Row, Sql } from './types.js';
import { MIGRATIONS_TABLE, appliedVersion, checkMigrations, migrationSql } from './migrate.js';
import { Lane } from './lane.js';
import { BackwardsStep } from './clock-check.js';
import { WalFollower } from './sqlite-wal.js';
import { LastWrite } from './last-write.js';
import { probeSqlite, sqliteTrouble } from './sqlite-writes.js';

/**
 * `$n` → `?`, with the parameter order to bind: better-sqlite3 refuses positional
 * arguments for numbered `?NNN` parameters, and `$n` may repeat or come out of order.
 */
function toSqlite(text: string): { text: string; order: number[] } {
  const order: number[] = [];
  const rewritten = text.replace(/\$(\d+)/g, (_m, n: string) => {
    order.push(Number(n) - 1);
    return '?';
  });
  return { text: rewritten, order };
}

/** How often the write-ahead log's file is looked at between transactions. */
const WAL_CHECK_MS = 1_000;

function bindable(params: readonly unknown[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
}

export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly lane = new Lane();
  private readonly statements = new Map<string, { stmt: Database.Statement; order: number[] }>();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  readonly #backwards = new BackwardsStep();
  /** The write-ahead log, followed by a writing connection to a file (sqlite-wal.ts). */
  #wal: WalFollower | null = null;
  #walTimer: NodeJS.Timeout | null = null;
  readonly #lastWrite = new LastWrite(sqliteTrouble);
  /** Statements run that write, counted: only a COMMIT after one says the file takes writes. */
  #writes = 0;

  /** `readOnly`: for commands that only read (audit verify, export): nothing is created or changed. */
  constructor(path: string, readOnly = false) {
    if (readOnly) {
      this.db = new Database(path, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 5000');
      return;
    }
    if (path !== ':memory:') {
      // The trail and every grant's reason are in this file: for the gateway's user alone. SQLite
      // gives its -wal and -shm files the database file's mode, so creating that one 0600 is enough.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(path, 'a', 0o600));
      // A file an earlier version created world-readable is made private too.
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        try {
          if (existsSync(file)) chmodSync(file, 0o600);
        } catch {
          // Not ours to change (a reader running as another user): left as it is.
        }
      }
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    if (path !== ':memory:') {
      const wal = new WalFollower(`${path}-wal`);
      this.#wal = wal;
      // Before every transaction too; between them, a log removed is noticed within a second.
      const follow = (): Promise<void> => {
        wal.follow(this.db);
        return Promise.resolve();
      };
      this.#walTimer = setInterval(() => { this.lane.run(follow).catch(() => undefined); }, WAL_CHECK_MS);
      this.#walTimer.unref();
    }
    // FULL: a commit is on disk before it returns. With NORMAL a power loss could take the
    // last records of requests already answered (and forwarded), while the checkpoint file
    // written after them survived and called the shortened trail tampered with.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  private run<T extends Row>(text: string, params: readonly unknown[]): T[] {
    let prepared = this.statements.get(text);
    if (!prepared) {
      const { text: sqliteText, order } = toSqlite(text);
      prepared = { stmt: this.db.prepare(sqliteText), order };
      this.statements.set(text, prepared);
    }
    const { stmt, order } = prepared;
    const args = bindable(order.map((i) => params[i]));
    if (stmt.reader) return stmt.all(...args) as T[];
    try {
      stmt.run(...args);
    } catch (err) {
      this.#lastWrite.failed(err);
      throw err;
    }
    // Outside a transaction the statement committed; inside, COMMIT decides (tx()).
    this.#writes++;
    if (!this.db.inTransaction) this.#lastWrite.succeeded();
    return [];
  }

  query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.lane.run(() => Promise.resolve(this.run<T>(text, params)));
  }

  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.lane.run(async () => {
      this.#wal?.follow(this.db);
      const sql: Sql = { query: <R extends Row = Row>(t: string, p: readonly unknown[] = []) => Promise.resolve(this.run<R>(t, p)) };
      try {
        this.db.exec('BEGIN IMMEDIATE');
        const writesBefore = this.#writes;
        const result = await fn(sql);
        this.db.exec('COMMIT');
        if (this.#writes !== writesBefore) this.#lastWrite.succeeded();
        return result;
      } catch (err) {
        this.#lastWrite.failed(err);
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async migrate(part: string, migrations: readonly Migration[]): Promise<void> {
    checkMigrations(part, migrations);
    await this.lane.run(() => Promise.resolve(this.db.exec(MIGRATIONS_TABLE)));
    for (const m of migrations) {
      await this.tx(async (sql) => {
        if ((await appliedVersion(sql, part)) >= m.version) return;
        this.db.exec(migrationSql(m, 'sqlite'));
        await sql.query('INSERT INTO jitgate_migrations (part, version, description, applied_at) VALUES ($1, $2, $3, $4)', [
          part, m.version, m.description, new Date().toISOString(),
        ]);
      });
    }
  }

  notify(channel: string, payload: string): Promise<void> {
    // One process owns an SQLite file, so the change feed is in-process.
    for (const fn of this.listeners.get(channel) ?? []) queueMicrotask(() => { fn(payload); });
    return Promise.resolve();
  }

  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(onMessage);
    return Promise.resolve(() => {
      set.delete(onMessage);
      return Promise.resolve();
    });
  }

  /** One process on one clock: off only while it has stepped back (clock-check.ts). */
  clockOff(): string | null {
    return this.#backwards.check();
  }

  async ping(): Promise<void> {
    await this.lane.run(() => {
      this.#wal?.follow(this.db);
      return this.#lastWrite.check(() => probeSqlite(this.db));
    });
    await this.query('SELECT 1 AS one');
  }

  close(): Promise<void> {
    if (this.#walTimer) clearInterval(this.#walTimer);
    return this.lane.run(() => {
      this.db.close();
      return Promise.resolve();
    });
  }
}
