// The sample policies (policies/) against requests that once slipped past them, through a real
// `jitgate serve` in front of a recording upstream: what the caller gets and what the upstream sees.
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { runCli } from '../helpers/gateway.js';

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

  for (const path of ['/api/refunds', '/api/refunds/', '/api/Refunds', '/API/REFUNDS/', '/api/refunds.json']) {
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

t.test('a grant stops opening anything once its holder is no longer eligible for its role', async (t) => {
  const run = await demoRun(t, { prefix: 'jg-eligibility-gone-', subjects: SUBJECTS });
  const gw = await run.start();
  const alice = await run.token('alice');
  // The same alice after her identity provider moved her out of `eng`.
  const moved = (await runCli(['token', '--sub', 'alice', '--groups', 'sales', '--config', run.configFile])).stdout.trim();
  const later = await run.post(gw, '/v1/requests', alice, { role: 'writer', duration: '1h', reason: 'asked while in eng' });
  await run.writerGrant(gw, 'alice', 'bob');
  t.equal((await run.write(gw, alice, 'in-eng')).status, 200, 'the writer grant opens writes while the token says eng');

  const after = await run.write(gw, moved, 'moved-out');
  t.equal(after.status, 403, 'and not once it no longer does');
  t.equal(after.code, 'JITGATE_E_FORBIDDEN');
  // The workflow still lets an approver approve what she asked for while in eng (its input holds
  // the groups of then): the grant it makes is as dead on the data path.
  const approved = await run.post(gw, `/v1/requests/${String(later.body.id)}/approve`, await run.token('carol'), {});
  t.equal(approved.status, 200, 'a request made while eligible is still approved');
  t.equal((await run.write(gw, moved, 'approved-late')).status, 403, 'its grant opens nothing either');
  t.same(run.upstream.seen.filter((s) => s.method === 'POST').map((s) => s.url), ['/api/items/in-eng'], 'the upstream saw only the write made while eligible');
});
