// What the trail says was done under a grant: method and path, and the query and body that
// changed what the upstream did (a refund of 5 and one of 4,000 differ only in the body; a
// purge only in the query). The decision log says it too, but rotates and is not chained.
import { createHash } from 'node:crypto';
import t from 'tap';
import { demoRun } from '../helpers/demo-run.js';
import { demoEnv, runCli } from '../helpers/gateway.js';

interface Record { kind: string; decision_id: string; details: { [k: string]: unknown } }

t.test('a privileged request\'s record holds its query and the body the policy judged; a denied one the body\'s hash', async (t) => {
  const run = await demoRun(t, { subjects: { alice: ['eng'], bob: ['eng', 'approvers'] }, prefix: 'jg-trail-what-' });
  const gw = await run.start();
  await run.writerGrant(gw, 'alice', 'bob');
  const alice = await run.token('alice');
  const refund = async (amount: number): Promise<{ status: number; decisionId: string; body: string }> => {
    const body = JSON.stringify({ order: 'o-7', amount });
    const res = await fetch(`${gw.proxyUrl}/api/refunds?notify=false`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    return { status: res.status, decisionId: res.headers.get('x-jitgate-decision-id') ?? '', body };
  };
  const small = await refund(50);
  const large = await refund(4000);
  t.equal(small.status, 200, 'a refund within the writer limit goes');
  t.equal(large.status, 403, 'one above it needs admin');

  const out = await runCli(['audit', 'export', '--config', run.configFile], demoEnv(run.keys));
  t.equal(out.code, 0, out.stderr);
  const records = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record);
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

  const allowed = records.find((r) => r.decision_id === small.decisionId);
  t.equal(allowed?.kind, 'proxy.allowed_with_grant');
  t.match(allowed?.details, {
    method: 'POST', path: '/api/refunds', query: { notify: ['false'] },
    body: { order: 'o-7', amount: 50 }, body_sha256: sha(small.body), body_bytes: small.body.length,
  }, 'the allowed refund\'s record says how much, and the hash of the bytes the upstream got');

  const denied = records.find((r) => r.decision_id === large.decisionId);
  t.equal(denied?.kind, 'proxy.denied');
  t.match(denied?.details, { query: { notify: ['false'] }, body_sha256: sha(large.body), body_bytes: large.body.length });
  t.notOk(denied && 'body' in denied.details, 'a denied request keeps the body\'s hash only');

  const verify = await runCli(['audit', 'verify', '--config', run.configFile], demoEnv(run.keys));
  t.equal(verify.code, 0, verify.stdout);
});
