// Store part: one SQL port over SQLite (embedded default) and PostgreSQL (replicas).
import { jitgateError } from '../errors.js';
import { PostgresDb } from './postgres.js';
import { SqliteDb } from './sqlite.js';
import type { Db } from './types.js';

export type { Db, Dialect, Migration, Row, Sql } from './types.js';
export { StoreNotWritable } from './types.js';
export { storeConfigSchema, type StoreConfig } from './config.js';
export { claimSqliteFile } from './sqlite-owner.js';

import type { StoreConfig } from './config.js';

/** `readOnly`: the store is only read (the audit commands): SQLite then creates and changes nothing, and a file that is not there is an error. */
export function openDb(config: StoreConfig, options: { readOnly?: boolean } = {}): Db {
  if (config.type === 'postgres') {
    const url = config.postgres.url ?? (config.postgres.url_env ? process.env[config.postgres.url_env] : undefined);
    // A setting of the file that cannot be used, as an unset ${NAME} is: its code, not a bare message.
    if (!url) {
      const where = config.postgres.url_env === undefined ? 'set jitgate.store.postgres.url' : `the environment variable ${config.postgres.url_env} (postgres.url_env) is not set`;
      throw jitgateError('CONFIG_INVALID', `jitgate.store.postgres: no URL: ${where}`);
    }
    return new PostgresDb({ url, poolSize: config.postgres.pool_size });
  }
  return new SqliteDb(config.sqlite.path, options.readOnly === true);
}
