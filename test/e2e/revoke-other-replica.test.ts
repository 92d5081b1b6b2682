// A revocation made on another replica reaches this one's grant cache from the change feed a few
// milliseconds after it returns. A write allowed here in that gap, under the stale cache, must not
// go upstream: once its audit record is written the gateway asks the store itself, and decides the
// request again when the cache has heard (403), or answers 503 when it does not hear in time.
// The other replica is played by SQL against the shared database, its announcement held back.
import t from 'tap';
import pg from 'pg';
import { demoRun } from '../helpers/demo-run.js';
import { runCli } from '../helpers/gateway.js';

t.test('a write under a grant revoked on another replica, before this one heard, never reaches the upstream', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-revoke-other-', subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, postgres: true });
  const gw = await run.start();
  const sql = new pg.Client({ connectionString: String(run.dbUrl) });
  await sql.connect();
  t.teardown(() => sql.end());
  const alice = await run.token('alice');
  /** What another replica's revoke commits; its announcement (NOTIFY) comes later, or not at all. */
  const revokeElsewhere = (grantId: string): Promise<unknown> => sql.query(
    `UPDATE jitgate_grants SET status = 'revoked', revoked_at = $2, revoked_by = 'bob', revoke_reason = 'elsewhere' WHERE id = $1`, [grantId, new Date().toISOString()],
  );

  const first = await run.writerGrant(gw, 'alice', 'bob');
  t.same(await run.write(gw, alice, 'warm'), { status: 200, code: undefined }, 'the grant lets a write through');

  await revokeElsewhere(first);
  const unheard = await run.write(gw, alice, 'unheard');
  t.same(unheard, { status: 503, code: 'JITGATE_E_STORE_UNAVAILABLE' }, 'revoked in the store, never announced: 503 once the cache does not catch up');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/unheard'), 'and the upstream never saw it');

  // The announcement arrives 300 ms after the revoke, while the next write waits for it.
  await sql.query('SELECT pg_notify($1, $2)', ['jitgate_grants', first]);
  const second = await run.writerGrant(gw, 'alice', 'bob');
  t.same(await run.write(gw, alice, 'warm-again'), { status: 200, code: undefined }, 'a new grant lets writes through again');
  await revokeElsewhere(second);
  setTimeout(() => { void sql.query('SELECT pg_notify($1, $2)', ['jitgate_grants', second]); }, 300);
  const late = await run.write(gw, alice, 'late');
  t.same(late, { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'once this replica hears, the write is decided again: refused');
  t.notOk(run.upstream.seen.some((s) => s.url === '/api/items/late'), 'and the upstream never saw it');
  t.equal(run.upstream.seen.filter((s) => s.headers['x-api-key'] === run.keys.writer).length, 2, 'the writer credential went out for the two warm writes only');

  // The trail answers each allow it recorded for a write that did not go.
  const exported = await runCli(['audit', 'export', '--config', run.configFile], { DEMO_RUN_PG_URL: String(run.dbUrl) });
  t.equal(exported.code, 0, exported.stderr);
  const trail = exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; decision_id: string; details: { path?: string; supersedes?: string; error_code?: string } });
  const of = (path: string): (string | undefined)[][] => trail.filter((r) => r.details.path === path).map((r) => [r.kind, r.decision_id, r.details.supersedes, r.details.error_code]);
  const [unheardAllow] = of('/api/items/unheard');
  t.same(of('/api/items/unheard'), [['proxy.allowed_with_grant', unheardAllow?.[1], undefined, undefined], ['proxy.not_forwarded', unheardAllow?.[1], undefined, 'JITGATE_E_STORE_UNAVAILABLE']],
    'unheard: its allow, then that it was not forwarded');
  const [lateAllow, lateDeny] = of('/api/items/late');
  t.same([lateAllow?.[0], lateDeny?.[0], lateDeny?.[2]], ['proxy.allowed_with_grant', 'proxy.denied', lateAllow?.[1]], 'late: its allow, then the deny that replaced it');
});
