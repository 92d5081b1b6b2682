import type { Dialect, Migration, Sql } from './types.js';

export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS jitgate_migrations (
  part TEXT NOT NULL,
  version INTEGER NOT NULL,
  description TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  PRIMARY KEY (part, version)
)`;

export function migrationSql(m: Migration, dialect: Dialect): string {
  return typeof m.sql === 'string' ? m.sql : m.sql[dialect];
}

/** Checks that versions run 1, 2, 3... so a gap or duplicate is caught at start, not in production data. */
export function checkMigrations(part: string, migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of ${part}: expected version ${i + 1}, found ${m.version}`);
  });
}

export async function appliedVersion(sql: Sql, part: string): Promise<number> {
  const rows = await sql.query<{ v: number | string | null }>(
    'SELECT MAX(version) AS v FROM jitgate_migrations WHERE part = $1',
    [part],
  );
  return Number(rows[0]?.v ?? 0);
}
