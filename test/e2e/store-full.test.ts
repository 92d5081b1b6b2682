// A store that cannot write. A full disk under the SQLite store or PostgreSQL's: reads still work, so a ping that
// reads said the store was fine while every audited request failed. Readiness must say the store cannot write, and see the
// disk come back on its own, with no traffic to try it (a load balancer that took the gateway
// out sends none).
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { pgAdminUrl, privateServer } from '../helpers/pg.js';
import { within } from '../helpers/poll.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

interface Readiness { ok: boolean; checks: { store: { ok: boolean; detail?: string } } }

async function readiness(controlUrl: string): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${controlUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

/** Writes to `file` until the disk refuses. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(16 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

t.test('SQLite on a full disk: readiness fails with why, and recovers when space returns', async (t) => {
  const mnt = mountTmpfs(t, '4m', 'jg-full-store-');
  if (mnt === null) {
    t.comment('skipped: no tmpfs can be mounted here (needs root; CI runs as root)');
    return;
  }
  const run = await demoRun(t, {
    subjects: { alice: ['eng'] },
    prefix: 'jg-full-store-',
    jitgate: { store: { type: 'sqlite', sqlite: { path: join(mnt, 'jitgate.db') } } },
  });
  const gw = await run.start();
  const alice = await run.token('alice');
  t.equal((await readiness(gw.controlUrl)).status, 200, 'ready with room on the disk');
  t.equal((await run.write(gw, alice, 'first')).status, 403, 'a denied write is answered once recorded');

  const filler = join(mnt, 'filler');
  fill(filler);
  const refused = await run.write(gw, alice, 'full');
  t.same(refused, { status: 503, code: 'JITGATE_E_AUDIT_UNAVAILABLE' }, 'a write whose denial cannot be recorded is refused');
  const full = await readiness(gw.controlUrl);
  t.equal(full.status, 503, 'not ready while the store cannot write');
  t.match(full.body.checks.store, { ok: false, detail: /^sqlite cannot write: the last write failed at .*SQLITE_FULL/ }, 'the store check says why');
  t.equal((await readiness(gw.controlUrl)).status, 503, 'and says it again: the probe write fails too');

  unlinkSync(filler);
  const back = await readiness(gw.controlUrl);
  t.equal(back.status, 200, `ready again once there is room, with no request in between (${JSON.stringify(back.body.checks.store)})`);
  t.equal((await run.write(gw, alice, 'again')).status, 403, 'denials are recorded again');
  t.equal(run.upstream.seen.length, 0, 'no write reached the upstream');
  await gw.stop();
});

t.test('PostgreSQL that takes no writes (a standby, a read-only database): readiness fails with why', async (t) => {
  const run = await demoRun(t, { subjects: { alice: ['eng'] }, prefix: 'jg-ro-store-', postgres: true });
  const gw = await run.start();
  const alice = await run.token('alice');
  t.equal((await readiness(gw.controlUrl)).status, 200, 'ready on a writable database');

  const name = new URL(String(run.dbUrl)).pathname.slice(1);
  const admin = new pg.Client({ connectionString: pgAdminUrl() });
  await admin.connect();
  t.teardown(() => admin.end());
  // The setting reaches new sessions only: end the gateway's, as a failover would.
  const readOnly = async (on: boolean): Promise<void> => {
    await admin.query(`ALTER DATABASE ${name} ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
  };
  await readOnly(true);
  // The first probe after the sessions were ended may meet a pooled connection that was cut
  // ("unreachable"); the one after it connects anew, to a database that takes no writes.
  let state = await readiness(gw.controlUrl);
  const saysWhy = (): boolean => /^postgres cannot write: the server takes no writes/.test(state.body.checks.store.detail ?? '');
  t.ok(await within(async () => { state = await readiness(gw.controlUrl); return saysWhy(); }, 10_000), `not ready on a read-only database, saying why (${JSON.stringify(state.body.checks.store)})`);
  t.equal(state.status, 503);
  const refused = await run.write(gw, alice, 'read-only');
  t.equal(refused.status, 503, 'a write whose denial cannot be recorded is refused');

  await readOnly(false);
  t.ok(await within(async () => (await readiness(gw.controlUrl)).status === 200, 10_000), 'ready again once writable');
  t.equal((await run.write(gw, alice, 'again')).status, 403, 'denials are recorded again');
  t.equal(run.upstream.seen.length, 0, 'no write reached the upstream');
  await gw.stop();
});

t.test('PostgreSQL on a full disk: readiness fails with why, and recovers when space returns', async (t) => {
  // A server of its own: a full tablespace fails the whole cluster's checkpoints, and with them
  // any DROP DATABASE of the tests running beside this one.
  const server = await privateServer(t);
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  t.teardown(() => admin.end());
  // The database gets a tablespace on a small disk of its own. Its folder must belong to the
  // server's user: the owner of the data directory, when the server runs on this host.
  const dataDir = String((await admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0]?.data_directory);
  const mnt = existsSync(dataDir) ? mountTmpfs(t, '24m', 'jg-full-pg-', statSync(dataDir)) : null;
  if (mnt === null) {
    t.comment('skipped: needs a PostgreSQL on this host and a tmpfs mounted for it (root; CI runs as root)');
    return;
  }
  const tablespace = `jg_full_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE TABLESPACE ${tablespace} LOCATION '${mnt}'`);
  // After the database is dropped (teardowns run last first), before the disk is unmounted; never throws, so the unmount still runs.
  t.teardown(() => admin.query(`DROP TABLESPACE IF EXISTS ${tablespace}`).catch((err: unknown) => { t.comment(`tablespace ${tablespace} left: ${String(err)}`); }));
  const run = await demoRun(t, { subjects: { alice: ['eng'] }, prefix: 'jg-full-pg-', postgres: { tablespace, server } });
  const gw = await run.start();
  const alice = await run.token('alice');
  t.equal((await readiness(gw.controlUrl)).status, 200, 'ready with room on the disk');
  t.equal((await run.write(gw, alice, 'first')).status, 403, 'a denied write is answered once recorded');

  // Twice: the second time the probe's own table already has a page with room, which must not
  // make a write that fits in it pass for one that needs the disk.
  for (const round of ['first', 'second']) {
    const filler = join(mnt, 'filler');
    fill(filler);
    // A record that fits in a page the table already has still goes in (the WAL is on the
    // server's own disk): writes go on until one needs a page the disk has no room for.
    let refused = await run.write(gw, alice, `${round}-full-0`);
    for (let i = 1; i < 500 && refused.status === 403; i++) refused = await run.write(gw, alice, `${round}-full-${i}`);
    t.same(refused, { status: 503, code: 'JITGATE_E_AUDIT_UNAVAILABLE' }, `${round} fill: a write whose denial cannot be recorded is refused`);
    const full = await readiness(gw.controlUrl);
    t.equal(full.status, 503, `${round} fill: not ready while the store cannot write`);
    t.match(full.body.checks.store, { ok: false, detail: /^postgres cannot write: the last write failed at .* \(53100 disk_full: could not extend file/ }, `${round} fill: the store check says why`);
    const again = await readiness(gw.controlUrl);
    t.equal(again.status, 503, `${round} fill: and says it again, the probe write fails too (${JSON.stringify(again.body.checks.store)})`);

    unlinkSync(filler);
    const back = await readiness(gw.controlUrl);
    t.equal(back.status, 200, `${round} fill: ready again once there is room, with no request in between (${JSON.stringify(back.body.checks.store)})`);
    t.equal((await run.write(gw, alice, `${round}-again`)).status, 403, `${round} fill: denials are recorded again`);
  }
  t.equal(run.upstream.seen.length, 0, 'no write reached the upstream');
  await gw.stop();
});
