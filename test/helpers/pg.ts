// Real PostgreSQL for tests: started from Debian's packages by scripts/ensure-postgres.sh
// when JITGATE_TEST_PG_URL is not set; each caller gets a database of its own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function pgAdminUrl(): string {
  if (!process.env.JITGATE_TEST_PG_URL) {
    process.env.JITGATE_TEST_PG_URL = execFileSync('bash', ['scripts/ensure-postgres.sh'], { cwd: root, encoding: 'utf8' }).trim();
  }
  return process.env.JITGATE_TEST_PG_URL;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => { resolve(port); });
    });
  });
}

/**
 * A PostgreSQL server of the test's own (scripts/ensure-postgres.sh on another port and folder),
 * stopped and removed when the test ends: for tests that trouble the whole server, such as
 * filling a tablespace's disk, which fails every checkpoint of the cluster, other tests' included.
 * Its admin URL.
 */
export async function privateServer(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'jitgate-private-pg-'));
  const env = { ...process.env, JITGATE_TEST_PG_URL: '', JITGATE_TEST_PG_PORT: String(port), JITGATE_TEST_PG_DIR: dir };
  const url = execFileSync('bash', ['scripts/ensure-postgres.sh'], { cwd: root, encoding: 'utf8', env }).trim();
  t.teardown(() => {
    const version = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b)).at(-1) ?? '';
    const ctl = [`/usr/lib/postgresql/${version}/bin/pg_ctl`, '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'];
    execFileSync(process.getuid?.() === 0 ? 'runuser' : ctl[0]!, process.getuid?.() === 0 ? ['-u', 'postgres', '--', ...ctl] : ctl.slice(1), { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return url;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * `tablespace`: where the database's files go (a small disk of the test's own, to fill);
 * `server`: the admin URL of another server than the shared one (privateServer).
 */
export async function freshDatabase(options: { tablespace?: string; server?: string } = {}): Promise<TestDatabase> {
  const admin = options.server ?? pgAdminUrl();
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
