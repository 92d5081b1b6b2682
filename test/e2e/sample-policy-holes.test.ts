// The sample policies (policies/) against requests that once slipped past them, through a real
// `jitgate serve` in front of a recording upstream: what the caller gets and what the upstream sees.
import t from 'tap';
import { generateApiKey } from '../../src/identity/index.js';
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

t.test('an API key whose subject is a person\'s id is not that person', async (t) => {
  // bob's deploy bot, minted with `jitgate apikey --subject bob`: a service whose id is "bob".
  const bot = generateApiKey('deploy-bot');
  const run = await demoRun(t, { prefix: 'jg-service-as-user-', subjects: SUBJECTS, apiKeys: [{ id: 'deploy-bot', subject: 'bob', groups: ['deploy'], sha256: bot.sha256 }] });
  const gw = await run.start();
  const bob = await run.token('bob');
  const grantId = await run.writerGrant(gw, 'bob', 'carol');
  const pending = await run.post(gw, '/v1/requests', bob, { role: 'admin', duration: '30m', reason: 'rotate the key', ticket: 'INC-78' });
  const control = async (auth: Record<string, string>, method: string, path: string, body?: unknown): Promise<{ status: number; body: { status?: string; items?: unknown[] } }> => {
    const res = await fetch(`${gw.controlUrl}${path}`, {
      method, headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as never };
  };
  const asBot = { 'x-api-key': bot.key };
  const asBob = { authorization: `Bearer ${bob}` };

  t.equal((await control(asBot, 'GET', `/v1/grants/${grantId}`)).status, 404, 'the bot does not see bob\'s grant');
  t.same((await control(asBot, 'GET', '/v1/grants')).body.items, [], 'nor list it');
  t.equal((await control(asBot, 'GET', `/v1/requests/${String(pending.body.id)}`)).status, 404, 'nor see his pending request');
  t.equal((await control(asBot, 'POST', `/v1/requests/${String(pending.body.id)}/withdraw`)).status, 404, 'nor withdraw it');
  t.equal((await control(asBot, 'POST', `/v1/grants/${grantId}/revoke`, { reason: 'done early' })).status, 404, 'nor revoke his grant');

  t.equal((await control(asBob, 'GET', `/v1/grants/${grantId}`)).body.status, 'active', 'bob\'s grant is still active');
  t.equal((await control(asBob, 'GET', `/v1/requests/${String(pending.body.id)}`)).body.status, 'pending', 'and his request still pending');
});
