// Real PostgreSQL for tests: started from Debian's packages by scripts/ensure-postgres.sh
// when JITGATE_TEST_PG_URL is not set; each caller gets a database of its own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function pgAdminUrl(): string {
  if (!process.env.JITGATE_TEST_PG_URL) {
    process.env.JITGATE_TEST_PG_URL = execFileSync('bash', ['scripts/ensure-postgres.sh'], { cwd: root, encoding: 'utf8' }).trim();
  }
  return process.env.JITGATE_TEST_PG_URL;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** `tablespace`: where the database's files go (a small disk of the test's own, to fill). */
export async function freshDatabase(options: { tablespace?: string } = {}): Promise<TestDatabase> {
  const admin = pgAdminUrl();
  const name = `jg_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}${options.tablespace === undefined ? '' : ` TABLESPACE ${options.tablespace}`}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
