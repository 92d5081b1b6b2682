// A revocation made on another replica reaches this one's grant cache from the change feed a few
// milliseconds after it returns. A write allowed here in that gap, under the stale cache, must not
// go upstream: once its audit record is written the gateway asks the store itself, and decides the
// request again when the cache has heard (403), or answers 503 when it does not hear in time.
// The other replica is played by SQL against the shared database, its announcement held back.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import pg from 'pg';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { freshDatabase } from '../helpers/pg.js';
import { recordingUpstream } from '../proxy/fixtures.js';

t.test('a write under a grant revoked on another replica, before this one heard, never reaches the upstream', async (t) => {
  const db = await freshDatabase();
  t.teardown(() => db.drop());
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-revoke-other-');
  const configFile = writeConfig(dir, demoConfig({
    dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] },
    store: { type: 'postgres', postgres: { url_env: 'REVOKE_TEST_PG_URL' } },
  }));
  const gw = await startGatewayProcess(configFile, { ...demoEnv(keys), REVOKE_TEST_PG_URL: db.url });
  t.teardown(() => gw.stop());
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  t.teardown(() => sql.end());

  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const post = async (path: string, tok: string, body: unknown): Promise<{ grant_id?: string; id?: string }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as { grant_id?: string; id?: string };
  };
  const grantWriter = async (): Promise<string> => {
    const asked = await post('/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'other replica test' });
    return String((await post(`/v1/requests/${String(asked.id)}/approve`, bob, {})).grant_id);
  };
  const write = async (tag: string): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${gw.proxyUrl}/api/items/${tag}`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    const body = (await res.json()) as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code };
  };
  /** What another replica's revoke commits; its announcement (NOTIFY) comes later, or not at all. */
  const revokeElsewhere = (grantId: string): Promise<unknown> => sql.query(
    `UPDATE jitgate_grants SET status = 'revoked', revoked_at = $2, revoked_by = 'bob', revoke_reason = 'elsewhere' WHERE id = $1`, [grantId, new Date().toISOString()],
  );

  const first = await grantWriter();
  t.same(await write('warm'), { status: 200, code: undefined }, 'the grant lets a write through');

  await revokeElsewhere(first);
  const unheard = await write('unheard');
  t.same(unheard, { status: 503, code: 'JITGATE_E_STORE_UNAVAILABLE' }, 'revoked in the store, never announced: 503 once the cache does not catch up');
  t.notOk(upstream.seen.some((s) => s.url === '/api/items/unheard'), 'and the upstream never saw it');

  // The announcement arrives 300 ms after the revoke, while the next write waits for it.
  await sql.query('SELECT pg_notify($1, $2)', ['jitgate_grants', first]);
  const second = await grantWriter();
  t.same(await write('warm-again'), { status: 200, code: undefined }, 'a new grant lets writes through again');
  await revokeElsewhere(second);
  setTimeout(() => { void sql.query('SELECT pg_notify($1, $2)', ['jitgate_grants', second]); }, 300);
  const late = await write('late');
  t.same(late, { status: 403, code: 'JITGATE_E_FORBIDDEN' }, 'once this replica hears, the write is decided again: refused');
  t.notOk(upstream.seen.some((s) => s.url === '/api/items/late'), 'and the upstream never saw it');
  t.equal(upstream.seen.filter((s) => s.headers['x-api-key'] === keys.writer).length, 2, 'the writer credential went out for the two warm writes only');
});
