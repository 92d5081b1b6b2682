// What a failed write means on PostgreSQL, and the write readiness tries while one holds (last-write.ts).
import type { Trouble } from './last-write.js';
import type { Migration, Sql } from './types.js';

/**
 * SQLSTATEs that say the server (its disk, memory, files or mode), not the statement, is the
 * trouble: classes 53 (insufficient resources) and 58 (system error), a read-only transaction,
 * and corruption. Named for the operator reading /readyz.
 */
const SERVER_TROUBLE = new Map([
  ['25006', 'read_only_sql_transaction'],
  ['53000', 'insufficient_resources'],
  ['53100', 'disk_full'],
  ['53200', 'out_of_memory'],
  ['53300', 'too_many_connections'],
  ['53400', 'configuration_limit_exceeded'],
  ['58000', 'system_error'],
  ['58030', 'io_error'],
  ['58P01', 'undefined_file'],
  ['58P02', 'duplicate_file'],
  ['XX001', 'data_corrupted'],
  ['XX002', 'index_corrupted'],
]);

export const postgresTrouble: Trouble = (err) => {
  const code = (err as { code?: unknown }).code;
  const name = typeof code === 'string' ? SERVER_TROUBLE.get(code) : undefined;
  return name === undefined ? null : `${String(code)} ${name}`;
};

/** Command tags of statements that change rows: one that returned outside a transaction committed a write. */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY', 'TRUNCATE']);

export function wrote(command: string | undefined): boolean {
  return command !== undefined && WRITES.has(command);
}

/** The store's own tables (part `store`), beside those of the grants and audit parts. */
export const STORE_MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'jitgate_write_probe: the write readiness tries while writes fail', sql: 'CREATE TABLE jitgate_write_probe (probed_at TIMESTAMPTZ NOT NULL)' },
];

/**
 * A write that needs what a failed one lacked. A row that fits in a page the table already has
 * goes in on a full disk (PostgreSQL reserved the page's space when it added it), and the WAL may
 * be on another disk than the tables: so the table is emptied first, which gives it a new, empty
 * file in the database's tablespace, and the row must then extend that file by a page: the
 * allocation a table or index of the store fails with 53100 when the disk is full. The COMMIT
 * flushes the WAL to this server's disk (`local`: a readiness probe does not wait on standbys).
 * The table only ever holds this one row. Emptying it waits at most 2 s for its lock (a pg_dump
 * holds one on every table): past that the probe fails, and readiness keeps saying what the
 * last write met.
 */
export async function probePostgres(tx: <T>(fn: (sql: Sql) => Promise<T>) => Promise<T>): Promise<void> {
  await tx(async (sql) => {
    await sql.query('SET LOCAL synchronous_commit = local');
    await sql.query("SET LOCAL lock_timeout = '2s'");
    await sql.query('TRUNCATE jitgate_write_probe');
    await sql.query('INSERT INTO jitgate_write_probe (probed_at) VALUES (now())');
  });
}
