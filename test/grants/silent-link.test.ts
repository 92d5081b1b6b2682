// A replica whose link to PostgreSQL goes silent (a partition, a database host that died hard:
// no FIN, no RST) hears no revocation. It must notice by itself and stop vouching for its grants,
// so the data path refuses (503) rather than honouring a grant revoked elsewhere.
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { openDb } from '../../src/store/index.js';
import { PostgresDb } from '../../src/store/postgres.js';
import { freshDatabase } from '../helpers/pg.js';
import { alice, bob, eventually, replica, TestClock } from './helpers.js';

/** A TCP relay to PostgreSQL that can stop passing bytes while keeping every connection open. */
async function freezableRelay(target: URL): Promise<{ url: string; freeze(): void; thaw(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((a) => {
    sockets.add(a);
    a.on('error', () => undefined);
    if (frozen) return;
    const b = connect(Number(target.port), target.hostname);
    sockets.add(b);
    b.on('error', () => undefined);
    a.on('data', (d: Buffer) => { if (!frozen) b.write(d); });
    b.on('data', (d: Buffer) => { if (!frozen) a.write(d); });
    a.on('close', () => { if (!frozen) b.destroy(); });
    b.on('close', () => { if (!frozen) a.destroy(); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze: () => { frozen = true; },
    thaw: () => { frozen = false; },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

t.test('a silent link: the replica stops vouching for its grants, and vouches again once the store answers', async (t) => {
  const pg = await freshDatabase();
  const relay = await freezableRelay(new URL(pg.url));
  const clock = new TestClock();
  const direct = openDb({ type: 'postgres', sqlite: { path: 'unused' }, postgres: { url: pg.url, pool_size: 2 } });
  const viaRelay = openDb({ type: 'postgres', sqlite: { path: 'unused' }, postgres: { url: relay.url, pool_size: 2 } });
  const b = await replica(direct, clock);
  const a = await replica(viaRelay, clock);
  t.teardown(async () => {
    relay.thaw();
    await a.stop();
    await b.stop();
    await viaRelay.close();
    await direct.close();
    await relay.close();
    await pg.drop();
  });

  const req = await b.workflow.request(alice, { role: 'writer', duration_seconds: 3600, reason: 'silent link' });
  const granted = await b.workflow.approve(bob, req.id);
  await eventually(() => a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms).length === 1);
  t.ok(a.cache.ready, 'replica A holds alice\'s grant and vouches for it');

  relay.freeze();
  await b.workflow.revoke(alice, granted.grant_id!, 'done');
  t.same(b.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'revoked on B');
  // The revocation cannot reach A. What A must not do is go on vouching for what it last heard.
  await eventually(() => !a.cache.ready, 20_000);
  t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'A vouches for no grant (the data path answers 503)');

  relay.thaw();
  await eventually(() => a.cache.ready, 20_000);
  t.same(a.cache.activeGrants({ id: 'alice', kind: 'user' }, clock.ms), [], 'once back, A has resynced: the revoked grant is gone');
});

t.test('a transaction on a link gone silent fails after one statement timeout, not two (no ROLLBACK sent into the silence)', async (t) => {
  const pg = await freshDatabase();
  const relay = await freezableRelay(new URL(pg.url));
  const db = new PostgresDb({ url: relay.url, poolSize: 1, queryTimeoutMs: 1_000 });
  // One statement alone on the same silent link, timed beside the transaction: the yardstick,
  // so a slow machine slows both sides (no fixed bound).
  const single = new PostgresDb({ url: relay.url, poolSize: 1, queryTimeoutMs: 1_000 });
  t.teardown(async () => {
    relay.thaw();
    await db.close();
    await single.close();
    await relay.close();
    await pg.drop();
  });
  await db.query('SELECT 1');
  await single.query('SELECT 1');
  relay.freeze();
  const started = performance.now();
  const settled = (work: Promise<unknown>): Promise<{ error: string; ms: number }> => work.then(() => '', (err: unknown) => (err as Error).message)
    .then((error) => ({ error, ms: performance.now() - started }));
  const [tx, statement] = await Promise.all([settled(db.tx(async (sql) => { await sql.query('SELECT 1'); })), settled(single.query('SELECT 1'))]);
  t.match(tx.error, /Query read timeout/, 'the transaction fails');
  t.match(statement.error, /Query read timeout/, 'as does the lone statement');
  // A ROLLBACK sent after the timed-out statement would wait as long again: twice the lone statement's wait.
  t.ok(tx.ms < statement.ms * 1.5, `the transaction failed after ${tx.ms.toFixed(0)} ms, the lone statement after ${statement.ms.toFixed(0)}: one statement timeout, without a second one for a ROLLBACK`);
});
