// A revoke "takes effect on this replica before the response" (docs/api.md), also for a write
// already decided under the grant and still waiting for its audit record (group commit): once
// the revoke has returned, that write is decided again and refused, and never reaches the
// upstream with the writer credential. A real `jitgate serve` on SQLite, real traffic.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { demoConfig, demoEnv, runCli, startGatewayProcess, tempDir, writeConfig } from '../helpers/gateway.js';
import { recordingUpstream } from '../proxy/fixtures.js';

t.test('a write decided just before a revoke, its audit record still waiting, is refused and never reaches the upstream', async (t) => {
  const keys = { readonly: randomBytes(12).toString('hex'), writer: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex') };
  const upstream = await recordingUpstream();
  t.teardown(() => upstream.close());
  const dir = tempDir('jg-revoke-inflight-');
  // The longest group commit there is: a proxied write's audit append waits up to 100 ms.
  const configFile = writeConfig(dir, demoConfig({ dir, upstreamUrl: upstream.url, subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, jitgate: { audit: { group_commit_ms: 100 } } }));
  const gw = await startGatewayProcess(configFile, demoEnv(keys));
  t.teardown(() => gw.stop());
  const token = async (sub: string): Promise<string> => (await runCli(['token', '--sub', sub, '--config', configFile])).stdout.trim();
  const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  const api = async (tok: string, path: string, body: unknown): Promise<{ status: number; body: { id?: string; grant_id?: string } }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { id?: string; grant_id?: string } };
  };
  const write = (tag: string): Promise<Response> => fetch(`${gw.proxyUrl}/api/items/${tag}`, {
    method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{"name":"x"}',
  });

  const asked = await api(alice, '/v1/requests', { role: 'writer', duration: '1h', reason: 'in-flight write' });
  const grantId = (await api(bob, `/v1/requests/${String(asked.body.id)}/approve`, {})).body.grant_id;
  // A write that goes through first: the data path is warm, so the next one is decided at once.
  const warm = await write('warm');
  await warm.arrayBuffer();
  t.equal(warm.status, 200, 'the writer grant lets a write through');

  const late = write('late');
  // Decided within milliseconds; its audit append then waits for the 100 ms group commit.
  await sleep(20);
  const revoked = await api(bob, `/v1/grants/${String(grantId)}/revoke`, { reason: 'now' });
  t.equal(revoked.status, 200, 'the revoke returned');
  const res = await late;
  const body = (await res.json()) as { error?: { code?: string } };
  t.equal(res.status, 403, 'the write is refused');
  t.equal(body.error?.code, 'JITGATE_E_FORBIDDEN');
  t.notOk(upstream.seen.some((s) => s.url === '/api/items/late'), 'the upstream never saw the write');
  t.equal(upstream.seen.filter((s) => s.headers['x-api-key'] === keys.writer).length, 1, 'the writer credential went out once: with the warm-up write only');

  // The trail shows the race was run: the write was allowed under the grant (so decided before
  // the revoke took effect on this replica), then decided again and refused.
  await gw.stop();
  const exported = await runCli(['audit', 'export', '--config', configFile]);
  t.equal(exported.code, 0, exported.stderr);
  const trail = exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; grant_id: string | null; decision_id: string; details: { path?: string; supersedes?: string } });
  const lateRecords = trail.filter((r) => r.details.path === '/api/items/late');
  t.same(lateRecords.map((r) => [r.kind, r.grant_id]), [['proxy.allowed_with_grant', grantId], ['proxy.denied', null]],
    'allowed under the grant, then refused');
  t.equal(lateRecords[1]?.details.supersedes, lateRecords[0]?.decision_id, 'the refusal names the allow it replaced');
  t.ok(trail.some((r) => r.kind === 'grant.revoked' && r.grant_id === grantId), 'the revoke is on the trail');
});
