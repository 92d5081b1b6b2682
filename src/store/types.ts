// A small SQL port shared by the grants and audit parts, so both stores (SQLite and
// PostgreSQL) run the same statements. Statements use PostgreSQL's `$1` placeholders;
// the SQLite adapter rewrites them.

export type Row = Record<string, unknown>;

export interface Sql {
  query<T extends Row = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Migration {
  /** Increasing per part, starting at 1. */
  version: number;
  description: string;
  /** One or more statements; for dialect differences give both. */
  sql: string | { sqlite: string; postgres: string };
}

export type Dialect = 'sqlite' | 'postgres';

export interface Db extends Sql {
  readonly dialect: Dialect;
  /**
   * Runs fn in one transaction (SQLite: BEGIN IMMEDIATE on a serialized connection;
   * PostgreSQL: a pooled client, READ COMMITTED). Rolls back when fn throws.
   * `lockKey`, when given, serializes transactions that take the same key across
   * every process sharing the database (pg_advisory_xact_lock; SQLite is serialized anyway).
   */
  tx<T>(fn: (sql: Sql) => Promise<T>, opts?: { lockKey?: string }): Promise<T>;
  /** Applies the part's migrations not yet applied, in order, each in its own transaction. */
  migrate(part: string, migrations: readonly Migration[]): Promise<void>;
  /** Change feed (PostgreSQL LISTEN/NOTIFY). On SQLite, notifications stay in-process. */
  notify(channel: string, payload: string, sql?: Sql): Promise<void>;
  /**
   * Calls onMessage per notification; onReconnect after the feed was lost and re-established (resync!).
   * onLost, when given, is called as soon as the feed is lost: notifications may be missed from then on.
   */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReconnect: () => void,
    onLost?: () => void,
  ): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  /**
   * Why this process's clock cannot be trusted to stamp and end grants (it is further from the
   * shared database's than the bound, clock-check.ts), or null. Measured while a change feed is
   * listened to; SQLite, one process on one clock, is never off.
   */
  clockOff(): string | null;
  close(): Promise<void>;
}

/** What ping() throws for a store that answers but cannot write (a full disk, a read-only file or server). */
export class StoreNotWritable extends Error {
  override name = 'StoreNotWritable';
}
