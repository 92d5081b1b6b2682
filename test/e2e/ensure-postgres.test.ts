// scripts/ensure-postgres.sh runs as root in CI and keeps its cluster under /tmp, where any
// account can create the folder first. Once, a link planted there made root hand the folder it
// pointed at to postgres (chown follows links), and the cluster trusted every TCP connection,
// so another account logged in as its superuser and, through COPY ... FROM PROGRAM, read that
// folder as the postgres account.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { repoRoot, tempDir } from '../helpers/gateway.js';
import { privateServer } from '../helpers/pg.js';

t.test('a link planted where the cluster goes is refused, and root\'s folder stays root\'s', (t) => {
  const dir = tempDir('jg-ensure-pg-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const victim = join(dir, 'roots-folder');
  mkdirSync(victim, { mode: 0o700 });
  const planted = join(dir, 'cluster');
  symlinkSync(victim, planted);
  const run = spawnSync('bash', ['scripts/ensure-postgres.sh'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, JITGATE_TEST_PG_URL: '', JITGATE_TEST_PG_PORT: '1', JITGATE_TEST_PG_DIR: planted },
  });
  t.not(run.status, 0);
  t.match(run.stderr, /symbolic link/);
  t.equal(statSync(victim).uid, process.getuid?.() ?? 0, 'the folder the link named keeps its owner');
  t.end();
});

const notRoot = process.getuid?.() !== 0 && 'needs root to start a cluster as postgres';
t.test('the cluster takes no TCP connection without its password', { skip: notRoot }, async (t) => {
  const url = await privateServer(t);
  t.match(url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:/, 'the URL carries a password');
  const without = new URL(url);
  without.password = '';
  const refused = new pg.Client({ connectionString: without.toString() });
  await t.rejects(refused.connect(), /password/);
  await refused.end().catch(() => undefined);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.same((await client.query('select 1 as one')).rows, [{ one: 1 }]);
  await client.end();
});
