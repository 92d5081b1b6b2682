import t from 'tap';
import { HealthRegistry } from '../../src/observability/index.js';

t.test('readiness explains what is wrong', async (t) => {
  const h = new HealthRegistry();
  t.same(await h.readiness(), { ok: false, checks: { startup: { ok: false, detail: 'no component has reported yet' } } }, 'nothing registered: not ready');
  let policy = false;
  h.register('policy', () => (policy ? { ok: true, detail: 'revision rev-1' } : { ok: false, detail: 'no policy bundle loaded' }));
  h.register('store', async () => { await Promise.resolve(); throw new Error('connect ECONNREFUSED 127.0.0.1:5432'); });
  h.register('config', () => ({ ok: true }));
  const r = await h.readiness();
  t.equal(r.ok, false);
  t.same(r.checks.policy, { ok: false, detail: 'no policy bundle loaded' });
  t.same(r.checks.store, { ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:5432' }, 'a throwing check is a failed check');
  h.register('store', () => ({ ok: true }));
  policy = true;
  t.equal((await h.readiness()).ok, true);
  t.equal((await h.liveness()).ok, true, 'alive with no liveness checks');
  h.registerLiveness('event-loop', () => ({ ok: false, detail: 'stuck' }));
  t.same(await h.liveness(), { ok: false, checks: { 'event-loop': { ok: false, detail: 'stuck' } } });
});
