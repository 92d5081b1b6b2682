// The sample policies (policies/) against requests that once slipped past them, through a real
// `jitgate serve` in front of a recording upstream: what the caller gets and what the upstream sees.
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';

const SUBJECTS = { alice: ['eng'], bob: ['eng', 'approvers'], carol: ['eng', 'approvers'] };

t.test('a refund is judged on its amount however its path is spelled', async (t) => {
  // As docs/configuration.md advises for an upstream that routes without regard to case (Express).
  const run = await demoRun(t, { prefix: 'jg-refund-spelling-', subjects: SUBJECTS, match: { path_prefix: '/api', case_sensitive: false } });
  const gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  const alice = await run.token('alice');
  const refund = async (path: string, amount: number): Promise<{ status: number; body: { error?: { code?: string; elevation?: { role?: string } } } }> => {
    const res = await fetch(`${gw.proxyUrl}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ order: 'o-7', amount }),
    });
    return { status: res.status, body: (await res.json()) as never };
  };

  for (const path of ['/api/refunds', '/api/refunds/', '/api/Refunds', '/API/REFUNDS/']) {
    const large = await refund(path, 4000);
    t.equal(large.status, 403, `POST ${path} of 4000 under a writer grant (limit 100) is refused`);
    t.equal(large.body.error?.code, 'JITGATE_E_FORBIDDEN');
    t.equal(large.body.error?.elevation?.role, 'admin', 'and names the role whose limit covers it');
  }
  t.notOk(run.upstream.seen.some((s) => s.method === 'POST'), 'the upstream never saw one of them');

  const small = await refund('/api/Refunds/', 40);
  t.equal(small.status, 200, 'a refund within the writer limit still goes through, however spelled');
  t.same(run.upstream.seen.filter((s) => s.method === 'POST').map((s) => [s.url, s.headers['x-api-key']]), [['/api/Refunds/', run.keys.writer]],
    'with the writer credential');
});
